"""The statistics of a comparison (report.statistics, report.estimates): the false-positive
rate and the power at the reported minimum detectable difference, checked by seeded
simulation of five-window runs; the systematic term cancelling only for one setup; the
Welch–Satterthwaite degrees of freedom; proportions and AUC."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from energybench.report.estimates import same_setup
from energybench.report.runs import RunRecord
from energybench.report.statistics import (
    SAME,
    UNKNOWN,
    WORSE,
    Estimate,
    auc_estimate,
    compare,
    effective_dof,
    proportion_estimate,
)

TRIALS = 4000


def _side(values: np.ndarray, systematic_rel: float = 0.0, edges_u: float = 0.0) -> Estimate:
    mean = float(values.mean())
    u = float(values.std(ddof=1)) / math.sqrt(values.size)
    return Estimate(mean, u, values.size - 1, abs(mean) * systematic_rel, edges_u, values.size)


def _trials(delta: float, rng: np.random.Generator, grid: float | None = None):
    """Pairs of 5-window runs, true values 1 and 1 + delta, window noise 1e-4 (optionally on
    a grid, as whole-sample window durations are)."""
    for _ in range(TRIALS):
        a = 1.0 + rng.normal(0, 1e-4, 5)
        b = 1.0 + delta + rng.normal(0, 1e-4, 5)
        if grid:
            a, b = np.round(a / grid) * grid, np.round(b / grid) * grid
        edges = grid / math.sqrt(12) / math.sqrt(5) if grid else 0.0
        yield compare(_side(a, 0.01, edges), _side(b, 0.01, edges), correlated=True)


@pytest.mark.parametrize("grid", [None, 1e-4])
def test_false_positive_rate_is_at_most_the_level(grid) -> None:
    rng = np.random.default_rng(11)
    verdicts = [d.verdict for d in _trials(0.0, rng, grid)]
    rate = 1 - verdicts.count(SAME) / TRIALS
    # 95 %: at most 5 % (+ 3 binomial standard errors), and not so conservative it is useless
    assert 0.01 < rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / TRIALS), rate


def test_power_at_the_reported_minimum_detectable_difference_is_80_percent() -> None:
    rng = np.random.default_rng(12)
    mdd = statistics.median(d.mdd for d in _trials(0.0, rng))
    detected = [d.verdict == WORSE for d in _trials(mdd, rng)]
    assert 0.72 < sum(detected) / TRIALS < 0.88


def test_common_systematic_error_cancels_only_for_one_setup() -> None:
    a = Estimate(1.000, 1e-5, 4, 0.01, 0.0, 5)  # 1 % systematic standard uncertainty
    b = Estimate(1.002, 1e-5, 4, 0.01002, 0.0, 5)
    same = compare(a, b, correlated=True)
    other = compare(a, b, correlated=False)
    assert same.verdict == WORSE and same.systematic_u == pytest.approx(2e-5)
    assert other.verdict == SAME and other.systematic_u == pytest.approx(math.hypot(0.01, 0.01002))
    assert same.mdd < 0.002 < other.mdd


def test_lower_is_worse_for_accuracy_and_unknown_scatter() -> None:
    a, b = proportion_estimate(0.90, 1000), proportion_estimate(0.85, 1000)
    assert compare(a, b, correlated=True, higher_is_worse=False).verdict == WORSE
    assert compare(b, a, correlated=True, higher_is_worse=False).verdict == "better"
    one = Estimate(1.0, math.nan, 0.0, 0.0, 0.0, 1)  # one window: no scatter
    assert compare(one, one, correlated=True).verdict == UNKNOWN


def test_welch_satterthwaite() -> None:
    # two equal Type A terms with 4 degrees of freedom each: 8; a Type B term adds none
    assert effective_dof([(1.0, 4), (1.0, 4)]) == pytest.approx(8.0)
    assert effective_dof([(1.0, 4), (1.0, math.inf)]) == pytest.approx(16.0)
    assert math.isinf(effective_dof([(1.0, math.inf)]))


def test_proportion_and_auc_uncertainty() -> None:
    p = proportion_estimate(1.0, 100)  # all correct: still an honest, non-zero uncertainty
    assert 0 < p.random_u < 0.02
    # Hanley–McNeil against the scatter of the empirical AUC of binormal scores (AUC 0.9)
    from energybench.workloads.scoring import roc_auc

    rng = np.random.default_rng(3)
    shift = math.sqrt(2) * 1.2815515655446004  # AUC = Φ(shift/√2) = 0.9
    labels = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    aucs = [
        roc_auc(labels, np.r_[rng.normal(shift, 1, 100), rng.normal(0, 1, 100)])
        for _ in range(1500)
    ]
    assert auc_estimate(0.9, 100, 100).random_u == pytest.approx(np.std(aucs), rel=0.15)


def _run(serial="S1", ranges=(0.1,), cals=("",), model="2461") -> RunRecord:
    from pathlib import Path

    return RunRecord(
        folder=Path("x"),
        workload="kws01",
        mode="energy",
        valid=True,
        validity=(),
        notes=(),
        aborted=None,
        windows=(),
        figures={
            "measurement_setup": {
                "current_ranges_a": list(ranges),
                "calibration_ids": list(cals),
                "profile": "p.toml",
            }
        },
        provenance={
            "meter": {"vendor": "K", "model": model, "serial_number": serial},
            "bench": {"meter_driver": "d"},
        },
    )


def test_same_setup_needs_meter_range_and_calibration() -> None:
    assert same_setup([_run()], [_run()])[0]
    assert "datasheet" in same_setup([_run()], [_run()])[1]
    assert same_setup([_run(cals=("cal-7",))], [_run(cals=("cal-7",))])[0]
    for other, why in (
        (_run(serial="S2"), "different meters"),
        (_run(model="2450"), "different meters"),
        (_run(ranges=(1.0,)), "different current ranges"),
        (_run(cals=("cal-8",)), "different calibration"),
        (_run(serial=""), "different meters"),
    ):
        same, text = same_setup([_run()], [other])
        assert not same and why in text
    assert not same_setup([_run(serial="")], [_run(serial="")])[0]  # no identity: not provable
