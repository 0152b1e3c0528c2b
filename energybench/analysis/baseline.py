"""The DUT's idle baseline next to an energy window, and the energy above it.

The MLPerf figure (energy per inference between the timestamp edges) includes the power the
DUT draws when idle; the inference increment is what remains above it. The baseline is measured
in the quiet span right after the window's end edge (the DUT has finished its loop and, once
its result lines are sent, idles):

1. the samples from the end edge up to :data:`SEARCH_S` later (or ``limit_position``: the
   next window's start) are cut into blocks of :data:`BLOCK_S` and each block's mean power
   taken;
2. the idle level is the median of the block means near a low percentile
   (:data:`LEVEL_PERCENTILE`) of them (UART replies and other activity only raise the
   power); the noise of one block mean, σ, is the median standard deviation of the
   samples inside the lowest quarter of the blocks over √(block samples) (activity
   elsewhere does not widen it);
3. a block is quiet when its mean lies within ±max(:data:`QUIET_REL` of the level, 4σ) of it;
   the baseline is the first :data:`MAX_SPAN_S` of the longest run of quiet blocks, which must
   last at least :data:`MIN_SPAN_S` and must not drift (its two halves agree within
   :data:`DRIFT_REL` of the level or 4 standard errors).

When no such span exists the baseline is unknown, with the reason; never a guess. Pure: the
caller gives the trace and the end edge's sample position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energybench.analysis.trace import Trace

BLOCK_S = 0.002  # one block mean
MIN_SPAN_S = 0.010  # shortest quiet span that gives a baseline
MAX_SPAN_S = 1.0  # longest span used (the level nearest the window)
SEARCH_S = 1.25  # how far after the end edge a quiet span is looked for (1 s + the replies)
LEVEL_PERCENTILE = 10.0
QUIET_REL = 0.02  # a quiet block lies within ±2 % of the level ...
QUIET_SIGMA = 4.0  # ... or within 4 σ of a block mean, whichever is wider
DRIFT_REL = 0.01  # the span's halves may differ by 1 % of the level (or 4 standard errors)
MIN_BLOCK_SAMPLES = 2


@dataclass(frozen=True)
class IdleBaseline:
    """The idle power in the quiet span after one window, or why it is unknown.

    ``power_standard_w`` is the statistical standard uncertainty (k=1) of the mean over the
    span (the meter's own accuracy is added by whoever knows the meter)."""

    power_w: float | None
    current_a: float | None
    power_standard_w: float | None
    span_s: float
    start_position: float | None = None
    stop_position: float | None = None
    unknown: str | None = None

    @property
    def known(self) -> bool:
        return self.unknown is None

    def energy_above_j(self, energy_j: float, duration_s: float) -> float | None:
        """The window energy above the idle level over ``duration_s`` (None: unknown)."""
        return None if self.power_w is None else energy_j - self.power_w * duration_s

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _unknown(reason: str, span_s: float = 0.0) -> IdleBaseline:
    return IdleBaseline(None, None, None, span_s, unknown=reason)


def idle_baseline(
    trace: Trace,
    end_position: float,
    *,
    limit_position: float | None = None,
    search_s: float = SEARCH_S,
) -> IdleBaseline:
    """The idle baseline in the quiet span after the window ending at ``end_position`` (a
    fractional sample position), searched up to ``search_s`` later, the trace's end or
    ``limit_position``, whichever comes first (see the module docstring)."""
    fs = trace.sample_rate_hz
    block = max(MIN_BLOCK_SAMPLES, round(fs * BLOCK_S))
    block_s = block / fs
    first = math.floor(end_position) + 2  # past the edge and its interpolation sample
    stop = min(trace.stop_sample_id, first + round(search_s * fs))
    if limit_position is not None:
        stop = min(stop, math.floor(limit_position) - 1)
    n_blocks = max(0, (stop - first) // block)
    min_blocks = math.ceil(MIN_SPAN_S / block_s - 1e-9)
    if n_blocks < max(min_blocks, 2):
        return _unknown(
            f"only {max(0, stop - first) / fs * 1e3:.1f} ms of samples after the window's end "
            f"edge (a quiet span needs {MIN_SPAN_S * 1e3:.0f} ms)"
        )
    chunk = trace.read(first, first + n_blocks * block)
    samples = chunk.power_w().reshape(n_blocks, block)
    power = samples.mean(axis=1)
    current = np.asarray(chunk.current_a, dtype=np.float64).reshape(n_blocks, block).mean(axis=1)
    finite = np.isfinite(power)
    if finite.sum() < max(min_blocks, 2):
        return _unknown("the samples after the window's end edge are missing")
    low = float(np.percentile(power[finite], LEVEL_PERCENTILE))
    sigma = _block_sigma(samples, power)
    band = max(QUIET_REL * abs(low), QUIET_SIGMA * sigma)
    # the level itself: the median of the blocks near that low percentile (which lies below
    # the idle level by about a σ when the blocks scatter)
    level = float(np.median(power[finite & (np.abs(power - low) <= band)]))
    quiet = finite & (np.abs(power - level) <= band)
    run_start, run_len = _longest_run(quiet)
    if run_len < min_blocks:
        return _unknown(
            f"no quiet span of {MIN_SPAN_S * 1e3:.0f} ms after the window's end edge (longest "
            f"{run_len * block_s * 1e3:.1f} ms within ±{band * 1e3:.4g} mW of the idle level "
            f"{level * 1e3:.4g} mW)",
            run_len * block_s,
        )
    used = min(run_len, max(min_blocks, math.floor(MAX_SPAN_S / block_s + 1e-9)))
    span = power[run_start : run_start + used]
    half = used // 2
    m1, m2 = float(span[:half].mean()), float(span[used - half :].mean())
    drift_limit = max(DRIFT_REL * abs(level), QUIET_SIGMA * sigma * math.sqrt(2.0 / half))
    if abs(m2 - m1) > drift_limit:
        return _unknown(
            f"the idle level drifts across the quiet span ({m1 * 1e3:.4g} → {m2 * 1e3:.4g} mW "
            f"over {used * block_s * 1e3:.1f} ms)",
            used * block_s,
        )
    start_id = first + run_start * block
    return IdleBaseline(
        power_w=float(span.mean()),
        current_a=float(current[run_start : run_start + used].mean()),
        power_standard_w=sigma / math.sqrt(used),
        span_s=used * block_s,
        start_position=float(start_id),
        stop_position=float(start_id + used * block),
    )


def _block_sigma(samples: np.ndarray, means: np.ndarray) -> float:
    """σ of one block mean from the sample scatter inside the lowest quarter of the blocks."""
    finite = np.isfinite(means)
    low = finite & (means <= np.percentile(means[finite], 25.0))
    spread = samples[low].std(axis=1)
    return float(np.median(spread) / math.sqrt(samples.shape[1])) if spread.size else 0.0


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start, length) of the first longest run of True in ``mask``."""
    best_start, best_len, start = 0, 0, None
    for k, value in enumerate([*mask.tolist(), False]):
        if value and start is None:
            start = k
        elif not value and start is not None:
            if k - start > best_len:
                best_start, best_len = start, k - start
            start = None
    return best_start, best_len
