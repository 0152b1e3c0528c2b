"""Statistics across windows: plain moments and a deterministic bootstrap CI of the median."""

from __future__ import annotations

import math

import numpy as np
import pytest

from energybench.analysis.stats import bootstrap_median_ci, summarize
from energybench.errors import AnalysisError


def test_summary_moments() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    s = summarize(values, seed=1)
    assert (s.n, s.median, s.mean, s.min, s.max) == (5, 3.0, 3.0, 1.0, 5.0)
    assert math.isclose(s.std, np.std(values, ddof=1))
    assert math.isclose(s.cv, s.std / 3.0)
    assert s.ci_low <= s.median <= s.ci_high
    assert s.ci_low >= 1.0 and s.ci_high <= 5.0


def test_bootstrap_is_deterministic_with_the_seed_and_contains_the_median() -> None:
    rng = np.random.default_rng(42)
    values = rng.normal(100e-6, 3e-6, 25)
    a = summarize(values, seed=7)
    b = summarize(values, seed=7)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    # The seed drives the resampling (the CI's order statistics may still coincide).
    small = [bootstrap_median_ci(values, n_resamples=7, seed=s) for s in range(5)]
    assert len(set(small)) > 1
    assert a.ci_low < a.median < a.ci_high
    # A wider confidence gives a wider interval; the interval shrinks with more data.
    wide = summarize(values, seed=7, confidence=0.99)
    assert wide.ci_low <= a.ci_low and wide.ci_high >= a.ci_high
    more = summarize(rng.normal(100e-6, 3e-6, 2500), seed=7)
    assert more.ci_high - more.ci_low < a.ci_high - a.ci_low


def test_bootstrap_batches_give_the_same_answer_as_one_batch(monkeypatch) -> None:
    values = np.random.default_rng(1).uniform(0, 1, 50)
    whole = bootstrap_median_ci(values, n_resamples=1000, seed=3)
    monkeypatch.setattr("energybench.analysis.stats._MAX_DRAWS_PER_BATCH", 50 * 7)
    assert bootstrap_median_ci(values, n_resamples=1000, seed=3) == whole


def test_single_value_and_bad_input() -> None:
    s = summarize([2.5])
    assert (s.median, s.ci_low, s.ci_high) == (2.5, 2.5, 2.5)
    assert math.isnan(s.std) and math.isnan(s.cv)
    assert s.to_dict()["std"] is None
    with pytest.raises(AnalysisError, match="at least one value"):
        summarize([])
    with pytest.raises(AnalysisError, match="non-finite"):
        summarize([1.0, float("nan")])
    with pytest.raises(AnalysisError, match="confidence"):
        summarize([1.0], confidence=1.5)
