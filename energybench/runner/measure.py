"""How one energy window is measured, for each kind of meter.

- :class:`StreamMeasurer` (``digital_channel``, ``event_marker``, ``analog_channel`` on a
  streaming meter): one acquisition records the whole session to the run's JLS file; the
  host-known interval of each ``infer`` (from the last sample received when the command is
  sent, to the samples after its second edge arrived) is analysed at once.
- :class:`TriggeredMeasurer` (``hw_trigger_start``/``_stop``, or ``analog_channel`` on a
  triggered meter): one capture per window, armed before ``infer``; the edges are the capture's
  (``edge_positions``); a start-only trigger ends the window on the current step (flagged).
Both return a :class:`Measured`: the window's trace and result, or the problems that make it
invalid (never a silently kept window). A stream workload passes its own ``step`` (start, play,
stop, ...) in place of ``infer``: the window is then the one stream between its two edges.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from energybench.acquisition.stream import StreamAcquisition
from energybench.analysis.capture import capture_window, trigger_on_pin
from energybench.analysis.integrate import WindowResult
from energybench.analysis.trace import SourceInfo, Trace, TraceChunk
from energybench.errors import (
    AcquisitionError,
    AnalysisError,
    DutError,
    DutTimeoutError,
    InstrumentTimeoutError,
    RunError,
    TransportError,
)
from energybench.instruments.capabilities import CaptureRequest, StreamRequest
from energybench.runner.dut_setup import DutSession
from energybench.runner.instruments import BenchInstruments
from energybench.runner.recording import RecordingSink
from energybench.runner.window_analysis import analyze_interval, edge_line, integrate_edges
from energybench.transport.interrupts import deferred_interrupt

log = logging.getLogger(__name__)

DEFAULT_STREAM_RATE_HZ = 10_000.0
CAPTURE_POINTS = 90_000  # fits every supported triggered meter's buffer (B2900: 100 k)
EDGE_WAIT_S = 10.0  # beyond the expected window, for the meter's data to arrive
LAG_SLICES = 6  # a stream still delivering samples gets up to this many edge waits in all
MARGIN_SAMPLES = 4  # at least this many samples after the end edge (edge + integration ends)
QUIET_MIN_S, QUIET_MAX_S = 0.02, 2.0  # edge-free span that closes a window
QUIET_FLOOR = 1.2  # an infer window: samples must reach 1.2 x the expected length


# a stream workload's step in place of ``infer``: runs the DUT through the window and records
# its failures in the Measured's problems (``dut_timeout`` for a DUT that stopped answering)
Step = Callable[["Measured"], None]


class MeterFailure(AcquisitionError):
    """The meter or its connection failed: the mode cannot continue."""


@dataclass
class Measured:
    trace: Trace | None = None
    window: WindowResult | None = None
    problems: list[str] = field(default_factory=list)
    edge_source: str = ""
    dut_elapsed_s: float | None = None
    start_s: float | None = None  # window start in the recording's time base
    dut_timeout: bool = False
    current_range_a: float | None = None  # the range in use (None: the meter's widest)
    raw_metadata: dict = field(default_factory=dict)  # written into the window's raw file


def _source(instruments: BenchInstruments) -> SourceInfo:
    info = instruments.meter_info
    return SourceInfo(
        instrument=f"{info.get('vendor', '')} {info.get('model', '')}".strip(),
        serial_number=info.get("serial_number", ""),
        resource=instruments.bench.meter.resource,
        description=f"energybench run, sync {instruments.bench.sync.mode}",
    )


class _EdgeCountingSink(RecordingSink):
    """Also counts timestamp edges as chunks arrive (the barrier before a window closes)."""

    def __init__(self, path: Path, line: str, polarity: str, **kw) -> None:
        super().__init__(path, **kw)
        self.configured_line = line
        self.polarity = polarity
        self.edges = 0
        self.last_edge_id: int | None = None
        self.edge_ids: list[int] = []
        self._last_bit: bool | None = None
        self._line: str | None = None
        self._expected: int | None = None

    def append(self, chunk: TraceChunk) -> None:
        if self._line is None and chunk.digital:
            names = tuple(chunk.digital)
            self._line = (
                self.configured_line
                if self.configured_line in names
                else (names[0] if len(names) == 1 else None)
            )
        if self._expected is not None and chunk.first_sample_id != self._expected:
            self._last_bit = None  # an edge inside a gap cannot be counted
        self._expected = chunk.stop_sample_id
        if self._line is not None and chunk.n_samples:
            bits = np.asarray(chunk.digital[self._line], dtype=bool)
            if self._last_bit is not None:
                bits = np.concatenate(([self._last_bit], bits))
            self._last_bit = bool(bits[-1])
            if self.polarity == "falling":
                found = np.flatnonzero(bits[:-1] & ~bits[1:])
            else:
                found = np.flatnonzero(~bits[:-1] & bits[1:])
            if found.size:  # the sample id after each transition
                offset = chunk.first_sample_id + (0 if len(bits) > chunk.n_samples else 1)
                self.edge_ids.extend(int(k) + offset for k in found)
                self.last_edge_id = self.edge_ids[-1]
            self.edges += int(found.size)
        super().append(chunk)


class StreamMeasurer:
    """Continuous recording; windows found in it."""

    def __init__(self, instruments: BenchInstruments, dut: DutSession, folder: Path) -> None:
        self.instruments = instruments
        self.dut = dut
        sync = instruments.bench.sync
        self.sync = sync
        self.path = folder / "trace.jls"
        rate = float(instruments.option("sample_rate_hz", DEFAULT_STREAM_RATE_HZ))
        self.request = StreamRequest(
            sample_rate_hz=rate,
            current_range_a=instruments.option("current_range_a"),
            sync=instruments.bench.sync,
        )
        self.acq: StreamAcquisition | None = None
        self.sink = _EdgeCountingSink(
            self.path,
            sync.line,
            sync.polarity,
            sample_kind=lambda: (
                self.acq.settings.sample_kind if self.acq and self.acq.settings else "point"
            ),
            source=_source(instruments),
        )
        self.result = None

    def start(self) -> None:
        """Start recording (samples arrive as the bench's time passes: no wait here, a
        virtual bench only moves on with the DUT's activity)."""
        bench = self.instruments.bench
        max_a = bench.supply.max_current_a if bench.supply else None
        self.acq = StreamAcquisition(
            self.instruments.meter, self.sink, self.request, max_current_a=max_a
        )
        self.acq.edge_line = None  # the sink counts edges on the line the meter actually streams
        self.acq.start()

    def stop(self) -> None:
        if self.acq is None:
            return
        try:
            self.result = self.acq.stop()
        except AcquisitionError as exc:
            self.result = exc.details.get("result")
            log.error("stopping the acquisition: %s", exc)

    def _wait_quiet(
        self, first_edge: int, expected_s: float, rate: float, floor_factor: float = QUIET_FLOOR
    ) -> None:
        """Until the samples reach ``floor_factor`` x the expected window past its first edge
        and an edge-free span (10 % of the window, 20 ms..2 s) follows the last edge: a glitch
        that looks like the end is then followed by the real end, and both are in the interval.
        (A stream step returns after its end pulse: no floor is needed, ``floor_factor`` 0.)
        Bounded: edges still arriving at the deadline raise AcquisitionError."""
        acq = self._started()
        sink = self.sink
        span = min(QUIET_MAX_S, max(QUIET_MIN_S, expected_s / 10))
        quiet = max(MARGIN_SAMPLES, round(rate * span))
        floor = first_edge + round(rate * expected_s * floor_factor)
        deadline = time.monotonic() + EDGE_WAIT_S + expected_s
        while True:
            last = sink.last_edge_id if sink.last_edge_id is not None else first_edge
            target = max(floor, last + quiet)

            def done(target: int = target, last: int = last) -> bool:
                return (sink.next_sample_id or 0) >= target or (sink.last_edge_id or 0) > last

            acq.wait_for(
                done,
                max(0.0, deadline - time.monotonic()),
                "quiet samples after the window's last edge",
            )
            if (sink.last_edge_id or 0) <= last:
                return
            if time.monotonic() >= deadline:  # a line that keeps toggling: no quiet span
                raise AcquisitionError(
                    f"timestamp edges kept arriving for {EDGE_WAIT_S + expected_s:g} s: no "
                    "quiet span closes the window",
                    context="sync.line",
                )

    def _wait_edges(self, edges_before: int, wait_s: float) -> None:
        """Until the window's two edges are recorded. The DUT has finished, so they are on their
        way: a stream that lags behind the DUT (a slow host, or the virtual lab's DUT running
        ahead of a 100 kS/s meter) gets further waits of ``wait_s`` while each brings new
        samples, :data:`LAG_SLICES` in all; a stalled stream fails after one. Otherwise the
        edges would arrive during the next attempt and be counted as its own."""
        acq = self._started()
        deadline = time.monotonic() + wait_s * LAG_SLICES
        while True:
            seen = acq.next_sample_id
            try:
                acq.wait_for(
                    lambda: len(self.sink.edge_ids) >= edges_before + 2,
                    min(wait_s, max(0.0, deadline - time.monotonic())),
                    "the window's two timestamp edges",
                )
                return
            except AcquisitionError:
                moving = acq.next_sample_id != seen and getattr(acq, "_failure", None) is None
                if not (wait_s > 0 and moving and time.monotonic() < deadline):
                    raise
                log.warning("the meter's stream lags behind the DUT: still waiting for the "
                            "window's edges (at sample %s)", acq.next_sample_id)  # fmt: skip

    def _started(self) -> StreamAcquisition:
        if self.acq is None:
            raise RunError("the stream measurer was not started", context="meter")
        return self.acq

    def _raise_if_meter_failed(self, exc: AcquisitionError) -> None:
        """A wait that failed because the meter stream did (not the DUT): the mode ends."""
        failure = getattr(self.acq, "_failure", None)  # set by the reader/writer threads
        if failure is not None:
            raise MeterFailure(f"the meter stream failed: {failure}", context="meter") from exc

    def measure(
        self,
        inferences: int,
        warmups: int,
        expected_s: float,
        timeout_s: float,
        *,
        step: Step | None = None,
    ) -> Measured:
        acq = self._started()
        out = Measured(current_range_a=self.request.current_range_a)
        start_id = self.sink.begin_window()
        edges_before = len(self.sink.edge_ids)
        if step is None:
            _run_infer(self.dut.client, out, inferences, warmups, timeout_s)
        else:
            step(out)
        rate = acq.settings.sample_rate_hz  # type: ignore[union-attr]
        wait_s = EDGE_WAIT_S + expected_s
        try:
            self._wait_edges(edges_before, 0.0 if out.dut_timeout else wait_s)
        except AcquisitionError as exc:
            self._raise_if_meter_failed(exc)
            if not out.problems:
                out.problems.append(
                    f"{len(self.sink.edge_ids) - edges_before} timestamp edge(s) arrived, "
                    "2 expected"
                )
        # the window is closed once a quiet span of samples follows the last edge: a glitch
        # that looked like the end is then followed by the real end, and both are seen
        if not out.problems:
            try:
                self._wait_quiet(
                    self.sink.edge_ids[edges_before],
                    expected_s,
                    rate,
                    QUIET_FLOOR if step is None else 0.0,
                )
            except AcquisitionError as exc:
                self._raise_if_meter_failed(exc)
                out.problems.append(f"no samples after the window: {exc}")
        stop_id = self.sink.next_sample_id or 0
        try:
            out.trace = self.sink.end_window(start_id, stop_id)
        except AcquisitionError as exc:
            out.problems.append(str(exc))
            return out
        if out.problems:
            return out
        try:
            line = edge_line(out.trace, self.sync.line)
            out.window = analyze_interval(
                out.trace,
                line=line,
                polarity=self.sync.polarity,
                min_pulse_s=self.sync.min_pulse_s,
                inferences=inferences,
            )
            out.edge_source = f"{self.sync.mode} {line} {self.sync.polarity}"
            out.start_s = out.window.start_position / rate
        except AnalysisError as exc:  # EdgeCountError, MissingSamplesError
            out.problems.append(f"{type(exc).__name__}: {exc}")
        return out


class TriggeredMeasurer:
    """One capture per window."""

    def __init__(self, instruments: BenchInstruments, dut: DutSession, folder: Path) -> None:
        self.instruments = instruments
        self.dut = dut
        self.folder = folder
        self.sync = instruments.bench.sync
        self.captures: list[Path] = []
        self.result = None
        # a stream window (sww01) never returns to idle current before its end: no end from a
        # current step, both edges must be in the capture
        self.require_both_edges = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._abort()

    def _abort(self) -> None:
        """Disarm the meter; a failure is logged (the bench's close() still shuts it down)."""
        try:
            self.instruments.meter.abort()
        except Exception as exc:
            log.warning("aborting the capture failed: %s", exc)

    def _request(self, expected_s: float) -> CaptureRequest:
        duration = expected_s * 1.25 + 0.5
        interval = self.instruments.option("sample_interval_s")
        if interval is None:
            interval = duration / CAPTURE_POINTS
        return CaptureRequest(  # no pre-trigger: an edge before its fill would be ignored
            duration_s=duration,
            sample_interval_s=float(interval),
            pretrigger_s=0.0,
            current_range_a=self._range(),
            sync=self.instruments.bench.sync,
        )

    def _range(self) -> float | None:
        """The bench's range, else one that holds the supply's current limit (the DUT cannot
        draw more): far better accuracy than an SMU's widest range."""
        fixed = self.instruments.option("current_range_a")
        supply = self.instruments.bench.supply
        if fixed is None and supply is not None and self.instruments.supply is not None:
            return supply.current_limit_a
        return fixed

    def measure(
        self,
        inferences: int,
        warmups: int,
        expected_s: float,
        timeout_s: float,
        *,
        step: Step | None = None,
    ) -> Measured:
        meter = self.instruments.meter
        out = Measured()
        request = self._request(expected_s)
        meter.configure_capture(request)
        meter.arm()
        if step is None:
            _run_infer(self.dut.client, out, inferences, warmups, timeout_s)
        else:
            step(out)
        try:
            capture = meter.fetch(EDGE_WAIT_S + request.duration_s)
        except (InstrumentTimeoutError, AcquisitionError) as exc:
            self._abort()
            out.problems.append(f"capture failed: {exc}")
            return out
        except TransportError as exc:
            raise MeterFailure(f"the meter connection failed: {exc}", context="meter") from exc
        out.trace = trace = capture.trace
        out.current_range_a = capture.settings.current_range_a
        on_pin = trigger_on_pin(self.sync.mode, self.sync.line)
        out.raw_metadata = {  # what a re-analysis of the capture file needs (capture_window)
            "kind": "energybench-capture",
            "sync": {
                "mode": self.sync.mode,
                "line": self.sync.line,
                "polarity": self.sync.polarity,
            },
            "trigger_on_pin": on_pin,
            "require_both_edges": self.require_both_edges,
            "edge_positions": [float(e) for e in capture.edge_positions],
            "n_samples": trace.n_samples,  # all of them are written: fewer is a cut file
            "inferences": inferences,
        }
        if out.problems:
            return out
        try:
            found = capture_window(
                trace,
                capture.edge_positions,
                sync_mode=self.sync.mode,
                on_pin=on_pin,
                inferences=inferences,
                require_both_edges=self.require_both_edges,
            )
            out.edge_source = found.rule
            out.window = integrate_edges(
                trace, found.window.start_position, found.window.stop_position, inferences
            )
            out.start_s = trace.time_s(found.window.start_position)
        except AnalysisError as exc:
            out.problems.append(f"{type(exc).__name__}: {exc}")
        return out


def _float32_exact(trace: Trace) -> bool:
    """Whether every current and voltage sample is a float32 value (JLS stores float32)."""
    for chunk in trace.chunks():
        for values in (chunk.current_a, chunk.voltage_array()):
            x = np.asarray(values)
            if x.dtype != np.float32 and not np.array_equal(
                x.astype(np.float32), x, equal_nan=True
            ):
                return False
    return True


def record_capture(trace: Trace, path: Path, metadata: dict | None = None) -> Path | None:
    """Write a capture losslessly, so a re-analysis reproduces the window's figures: as JLS
    when its rate is an integer and its samples float32 values (what JLS stores), else as CSV
    (17 significant digits); with ``metadata`` (how its window is found) inside the file. A
    stop signal waits until the file is complete (it holds measured data)."""
    with deferred_interrupt():
        return _record_capture(trace, path, metadata)


def _record_capture(trace: Trace, path: Path, metadata: dict | None) -> Path | None:
    try:
        rate = trace.sample_rate_hz
        if float(rate).is_integer() and _float32_exact(trace):
            from energybench.traces.jls_writer import write_jls

            return write_jls(path.with_suffix(".jls"), trace, metadata=metadata)
        from energybench.traces.csv_io import write_csv

        return write_csv(path.with_suffix(".csv"), trace, metadata=metadata)
    except Exception as exc:  # the figures stand; the missing raw file is flagged by the caller
        log.error("cannot record the capture to %s: %s", path, exc)
        return None


@contextlib.contextmanager
def dut_problems(out: Measured) -> Iterator[None]:
    """A DUT timeout or error inside a window becomes a problem of the window (the window is
    then invalid and re-run; ``dut_timeout`` asks for recovery), never an exception that
    loses the recording."""
    try:
        yield
    except DutTimeoutError as exc:
        out.problems.append(f"DUT timeout: {exc}")
        out.dut_timeout = True
    except DutError as exc:
        out.problems.append(f"DUT error: {exc}")


def _run_infer(client, out: Measured, inferences: int, warmups: int, timeout_s: float) -> None:
    """``infer N W`` on the DUT, its failures the window's problems."""
    with dut_problems(out):
        out.dut_elapsed_s = client.infer(inferences, warmups, timeout_s).dut_elapsed_s
