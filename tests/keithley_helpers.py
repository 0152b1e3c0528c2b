"""Test helpers for the Keithley drivers: an MLPerf-style energy window on a timeline, and the
energy of a capture between its edges (whole samples plus the partial sample at each edge)."""

from __future__ import annotations

import math

import numpy as np

from energybench.instruments.capabilities import Capture
from energybench.sim.physics.timeline import Timeline


def append_window(
    tl: Timeline,
    *,
    gap_s: float = 0.37e-3,
    duration_s: float = 2.0137e-3,
    idle_a: float = 0.8e-3,
    levels_a: tuple[float, ...] = (12e-3, 7.5e-3, 15e-3, 9e-3),
    hold_s: float = 20e-6,
    lead_s: float = 3.3e-6,
    pin: str = "timestamp",
) -> tuple[float, float]:
    """Append idle, a falling-edge pulse, a varying active current, a closing pulse, idle.

    The active current starts ``lead_s`` before the first edge (after it if negative) and
    ends after the closing pulse's hold (the DUT is still running while it pulses the pin).
    Returns (t_start, t_end), the falling edges; the timeline is advanced past the pulse.
    """
    t0 = tl.now_s
    tl.set_load_current(t0, idle_a)
    t_start = t0 + gap_s
    t_end = t_start + duration_s
    if lead_s >= 0:
        tl.set_load_current(t_start - lead_s, levels_a[0])
    tl.set_pin(pin, t_start, False)
    if lead_s < 0:
        tl.set_load_current(t_start - lead_s, levels_a[0])
    tl.set_pin(pin, t_start + hold_s, True)
    for k, level in enumerate(levels_a[1:], start=1):
        tl.set_load_current(t_start + duration_s * k / len(levels_a) + 1.7e-6, level)
    tl.set_load_current(t_end - 0.2 * duration_s / len(levels_a), levels_a[0])
    tl.set_pin(pin, t_end, False)
    tl.set_pin(pin, t_end + hold_s, True)
    tl.set_load_current(t_end + hold_s + 1e-6, idle_a)
    tl.advance_to(t_end + hold_s + gap_s)
    return t_start, t_end


def window_energy_j(capture: Capture, stop_position: float | None = None) -> float:
    """∫ v·i dt over [edge 0, stop) of a bin-sampled capture (partial sample at the stop)."""
    trace = capture.trace
    stop = capture.edge_positions[-1] if stop_position is None else stop_position
    chunk = trace.read(trace.first_sample_id, trace.stop_sample_id)
    power = chunk.power_w()
    whole = math.floor(stop)
    energy = float(np.sum(power[:whole], dtype=np.float64))
    if stop > whole:
        energy += (stop - whole) * float(power[whole])
    return energy / trace.sample_rate_hz
