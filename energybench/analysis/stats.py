"""Statistics across windows: median (the MLPerf Tiny figure), spread and a seeded bootstrap
confidence interval of the median, so a reader sees how much the median can be trusted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from energybench.errors import AnalysisError

DEFAULT_RESAMPLES = 10_000
_MAX_DRAWS_PER_BATCH = 1 << 22  # bounds the bootstrap's memory on many windows


@dataclass(frozen=True)
class Summary:
    """Summary of one quantity over ``n`` windows; ``std`` uses ddof=1 (NaN for n < 2)."""

    n: int
    median: float
    mean: float
    std: float
    cv: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    seed: int

    def to_dict(self) -> dict:
        return nan_to_none(asdict(self))


def nan_to_none(d: dict) -> dict:
    """``d`` with NaN and infinite values as None (JSON has neither)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def json_ready(value: Any) -> Any:
    """``value`` as JSON can hold it: NaN and infinite floats as None (JSON has neither),
    tuples as lists, numpy scalars as Python numbers, anything with ``__fspath__`` as text."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, np.generic):
        return json_ready(value.item())
    return value


def bootstrap_median_ci(
    values: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (deterministic for a given seed)."""
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_DRAWS_PER_BATCH // n)
    medians = np.empty(n_resamples, dtype=np.float64)
    for a in range(0, n_resamples, rows):
        m = min(rows, n_resamples - a)
        draws = values[rng.integers(0, n, size=(m, n))]
        medians[a : a + m] = np.median(draws, axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Summary:
    """n, median, mean, std (ddof=1), CV, min/max and the bootstrap CI of the median."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] == 0:
        raise AnalysisError("statistics need at least one value")
    if not np.isfinite(x).all():
        raise AnalysisError("statistics got non-finite values")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise AnalysisError(f"n_resamples must be >= 1, got {n_resamples}")
    n = x.shape[0]
    with np.errstate(over="ignore"):  # values near the float limit (flagged upstream): inf
        mean = float(x.mean())
        std = float(x.std(ddof=1)) if n > 1 else math.nan
    low, high = bootstrap_median_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return Summary(
        n=n,
        median=float(np.median(x)),
        mean=mean,
        std=std,
        cv=std / abs(mean) if n > 1 and mean != 0 else math.nan,
        min=float(x.min()),
        max=float(x.max()),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )
