"""The window of one triggered capture (the runner's rule, and the one a re-analysis of a
capture file applies): sample id 0 is the trigger instant, so when the timestamp pin triggered
the capture it is the window's start edge; the other edges are the ones the trigger system saw
(or the capture's own timestamp channel). Two edges make the window; a start-only trigger ends
it where the current falls back from the inference level to idle (flagged: a current step is
not the DUT's timestamp edge)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from energybench.analysis.edges import AnalogThreshold, scan_edges
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window
from energybench.errors import AnalysisError, EdgeCountError

TRIGGER_EDGE_TOLERANCE = 1.0  # samples: an edge this close to id 0 is the trigger's own


def trigger_on_pin(sync_mode: str, line: str) -> bool:
    """Whether the capture was triggered by the timestamp pin (its instant, sample id 0, is
    then the start edge): every triggered sync mode, except an ``analog_channel`` capture
    started by the bus or immediately (its edges all come from the pin's channel)."""
    return sync_mode != "analog_channel" or line.strip().upper() not in ("", "BUS", "IMM")


@dataclass(frozen=True)
class CaptureWindow:
    """The window found in a capture and the rule that found it (for results and reports)."""

    window: Window
    rule: str
    end_from_current: bool = False


def capture_window(
    trace: Trace,
    edge_positions: Sequence[float],
    *,
    sync_mode: str,
    on_pin: bool,
    inferences: int,
    require_both_edges: bool = False,
) -> CaptureWindow:
    """The window of a capture whose trigger system saw ``edge_positions`` (sample positions;
    see the module docstring). Raises :class:`AnalysisError` when the edges make no window."""
    edges = sorted(float(e) for e in edge_positions)
    if on_pin and not any(abs(e) <= TRIGGER_EDGE_TOLERANCE for e in edges):
        edges.insert(0, 0.0)  # sample id 0 is the trigger instant: the start edge
    if len(edges) > 2:
        raise EdgeCountError(f"capture holds {len(edges)} timestamp edges, 2 expected")
    if len(edges) == 2:
        start, stop = edges
        return CaptureWindow(Window(0, start, stop, inferences), f"{sync_mode} (both edges)")
    if not edges:
        raise EdgeCountError("the capture holds no timestamp edge")
    if require_both_edges:
        raise EdgeCountError("the capture holds only the start edge; 2 expected")
    start = edges[0]
    stop = end_from_current_step(trace, start)
    return CaptureWindow(
        Window(0, start, stop, inferences),
        f"{sync_mode} start edge; end from the current step",
        end_from_current=True,
    )


def end_from_current_step(trace: Trace, start: float) -> float:
    """The window end of a start-triggered capture: where the current first falls from the
    inference level back to idle after it rose. The capture outlasts the window, so the median
    of its last tenth is the idle level; the 99.5th percentile is the inference level (the
    window may be a small part of a probe's capture); the threshold lies half-way."""
    body = trace.read(max(trace.first_sample_id, math.floor(start)), trace.stop_sample_id)
    current = np.asarray(body.current_a, dtype=np.float64)
    if current.size == 0:
        raise EdgeCountError("the capture holds no sample after the trigger", context="window end")
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


def check_edges_agree(
    trace: Trace, line: str, polarity: str, recorded: Sequence[float]
) -> AnalysisError | None:
    """The recorded trigger-system edges against the capture's own timestamp line: each edge
    on the line (its own polarity) must lie within one sample of a recorded one. Returns the
    disagreement as an error (None when they agree)."""
    scan = scan_edges(trace, line=line, polarity=polarity)  # type: ignore[arg-type]
    seen = [p for p in scan.positions if abs(p) > TRIGGER_EDGE_TOLERANCE]
    wanted = [p for p in recorded if abs(p) > TRIGGER_EDGE_TOLERANCE]
    far = [p for p in seen if not any(abs(p - q) <= 1.0 for q in wanted)]
    if far or len(seen) != len(wanted):
        return EdgeCountError(
            f"the capture's line {line!r} has {polarity} edges at sample positions "
            f"{[round(p, 3) for p in seen]}, the recorded trigger edges are "
            f"{[round(p, 3) for p in wanted]}",
            context=line,
        )
    return None
