"""One energy window of a streamed run through the analysis engine, and when it is closed.

The timestamp edges inside the host-known interval of the window's DUT activity must be
exactly the expected two (else :class:`EdgeCountError` with what was found), then ∫V·I at the
native rate with fractional edges (:func:`analyze_interval`); the interval is closed by the
quiet-span rule (:func:`window_close_id`). A triggered capture's window is found by
:func:`energybench.analysis.capture.capture_window`. Pure functions: the runner waits for
samples and calls these.
"""

from __future__ import annotations

from energybench.analysis.edges import Polarity, scan_edges
from energybench.analysis.integrate import WindowResult, integrate_windows
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window, pair_edges_in_intervals

MARGIN_SAMPLES = 4  # at least this many samples after the end edge (edge + integration ends)
QUIET_MIN_S, QUIET_MAX_S = 0.02, 2.0  # edge-free span that closes a window
QUIET_FLOOR = 1.2  # an infer window: samples must reach 1.2 x the expected length


def quiet_span_s(expected_s: float) -> float:
    """The edge-free span after a window's last edge that closes it: 10 % of the expected
    window, within 20 ms..2 s."""
    return min(QUIET_MAX_S, max(QUIET_MIN_S, expected_s / 10))


def window_close_id(
    first_edge_id: int,
    last_edge_id: int,
    expected_s: float,
    sample_rate_hz: float,
    floor_factor: float = QUIET_FLOOR,
) -> int:
    """The sample id a streamed recording must reach, with no edge after ``last_edge_id``,
    before the window may be closed: ``floor_factor`` x the expected window past its first edge
    (an infer window: :data:`QUIET_FLOOR`; a stream step that returns after its end pulse
    needs none, 0) and a quiet span (:func:`quiet_span_s`, at least :data:`MARGIN_SAMPLES`)
    after the last edge. A glitch that looks like the end is then followed by the real end,
    and both are in the interval."""
    quiet = max(MARGIN_SAMPLES, round(sample_rate_hz * quiet_span_s(expected_s)))
    floor = first_edge_id + round(sample_rate_hz * expected_s * floor_factor)
    return max(floor, last_edge_id + quiet)


def analyze_interval(
    trace: Trace,
    *,
    line: str,
    polarity: Polarity,
    min_pulse_s: float,
    inferences: int,
    allow_missing: bool = False,
) -> WindowResult:
    """The window whose two edges lie inside ``trace`` (the interval's samples)."""
    scan = scan_edges(trace, line=line, polarity=polarity, min_pulse_s=min_pulse_s)
    interval = (0.0, trace.duration_s)
    (window,) = pair_edges_in_intervals(scan, [interval], inferences=inferences)
    (result,) = integrate_windows(trace, [window], allow_missing=allow_missing)
    return result


def integrate_edges(
    trace: Trace, start: float, stop: float, inferences: int, *, allow_missing: bool = False
) -> WindowResult:
    """Integrate between two known edge positions (a triggered capture's)."""
    (result,) = integrate_windows(
        trace, [Window(0, start, stop, inferences)], allow_missing=allow_missing
    )
    return result
