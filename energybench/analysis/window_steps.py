"""How the power changes inside and at the edges of one window, for the uncertainty budget:
the power step across each edge (an edge misplaced by δt moves ΔP·δt of energy across it) and
the sum of squared sample-to-sample power changes (each step between two point samples may lie
anywhere in the sample interval, which the trapezoid rule splits in the middle)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energybench.analysis.trace import Trace

EDGE_SPAN_SAMPLES = 4  # samples averaged on each side of an edge (the edge's own excluded)


@dataclass(frozen=True)
class WindowSteps:
    """Power steps (W) across the start and stop edges and ΣΔp² (W²) inside the window."""

    start_step_w: float
    stop_step_w: float
    diff_sq_sum_w2: float

    @property
    def edge_step_w(self) -> float:
        """The RMS of the two edge steps (the budget's two-edge term takes √2 of it)."""
        return math.sqrt((self.start_step_w**2 + self.stop_step_w**2) / 2)

    def sampling_standard_j(self, sample_rate_hz: float) -> float:
        """Standard uncertainty of a point-sampled integral from steps between samples."""
        return math.sqrt(self.diff_sq_sum_w2 / 12.0) / sample_rate_hz


def _power(trace: Trace, start_id: int, stop_id: int) -> np.ndarray:
    start = max(start_id, trace.first_sample_id)
    stop = min(stop_id, trace.stop_sample_id)
    if stop <= start:
        return np.empty(0)
    power = np.asarray(trace.read(start, stop).power_w(), dtype=np.float64)
    return power[np.isfinite(power)]


def _step(trace: Trace, position: float, span: int) -> float:
    k = math.floor(position)
    before = _power(trace, k - span, k)
    after = _power(trace, k + 1, k + 1 + span)
    if before.size == 0 or after.size == 0:
        return 0.0
    return abs(float(after.mean() - before.mean()))


def window_steps(
    trace: Trace, start_position: float, stop_position: float, span: int = EDGE_SPAN_SAMPLES
) -> WindowSteps:
    """The steps of window ``[start_position, stop_position)`` (read chunk by chunk)."""
    total = 0.0
    last: float | None = None
    first = max(math.ceil(start_position), trace.first_sample_id)
    stop = min(math.floor(stop_position) + 1, trace.stop_sample_id)
    for chunk in trace.chunks(start_id=first, stop_id=stop):
        power = np.asarray(chunk.power_w(), dtype=np.float64)
        if power.size == 0:
            continue
        if last is not None:
            power = np.concatenate(([last], power))
        diffs = np.diff(power)
        total += float(np.dot(diffs[np.isfinite(diffs)], diffs[np.isfinite(diffs)]))
        last = float(power[-1])
    return WindowSteps(_step(trace, start_position, span), _step(trace, stop_position, span), total)
