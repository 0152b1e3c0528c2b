"""Windows on a triggered meter (``hw_trigger_start``/``_stop``, or ``analog_channel`` on a
meter that captures): one capture per window, armed before the DUT is driven and written to
the run folder as it is fetched (``capture_<label>.jls``, CSV for a rate JLS cannot store); its
edges are the capture's (``edge_positions``); a start-only trigger ends the window on the
current step (flagged in the window's edge source)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from energybench.acquisition.recording import write_capture
from energybench.analysis.capture import capture_window, trigger_on_pin
from energybench.analysis.window_analysis import integrate_edges
from energybench.errors import (
    AcquisitionError,
    AnalysisError,
    InstrumentTimeoutError,
    TransportError,
)
from energybench.instruments.capabilities import CaptureRequest
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measurer import (
    EDGE_WAIT_S,
    Measured,
    MeterFailure,
    Recording,
    T,
    WindowEnd,
    WindowId,
    run_drive,
)

log = logging.getLogger(__name__)

# fits every supported triggered meter's buffer with margin: the 2600B holds 60,000 readings with
# timestamps (SPEC-2602B, its profile's max_buffer_points), the B2900 100,000 (its max_points)
CAPTURE_POINTS = 50_000


class TriggeredMeasurer:
    """One capture per window."""

    stream_rate_hz: float | None = None  # captures are sized per window

    def __init__(
        self,
        instruments: BenchInstruments,
        folder: Path,
        end: WindowEnd,
        *,
        edge_wait_s: float = EDGE_WAIT_S,
    ) -> None:
        self.meter = instruments.meter
        self.meter_info = instruments.meter_info
        accuracy = instruments.bench.meter.accuracy  # stated figures, for analyze's budget
        self.meter_accuracy = accuracy.to_table() if accuracy is not None else None
        self.sync = instruments.bench.sync
        self.folder = folder
        self.end = end
        self.edge_wait_s = edge_wait_s  # beyond the capture, for its data to arrive
        self.sample_interval_s: float | None = instruments.option("sample_interval_s")
        self.current_range_a = _range(instruments)
        self.on_pin = trigger_on_pin(self.sync.mode, self.sync.line)  # sample 0: the start edge
        self._captures: list[str] = []
        self._unrecorded: list[str] = []

    def start(self) -> None:
        """Nothing to do: each window arms its own capture."""

    def stop(self) -> Recording:
        self._abort()
        return Recording(
            continuous=False, captures=tuple(self._captures), unrecorded=tuple(self._unrecorded)
        )

    def _abort(self) -> None:
        """Disarm the meter; a failure is logged (the bench's close() still shuts it down)."""
        try:
            self.meter.abort()
        except Exception as exc:
            log.warning("aborting the capture failed: %s", exc)

    def _request(self, expected_s: float) -> CaptureRequest:
        duration = expected_s * 1.25 + 0.5
        interval = self.sample_interval_s
        return CaptureRequest(  # no pre-trigger: an edge before its fill would be ignored
            duration_s=duration,
            sample_interval_s=float(duration / CAPTURE_POINTS if interval is None else interval),
            pretrigger_s=0.0,
            current_range_a=self.current_range_a,
            sync=self.sync,
        )

    def measure(
        self, drive: Callable[[], T], *, inferences: int, expected_s: float, window: WindowId
    ) -> Measured[T]:
        out, request = self.begin(expected_s)
        run_drive(drive, out)
        return self.finish(
            out, request, inferences=inferences, expected_s=expected_s, window=window
        )

    def begin(self, expected_s: float) -> tuple[Measured, CaptureRequest]:
        """Before the DUT is driven: the capture configured and armed."""
        request = self._request(expected_s)
        self.meter.configure_capture(request)
        self.meter.arm()
        return Measured(), request

    def finish(
        self, out: Measured[T], request: CaptureRequest, *, inferences: int, expected_s: float,
        window: WindowId | None = None,
    ) -> Measured[T]:  # fmt: skip
        """After the DUT was driven: the capture fetched, recorded and analysed (further
        outputs it digitized are kept in ``out.rail_traces`` for the rails)."""
        window = window or WindowId(None, 0)
        try:
            capture = self.meter.fetch(self.edge_wait_s + request.duration_s)
        except (InstrumentTimeoutError, AcquisitionError) as exc:
            self._abort()
            out.problems.append(f"capture failed: {exc}")
            return out
        except TransportError as exc:
            raise MeterFailure(f"the meter connection failed: {exc}", context="meter") from exc
        out.trace = trace = capture.trace
        out.current_range_a = capture.settings.current_range_a
        out.rail_traces = dict(capture.rails)
        self._record(out, capture.edge_positions, inferences, window)
        if out.problems:
            return out
        try:
            found = capture_window(
                trace,
                capture.edge_positions,
                sync_mode=self.sync.mode,
                on_pin=self.on_pin,
                inferences=inferences,
                require_both_edges=self.end.both_edges,
            )
            out.edge_source = found.rule
            start, stop = found.window.start_position, found.window.stop_position
            out.window = integrate_edges(trace, start, stop, inferences)
            out.start_s = trace.time_s(start)
        except AnalysisError as exc:
            out.problems.append(f"{type(exc).__name__}: {exc}")
        return out

    def _record(
        self, out: Measured, edges: tuple[float, ...], inferences: int, window: WindowId
    ) -> None:
        """The capture to ``capture_<tag>``, losslessly, with what a re-analysis of the file
        needs to find its window again (the rule's inputs, :func:`capture_window`)."""
        if out.trace is None:
            return
        metadata = {
            "kind": "energybench-capture",
            "sync": {
                "mode": self.sync.mode,
                "line": self.sync.line,
                "polarity": self.sync.polarity,
            },
            "trigger_on_pin": self.on_pin,
            "require_both_edges": self.end.both_edges,
            "edge_positions": [float(e) for e in edges],
            "n_samples": out.trace.n_samples,  # all of them are written: fewer is a cut file
            "inferences": inferences,
            **window.metadata(),
            "meter": self.meter_info,
            "meter_accuracy": self.meter_accuracy,
        }
        written = write_capture(out.trace, self.folder / f"capture_{window.tag}", metadata)
        if written is None:
            self._unrecorded.append(window.tag)
        else:
            out.raw_file = written.name
            self._captures.append(written.name)


def _range(instruments: BenchInstruments) -> float | None:
    """The bench's range, else one that holds the supply's current limit (the DUT cannot draw
    more): far better accuracy than an SMU's widest range."""
    fixed = instruments.option("current_range_a")
    supply = instruments.bench.supply
    if fixed is None and supply is not None and instruments.supply is not None:
        return supply.current_limit_a
    return fixed
