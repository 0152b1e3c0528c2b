"""Confidence intervals (95 %) of the accuracy figures: the top-1 fraction is a binomial
proportion (Wilson score interval, which stays inside [0, 1] and behaves at 0 % and 100 %);
the AUC has no simple distribution, so a seeded bootstrap over the files (resampled with
replacement, percentile interval; a resample missing a class is drawn again, bounded)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from energybench.errors import WorkloadError

Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n``."""
    if n <= 0 or not 0 <= successes <= n:
        raise WorkloadError(f"{successes} successes of {n} trials", context="top1_ci95")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    predictions: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic(labels, predictions)`` over the rows;
    None when fewer than half the resamples could be scored (too few files of a class)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    n = labels.shape[0]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, n, size=n)
        try:
            values.append(statistic(labels[rows], predictions[rows]))
        except WorkloadError:  # a resample without a class: not scorable
            continue
    if len(values) < resamples / 2:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
