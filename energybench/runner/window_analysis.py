"""One energy window through the analysis engine: the timestamp edges inside the host-known
interval of its ``infer`` must be exactly the expected two (else :class:`EdgeCountError` with
what was found), then ∫V·I at the native rate with fractional edges."""

from __future__ import annotations

import math

import numpy as np

from energybench.analysis.edges import AnalogThreshold, scan_edges
from energybench.analysis.integrate import WindowResult, integrate_windows
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window, pair_edges_in_intervals
from energybench.errors import AnalysisError, EdgeCountError


def edge_line(trace: Trace, configured: str) -> str:
    """The digital line carrying the timestamp: the configured one, or the only one."""
    if configured in trace.digital_names:
        return configured
    if len(trace.digital_names) == 1:
        return trace.digital_names[0]
    raise AnalysisError(
        f"sync line {configured!r} is not among the recorded lines {trace.digital_names}",
        context="sync.line",
    )


def analyze_interval(
    trace: Trace,
    *,
    line: str,
    polarity: str,
    min_pulse_s: float,
    inferences: int,
    allow_missing: bool = False,
) -> WindowResult:
    """The window whose two edges lie inside ``trace`` (the interval's samples)."""
    scan = scan_edges(trace, line=line, polarity=polarity, min_pulse_s=min_pulse_s)  # type: ignore[arg-type]
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


def end_from_current_step(trace: Trace, start: float) -> float:
    """The window end of a start-triggered capture: where the current first falls from the
    inference level back to idle after it rose. The capture outlasts the window, so the median
    of its last tenth is the idle level; the 99.5th percentile is the inference level (the
    window may be a small part of a probe's capture); the threshold lies half-way. Flagged in
    the results: a current step is not the DUT's timestamp edge."""
    body = trace.read(max(trace.first_sample_id, math.floor(start)), trace.stop_sample_id)
    current = np.asarray(body.current_a, dtype=np.float64)
    idle = float(np.nanmedian(current[-max(1, current.size // 10) :]))
    active = float(np.nanpercentile(current, 99.5))
    if not (math.isfinite(idle) and math.isfinite(active)) or active - idle <= 0.1 * abs(active):
        raise EdgeCountError(
            f"no current step to end the window on (idle {idle:.6g} A, active {active:.6g} A)",
            context="window end",
        )
    level = (idle + active) / 2
    scan = scan_edges(
        trace,
        threshold=AnalogThreshold(level, "current", hysteresis=(active - idle) / 5),
        polarity="both",
        start_id=math.ceil(start),
    )
    rises = np.flatnonzero(scan.rising)
    # the start pulse's hold keeps the DUT idle for a moment: the end is the first fall after
    # the current first rose to the inference level
    after = rises[0] if rises.size else -1
    falls = [k for k in np.flatnonzero(~scan.rising) if k > after]
    if not falls:
        raise EdgeCountError(
            f"the current never fell below {level:.6g} A after the trigger: the capture ended "
            "before the window did",
            context="window end",
        )
    return float(scan.positions[falls[0]])
