"""The acquisition layer against the virtual lab's streaming source (real sockets, real files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from lab_support import read_line
from stream_testlib import BlockSink, add_window, bench_timeline, read_blocks

from energybench.acquisition import (
    CountingSink,
    StreamAcquisition,
    acquire_for,
    capture_triggered,
)
from energybench.analysis.trace import SampleRange, Trace, TraceChunk
from energybench.errors import AcquisitionError, ConfigError, InstrumentTimeoutError
from energybench.instruments.capabilities import (
    Capture,
    CaptureRequest,
    CaptureSettings,
    StreamRequest,
    StreamSettings,
    SyncSpec,
)
from energybench.instruments.sim_stream import SimStreamMeter
from energybench.sim.instruments.stream_source import SimStreamSource, StreamFaults
from energybench.traces.jls import read_jls
from energybench.traces.jls_writer import JlsWriter

RATE = 1_000_000
REQUEST = StreamRequest(RATE, sync=SyncSpec("digital_channel", "gpi[0]", "falling"))
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _lab(tmp_path: Path, **source_options):
    tl = bench_timeline()
    add_window(tl, 0.2, 0.5, 20e-3)
    add_window(tl, 0.9, 0.5, 10e-3)
    src = SimStreamSource(tl, frame_samples=50_000, **source_options).start()
    meter = SimStreamMeter.open(src.resource)
    return tl, src, meter, BlockSink(tmp_path / "rec")


def _assert_contiguous(blocks: list[tuple[int, int]], first: int, stop: int, gaps=()) -> None:
    expected = first
    holes = []
    for start, n in blocks:
        if start != expected:
            holes.append((expected, start))
        expected = start + n
    assert expected == stop and holes == list(gaps)


def test_acquisition_records_every_sample_and_counts_edges(tmp_path: Path) -> None:
    tl, src, meter, sink = _lab(tmp_path)
    try:
        with StreamAcquisition(meter, sink, REQUEST) as acq:
            tl.advance_to(1.6)  # the DUT finished both windows
            acq.wait_for_edges(4, timeout_s=20.0)
            acq.wait_for_sample_id(int(1.5 * RATE), timeout_s=20.0)
        result = acq.result
    finally:
        meter.close()
        src.stop()
    assert result is not None and not result.flagged and result.reasons == ()
    assert result.edges == 4 and result.dropped == () and result.path == sink.path
    assert result.first_sample_id == 0 and result.samples == result.stop_sample_id
    assert sink.closed and "STOP" in src.commands
    _assert_contiguous(read_blocks(sink.path), 0, result.stop_sample_id)


def test_dropped_chunks_are_reported_with_ranges_and_energy_bounds(tmp_path: Path) -> None:
    tl, src, meter, sink = _lab(tmp_path, faults=StreamFaults(drop_frames={2, 9}))
    try:
        acq = StreamAcquisition(meter, sink, REQUEST, max_current_a=0.1)
        with acq:
            tl.advance_to(1.6)
            acq.wait_for_sample_id(int(1.5 * RATE), timeout_s=20.0)
        result = acq.result
    finally:
        meter.close()
        src.stop()
    assert result.flagged and any("missing" in r for r in result.reasons)
    assert result.dropped_ranges == (SampleRange(100_000, 150_000), SampleRange(450_000, 500_000))
    assert result.dropped_samples == 100_000
    for drop in result.dropped:
        assert drop.cause == "instrument"
        truth_j = tl.energy_j(drop.start_id / RATE, drop.stop_id / RATE)
        assert 0 < truth_j <= drop.energy_bound_j * (1 + 1e-6)  # float32 samples
        assert drop.energy_bound_j <= drop.hard_energy_bound_j
    assert result.samples + result.dropped_samples == result.stop_sample_id
    _assert_contiguous(
        read_blocks(sink.path), 0, result.stop_sample_id, [(100_000, 150_000), (450_000, 500_000)]
    )


def test_closed_connection_fails_fast_and_leaves_a_readable_recording(tmp_path: Path) -> None:
    tl, src, meter, sink = _lab(tmp_path, faults=StreamFaults(close_at_frame=6))
    try:
        acq = StreamAcquisition(meter, sink, REQUEST, chunk_timeout_s=2.0, join_timeout_s=2.0)
        acq.start()
        tl.advance_to(1.6)
        with pytest.raises(AcquisitionError, match="closed") as info:
            acq.wait_for_samples(10 * RATE, timeout_s=30.0)
        assert "timed out" not in str(info.value)
        with pytest.raises(AcquisitionError) as stop_info:
            acq.stop()
    finally:
        meter.close()
        src.stop()
    result = stop_info.value.details["result"]
    assert result.flagged and "closed" in result.error and result.stop_sample_id == 300_000
    assert sink.closed
    _assert_contiguous(read_blocks(sink.path), 0, 300_000)  # readable up to the last chunk


class _SlowSink(CountingSink):
    def append(self, chunk: TraceChunk) -> None:
        time.sleep(0.05)
        super().append(chunk)


def test_queue_overflow_is_counted_not_a_hang(tmp_path: Path) -> None:
    tl, src, meter, _ = _lab(tmp_path)
    sink = _SlowSink()
    try:
        acq = StreamAcquisition(meter, sink, REQUEST, queue_chunks=1, put_timeout_s=0.001)
        with acq:
            tl.advance_to(1.6)
            acq.wait_for_sample_id(int(1.5 * RATE), timeout_s=30.0)
        result = acq.result
    finally:
        meter.close()
        src.stop()
    assert result.overflow_chunks > 0 and result.flagged
    assert {d.cause for d in result.dropped} == {"host_overflow"}
    assert result.samples == sink.samples
    assert result.samples + result.dropped_samples == result.stop_sample_id - 0


class _FailingSink(CountingSink):
    def append(self, chunk: TraceChunk) -> None:
        if self.chunks == 2:
            raise OSError("disk full")
        super().append(chunk)


def test_a_failing_sink_stops_the_meter_and_raises(tmp_path: Path) -> None:
    tl, src, meter, _ = _lab(tmp_path)
    try:
        with pytest.raises(AcquisitionError, match="disk full"):  # noqa: SIM117
            with StreamAcquisition(meter, _FailingSink(), REQUEST, join_timeout_s=2.0) as acq:
                tl.advance_to(1.6)
                acq.wait_for_samples(RATE, timeout_s=20.0)
    finally:
        meter.close()
        src.stop()
    assert "STOP" in src.commands and acq.result is not None and acq.result.samples == 100_000


class _StuckMeter:
    """Delivers ``n_chunks`` at once, then blocks in ``chunks()`` (a hung instrument read)
    until released; ``stop()`` does not unblock it."""

    def __init__(self, n_chunks: int, chunk_samples: int = 1_000) -> None:
        self.n_chunks, self.chunk_samples = n_chunks, chunk_samples
        self.release = threading.Event()

    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        return StreamSettings(request.sample_rate_hz)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def chunks(self, timeout_s: float):
        for k in range(self.n_chunks):
            n = self.chunk_samples
            yield TraceChunk(k * n, RATE, np.full(n, 1e-3), 1.8)
        self.release.wait(timeout=30.0)


def test_chunks_queued_behind_a_hung_reader_are_still_written(tmp_path: Path) -> None:
    meter, sink = _StuckMeter(12), _SlowSink()
    acq = StreamAcquisition(meter, sink, StreamRequest(RATE), join_timeout_s=0.2)
    try:
        acq.start()
        acq.wait_for_samples(1_000, timeout_s=20.0)
        result = acq.stop()  # the reader never finishes: the writer is told to give up
    finally:
        meter.release.set()
    assert "the reader thread did not finish in 0.2 s" in result.reasons
    assert sink.closed and sink.samples == result.samples == 12_000  # nothing left in the queue
    assert result.dropped == () and result.stop_sample_id == 12_000


class _NanMeter(_StuckMeter):
    """Three chunks; the middle one holds NaN runs (samples the instrument marks missing)."""

    def chunks(self, timeout_s: float):
        for k in range(3):
            current = np.full(1_000, 1e-3)
            if k == 1:
                current[10:20] = np.nan
                current[990:] = np.nan
            yield TraceChunk(k * 1_000, RATE, current, 1.8)


def test_nan_samples_in_a_chunk_are_reported_as_dropped() -> None:
    sink = CountingSink()
    acq = StreamAcquisition(_NanMeter(3), sink, StreamRequest(RATE))
    acq.start()
    acq.wait_for_samples(3_000, timeout_s=20.0)
    result = acq.stop()
    assert result.dropped_ranges == (SampleRange(1_010, 1_020), SampleRange(1_990, 2_000))
    assert {d.cause for d in result.dropped} == {"nan"} and result.flagged
    assert result.dropped_energy_bound_j == pytest.approx(20 / RATE * 1e-3 * 1.8)
    assert sink.samples == 3_000  # NaN samples are recorded (as NaN), not withheld


def test_stream_without_the_sync_line_is_refused(tmp_path: Path) -> None:
    _, src, meter, sink = _lab(tmp_path)
    try:
        acq = StreamAcquisition(meter, sink, StreamRequest(RATE), edge_line="gpi[5]")
        with pytest.raises(ConfigError, match="gpi"):
            acq.start()
        assert not any(c.startswith("START") for c in src.commands)
        assert sink.closed  # start() failed inside ``with``: nobody else would close it
    finally:
        meter.close()
        src.stop()


def test_acquire_for_records_a_duration_by_sample_count(tmp_path: Path) -> None:
    _, src, meter, sink = _lab(tmp_path, idle_speed=50.0)
    try:
        result = acquire_for(meter, sink, REQUEST, 0.4, timeout_s=30.0)
    finally:
        meter.close()
        src.stop()
    assert result.stop_sample_id - result.first_sample_id >= 400_000 and not result.flagged


def test_ctrl_c_during_acquisition_stops_the_meter(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from stream_testlib import BlockSink, bench_timeline, read_blocks
        from energybench.acquisition import StreamAcquisition
        from energybench.instruments.capabilities import StreamRequest
        from energybench.instruments.sim_stream import SimStreamMeter
        from energybench.sim.instruments.stream_source import SimStreamSource

        tl = bench_timeline()
        src = SimStreamSource(tl, frame_samples=20_000, idle_speed=2.0).start()
        meter = SimStreamMeter.open(src.resource)
        sink = BlockSink({str(tmp_path / "rec")!r})
        acq = StreamAcquisition(meter, sink, StreamRequest(1_000_000))
        try:
            with acq:
                acq.wait_for_samples(100_000, timeout_s=20)
                print("READY", flush=True)
                time.sleep(30)
        except KeyboardInterrupt:
            r = acq.result
            blocks = read_blocks(sink.path)
            print(json.dumps({{"stop_sent": "STOP" in src.commands, "closed": sink.closed,
                              "streaming": src.streaming, "reasons": list(r.reasons),
                              "samples": r.samples, "on_disk": sum(n for _, n in blocks)}}))
            src.stop()
            sys.exit(130)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    try:
        line = read_line(proc.stdout, 60.0, "the acquiring child")
        assert line.strip() == "READY", proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["stop_sent"] and report["closed"] and not report["streaming"]
    assert "interrupted (Ctrl-C)" in report["reasons"]
    assert report["samples"] == report["on_disk"] >= 100_000


class _FakeTriggered:
    """A TriggeredMeter stand-in: the capture logic is under test here, not an instrument."""

    sync_modes = ("hw_trigger_start",)

    def __init__(self, trace: Trace | None) -> None:
        self.trace, self.calls = trace, []

    def configure_capture(self, request: CaptureRequest) -> CaptureSettings:
        self.calls.append("configure")
        return CaptureSettings(request.sample_interval_s, 1000, 0, None)

    def arm(self) -> None:
        self.calls.append("arm")

    def fetch(self, timeout_s: float) -> Capture:
        self.calls.append("fetch")
        if self.trace is None:
            raise InstrumentTimeoutError("no trigger", context="fake")
        return Capture(self.trace, CaptureSettings(1e-5, 1000, 0, None), (0.0,))

    def abort(self) -> None:
        self.calls.append("abort")


def test_triggered_capture_is_recorded_and_missing_samples_flagged() -> None:
    current = np.full(1000, 0.01)
    current[100:150] = np.nan
    trace = Trace.from_arrays(current, 3.3, 1e5)
    sink = CountingSink()
    capture, result = capture_triggered(
        _FakeTriggered(trace), CaptureRequest(0.01, 1e-5), sink, timeout_s=1.0, chunk_samples=300
    )
    assert capture.trace is trace and sink.samples == 1000 and sink.closed
    assert result.flagged and result.dropped_ranges == (SampleRange(100, 150),)
    assert result.dropped_energy_bound_j == pytest.approx(50 / 1e5 * 0.033)

    meter = _FakeTriggered(None)
    with pytest.raises(InstrumentTimeoutError):
        capture_triggered(meter, CaptureRequest(0.01, 1e-5), None, timeout_s=0.1)
    assert meter.calls == ["configure", "arm", "fetch", "abort"]


def test_jls_recording_keeps_gaps_and_survives_a_closed_connection(tmp_path: Path) -> None:
    """With the real recorder, energybench.traces.jls_writer."""
    faults = StreamFaults(drop_frames={2}, close_at_frame=6)
    tl, src, meter, _ = _lab(tmp_path, faults=faults)
    path = tmp_path / "rec.jls"
    # the stream source sends each sample's current range: the recording keeps it
    sink = JlsWriter(path, sample_rate_hz=RATE, digital_names=("gpi[0]",), current_range=True)
    try:
        acq = StreamAcquisition(meter, sink, REQUEST, chunk_timeout_s=2.0, join_timeout_s=2.0)
        acq.start()
        tl.advance_to(1.6)
        with pytest.raises(AcquisitionError, match="closed"):
            acq.wait_for_samples(10 * RATE, timeout_s=30.0)
        with pytest.raises(AcquisitionError):
            acq.stop()
    finally:
        meter.close()
        src.stop()
    assert acq.result.path == path and acq.result.stop_sample_id == 300_000
    trace = read_jls(path)
    assert (trace.first_sample_id, trace.stop_sample_id) == (0, 300_000)
    assert trace.missing == (SampleRange(100_000, 150_000),)
    assert np.isnan(trace.read(100_000, 150_000).current_a).all()
    recorded = trace.read(150_000, 300_000).current_a
    assert not np.isnan(recorded).any()
