"""Current ranges inside one window: which ranges the samples were in, the range switches (a
meter that switches by itself: a Joulescope auto-ranging, the PPK2 always), the samples and
energy around each switch, and the samples beyond their range's full scale (over-range).

A range switch leaves a few samples that the meter fills in while its shunt settles; their
energy is the window's part that rests on no measurement, and the uncertainty budget counts it
(``range_switch_j``). Which samples: :data:`SWITCH_SETTLE_S` after each switch, at least one
sample. A trace without per-sample ranges has no switches; its over-range samples are judged
against the one range in use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energybench.analysis.trace import UNKNOWN_RANGE, Trace

# the samples after a switch that rest on no measurement: the JS110/JS220 fill in a few
# samples around a switch (pyjoulescope's "suppress" filter spans a few µs at 2 MS/s) [U]
SWITCH_SETTLE_S = 5e-6
OVER_RANGE_FRACTION = 1.0 - 1e-6  # a reading at its range's full scale is saturated


@dataclass(frozen=True)
class RangeUse:
    """The current ranges of one window's whole samples ``[start, stop)``."""

    current_ranges_used_a: tuple[float, ...]  # full scales, smallest first (empty: unknown)
    range_switches: int
    range_switch_samples: int  # samples that settle after a switch
    range_switch_energy_j: float  # their energy
    over_range_samples: int
    over_range_a: float | None = None  # the full scale the first over-range sample exceeded

    def to_dict(self) -> dict:
        return {
            "current_ranges_used_a": list(self.current_ranges_used_a),
            "range_switches": self.range_switches,
            "range_switch_samples": self.range_switch_samples,
            "range_switch_energy_j": self.range_switch_energy_j,
            "over_range_samples": self.over_range_samples,
        }


def range_use(
    trace: Trace,
    start_position: float,
    stop_position: float,
    *,
    full_scales_a: tuple[float, ...] = (),
    range_in_use_a: float | None = None,
    settle_s: float = SWITCH_SETTLE_S,
) -> RangeUse:
    """The ranges of the samples of ``trace`` between two positions (sample ids, fractional:
    the samples the window touches). ``full_scales_a``: the full scale of each range index of
    the trace's ``current_range``; ``range_in_use_a``: the fixed range (a trace without
    per-sample ranges)."""
    start = max(trace.first_sample_id, math.floor(start_position))
    stop = min(trace.stop_sample_id, math.ceil(stop_position))
    if stop <= start:
        return RangeUse((), 0, 0, 0.0, 0)
    chunk = trace.read(start, stop)
    current = np.abs(chunk.current_a)  # float32, one copy (a 10 s window at 2 MS/s: 80 MB)
    ranges = chunk.current_range
    if ranges is None or not full_scales_a:
        return _fixed(current, range_in_use_a)
    counts = np.bincount(ranges, minlength=256)
    indices = [k for k in np.flatnonzero(counts) if k != UNKNOWN_RANGE and k < len(full_scales_a)]
    used = tuple(sorted({full_scales_a[k] for k in indices}))
    where = np.flatnonzero(ranges != UNKNOWN_RANGE)  # positions of the known samples
    idx = ranges[where]
    switch_at = where[np.flatnonzero(idx[1:] != idx[:-1]) + 1]  # first sample after a switch
    span = max(1, math.ceil(settle_s * trace.sample_rate_hz))
    settle = np.unique((switch_at[:, None] + np.arange(span)).ravel())
    settle = settle[settle < len(ranges)]
    voltage = chunk.voltage_v
    v = voltage[settle] if np.ndim(voltage) else float(voltage)  # type: ignore[index]
    power = np.abs(current[settle].astype(np.float64) * v)
    energy = float(np.nansum(power) / trace.sample_rate_hz)
    over, first_over = 0, None
    for k in indices:  # each range against its own full scale
        limit = full_scales_a[k] * OVER_RANGE_FRACTION
        n = int(np.count_nonzero((ranges == k) & (current >= limit)))
        if n and first_over is None:
            first_over = full_scales_a[k]
        over += n
    return RangeUse(used, len(switch_at), len(settle), energy, over, first_over)


def _fixed(current: np.ndarray, range_in_use_a: float | None) -> RangeUse:
    """One range all along: no switches; over-range against it (None: unknown, none judged)."""
    if range_in_use_a is None:
        return RangeUse((), 0, 0, 0.0, 0)
    over = int(np.count_nonzero(current >= range_in_use_a * OVER_RANGE_FRACTION))
    return RangeUse((range_in_use_a,), 0, 0, 0.0, over, range_in_use_a if over else None)
