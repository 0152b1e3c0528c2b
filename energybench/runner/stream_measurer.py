"""Windows on a streaming meter (``digital_channel``, ``event_marker``, ``analog_channel``): one
acquisition records the whole mode to the run's JLS file (CSV for a rate JLS cannot store); the
host-known interval of each window (from the last sample received when the DUT is driven, to
the quiet samples after its second edge) is cut from the recording and analysed at once."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from energybench.acquisition.recording import RecordingSink
from energybench.acquisition.stream import StreamAcquisition
from energybench.analysis.edges import edge_line
from energybench.analysis.ranges import range_use
from energybench.analysis.trace import SampleKind, SourceInfo
from energybench.analysis.window_analysis import analyze_interval, window_close_id
from energybench.errors import AcquisitionError, AnalysisError, RunError
from energybench.instruments.capabilities import StreamRequest
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
from energybench.runner.meter_setup import (
    SampleRate,
    fixed_range_a,
    meter_ranges_a,
    stream_rate,
    wants_ranging,
)

log = logging.getLogger(__name__)

LAG_SLICES = 6  # a stream still delivering samples gets up to this many edge waits in all


def source_info(instruments: BenchInstruments) -> SourceInfo:
    """The recording's source: the meter's identity and the bench's resource and sync."""
    info = instruments.meter_info
    return SourceInfo(
        instrument=f"{info.get('vendor', '')} {info.get('model', '')}".strip(),
        serial_number=info.get("serial_number", ""),
        resource=instruments.bench.meter.resource,
        description=f"energybench run, sync {instruments.bench.sync.mode}",
    )


class StreamMeasurer:
    """Continuous recording; windows found in it."""

    def __init__(
        self,
        instruments: BenchInstruments,
        folder: Path,
        end: WindowEnd,
        *,
        plan: dict | None = None,
        edge_wait_s: float = EDGE_WAIT_S,
        file_name: str = "trace.jls",
        rate: SampleRate | None = None,
        current_range_a: float | None = None,
    ) -> None:
        """``plan``: what the run means to record (written into the file when it is created,
        so the file alone says what it should hold: a file from a killed run is known short);
        ``rate``: the rate to record at (default :func:`stream_rate`); ``current_range_a``: the
        fixed range (default the bench's number; None: the meter's own)."""
        bench = instruments.bench
        self.sync = bench.sync
        self.end = end
        self.edge_wait_s = edge_wait_s  # beyond the expected window, for the data to arrive
        self.rate = rate or stream_rate(instruments)
        self.stream_rate_hz: float | None = self.rate.value_hz
        # the ranges a ranging pass may pick from (empty: the bench fixed one, or none to fix)
        self.pickable_ranges_a = meter_ranges_a(instruments) if wants_ranging(instruments) else ()
        if current_range_a is None:
            current_range_a = fixed_range_a(instruments)
        self.request = StreamRequest(
            sample_rate_hz=self.rate.value_hz,
            current_range_a=current_range_a,
            sync=bench.sync,
        )
        self.sink = RecordingSink(
            folder / file_name,
            sample_kind=self._sample_kind,
            source=source_info(instruments),
            metadata=plan,
        )
        self.acq = StreamAcquisition(
            instruments.meter,
            self.sink,
            self.request,
            max_current_a=bench.supply.max_current_a if bench.supply else None,
        )
        self._started = False

    def use_range(self, current_range_a: float | None) -> None:
        """Record in this fixed range (before :meth:`start`: the ranging pass chose it)."""
        if self._started:
            raise RunError("the range is set before the stream starts", context="meter")
        self.request = dataclasses.replace(self.request, current_range_a=current_range_a)
        self.acq.request = self.request

    def _sample_kind(self) -> SampleKind:
        settings = self.acq.settings
        return settings.sample_kind if settings is not None else "point"

    def start(self) -> None:
        """Start recording (samples arrive as the bench's time passes: no wait here, a
        virtual bench only moves on with the DUT's activity)."""
        self._started = True
        self.acq.start()

    def stop(self) -> Recording:
        """Stop the acquisition (idempotent); a failure is logged, its result kept."""
        result = None
        if self._started:
            try:
                result = self.acq.stop()
            except AcquisitionError as exc:
                result = exc.details.get("result")
                log.error("stopping the acquisition: %s", exc)
        path = self.sink.path  # .csv when the rate is not an integer
        return Recording(
            continuous=True,
            acquisition=result,
            trace_file=path.name if path.exists() else None,
            trace_sample_rate_hz=self.sink.rate_hz,
            write_error=self.sink.write_error,
        )

    def _rate_hz(self) -> float:
        if self.acq.settings is None:
            raise RunError("the stream measurer was not started", context="meter")
        return self.acq.settings.sample_rate_hz

    def _raise_if_meter_failed(self, exc: AcquisitionError) -> None:
        """A wait that failed because the meter stream did (not the DUT): the mode ends."""
        if self.acq.failure is not None:
            raise MeterFailure(
                f"the meter stream failed: {self.acq.failure}", context="meter"
            ) from exc

    def _wait_edges(self, before: int, wait_s: float) -> None:
        """Until the window's two edges are recorded. The DUT has finished, so they are on their
        way: a stream that lags behind the DUT (a slow host, or the virtual lab's DUT running
        ahead of a 100 kS/s meter) gets further waits of ``wait_s`` while each brings new
        samples, :data:`LAG_SLICES` in all; a stalled stream fails after one. Otherwise the
        edges would arrive during the next attempt and be counted as its own."""
        acq = self.acq
        deadline = time.monotonic() + wait_s * LAG_SLICES
        while True:
            seen = acq.next_sample_id
            try:
                acq.wait_for(
                    lambda: acq.edges_seen >= before + 2,
                    min(wait_s, max(0.0, deadline - time.monotonic())),
                    "the window's two timestamp edges",
                )
                return
            except AcquisitionError:
                moving = acq.next_sample_id != seen and acq.failure is None
                if not (wait_s > 0 and moving and time.monotonic() < deadline):
                    raise
                log.warning("the meter's stream lags behind the DUT: still waiting for the "
                            "window's edges (at sample %s)", acq.next_sample_id)  # fmt: skip

    def _wait_quiet(self, first_edge: int, expected_s: float, rate_hz: float) -> None:
        """Until the recording reaches :func:`window_close_id` with no edge after the last
        one. Bounded: edges still arriving at the deadline raise AcquisitionError."""
        acq = self.acq
        deadline = time.monotonic() + self.edge_wait_s + expected_s
        while True:
            last = acq.last_edge_id if acq.last_edge_id is not None else first_edge
            target = window_close_id(first_edge, last, expected_s, rate_hz, self.end.quiet_floor)

            def done(target: int = target, last: int = last) -> bool:
                return (acq.next_sample_id or 0) >= target or (acq.last_edge_id or 0) > last

            acq.wait_for(
                done,
                max(0.0, deadline - time.monotonic()),
                "quiet samples after the window's last edge",
            )
            if (acq.last_edge_id or 0) <= last:
                return
            if time.monotonic() >= deadline:  # a line that keeps toggling: no quiet span
                raise AcquisitionError(
                    f"timestamp edges kept arriving for {self.edge_wait_s + expected_s:g} s: no "
                    "quiet span closes the window",
                    context="sync.line",
                )

    def measure(
        self, drive: Callable[[], T], *, inferences: int, expected_s: float, window: WindowId
    ) -> Measured[T]:
        out, state = self.begin(expected_s)
        run_drive(drive, out)
        return self.finish(out, state, inferences=inferences, expected_s=expected_s)

    def begin(self, expected_s: float) -> tuple[Measured, tuple[int, int]]:
        """Before the DUT is driven: the window's record and where the recording stands."""
        out: Measured = Measured(current_range_a=self.request.current_range_a)
        return out, (self.sink.begin_window(), self.acq.edges_seen)

    def finish(
        self, out: Measured[T], state: tuple[int, int], *, inferences: int, expected_s: float,
        window: WindowId | None = None,
    ) -> Measured[T]:  # fmt: skip
        """After the DUT was driven (``out`` holds what it did): the window's edges, its
        interval cut from the recording, analysed."""
        acq, rate_hz = self.acq, self._rate_hz()
        start_id, before = state
        try:
            self._wait_edges(before, 0.0 if out.dut_timeout else self.edge_wait_s + expected_s)
        except AcquisitionError as exc:
            self._raise_if_meter_failed(exc)
            if not out.problems:
                out.problems.append(
                    f"{acq.edges_seen - before} timestamp edge(s) arrived, 2 expected"
                )
        if not out.problems:
            try:
                self._wait_quiet(acq.edge_id(before), expected_s, rate_hz)
            except AcquisitionError as exc:
                self._raise_if_meter_failed(exc)
                out.problems.append(f"no samples after the window: {exc}")
        out.raw_file = self.sink.path.name  # .csv once the rate turned out not an integer
        try:
            out.trace = self.sink.end_window(start_id, self.sink.next_sample_id or 0)
        except AcquisitionError as exc:
            out.problems.append(str(exc))
            return out
        out.interval_ids = (out.trace.first_sample_id, out.trace.stop_sample_id)
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
            out.start_s = out.window.start_position / rate_hz
            self._ranges(out)
        except AnalysisError as exc:  # EdgeCountError, MissingSamplesError
            out.problems.append(f"{type(exc).__name__}: {exc}")
        return out

    def _ranges(self, out: Measured) -> None:
        """The window's ranges (switches, over-range samples) from the recorded range of
        each sample, or the fixed range in use."""
        w, trace, settings = out.window, out.trace, self.acq.settings
        if w is None or trace is None:
            return
        out.ranges = range_use(
            trace,
            w.start_position,
            w.stop_position,
            full_scales_a=settings.current_ranges_a if settings else (),
            range_in_use_a=self.request.current_range_a,
        )
        if out.ranges.over_range_samples:
            out.problems.append(
                f"{out.ranges.over_range_samples} over-range sample(s): the current exceeded "
                f"the {out.ranges.over_range_a:g} A range"
            )
