"""One energy window through the analysis engine: the timestamp edges inside the host-known
interval of its ``infer`` must be exactly the expected two (else :class:`EdgeCountError` with
what was found), then ∫V·I at the native rate with fractional edges."""

from __future__ import annotations

from energybench.analysis.capture import end_from_current_step  # noqa: F401 (re-exported)
from energybench.analysis.edges import edge_line, scan_edges  # noqa: F401 (edge_line re-exported)
from energybench.analysis.integrate import WindowResult, integrate_windows
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window, pair_edges_in_intervals


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
