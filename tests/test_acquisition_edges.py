"""Timestamp edges counted while a stream arrives (the acquisition layer's one counter): where
each counted edge sits, across chunk boundaries and gaps, and which line is counted."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.acquisition.edge_counter import EdgeCounter
from energybench.acquisition.sinks import CountingSink
from energybench.acquisition.stream import StreamAcquisition
from energybench.analysis.edges import scan_edges
from energybench.analysis.trace import Trace, TraceChunk
from energybench.errors import AcquisitionError, ConfigError
from energybench.instruments.capabilities import StreamRequest, StreamSettings, SyncSpec

RATE = 1000.0


def _chunk(first: int, bits: list[int], line: str = "ts") -> TraceChunk:
    n = len(bits)
    return TraceChunk(first, RATE, np.full(n, 1e-3), 1.8, {line: np.array(bits, dtype=bool)})


def test_counted_edges_sit_at_the_sample_after_each_transition() -> None:
    """Within a chunk and across a chunk boundary; the ids agree with the analysis' scan."""
    counter = EdgeCounter("ts", "falling")
    chunks = [_chunk(100, [1, 1, 0, 0, 1]), _chunk(105, [0, 1, 1]), _chunk(108, [1, 0])]
    assert [counter.feed(c) for c in chunks] == [1, 1, 1]
    assert counter.count == 3 and counter.last_edge_id == 109
    assert [counter.edge_id(k) for k in range(3)] == [102, 105, 109]
    bits = np.concatenate([c.digital["ts"] for c in chunks])
    trace = Trace.from_arrays(
        np.full(10, 1e-3), 1.8, RATE, digital={"ts": bits}, first_sample_id=100
    )
    scan = scan_edges(trace, line="ts", polarity="falling")
    assert [int(p + 0.5) for p in scan.positions] == [102, 105, 109]  # placed at k + 0.5


def test_an_edge_inside_a_gap_is_not_counted() -> None:
    counter = EdgeCounter("ts", "falling")
    counter.feed(_chunk(0, [1, 1, 1]))
    assert counter.feed(_chunk(10, [0, 0, 1])) == 0  # ids 3..9 never arrived: unknowable
    assert counter.feed(_chunk(13, [0])) == 1
    assert counter.last_edge_id == 13


@pytest.mark.parametrize(("polarity", "ids"), [("rising", [3]), ("both", [1, 3])])
def test_the_polarity_selects_the_edges(polarity, ids) -> None:
    counter = EdgeCounter("ts", polarity)
    counter.feed(_chunk(0, [1, 0, 0, 1, 1]))
    assert [counter.edge_id(k) for k in range(counter.count)] == ids


class _Meter:
    """A streaming meter that names its timestamp line ``line`` whatever the request says."""

    def __init__(self, lines: tuple[str, ...], fail_after: int | None = None) -> None:
        self.lines, self.fail_after = lines, fail_after

    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        return StreamSettings(request.sample_rate_hz, digital_names=self.lines)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def chunks(self, timeout_s: float):
        pattern = [1] * 40 + [0] * 10 + [1] * 50
        for k in range(3):
            if k == self.fail_after:
                raise OSError("cable pulled")
            digital = {name: np.array(pattern, dtype=bool) for name in self.lines}
            yield TraceChunk(k * 100, RATE, np.full(100, 1e-3), 1.8, digital)


def test_the_only_streamed_line_is_counted_when_the_meter_names_it_otherwise() -> None:
    """A bench's sync line is the instrument's input (``d7``, ``BUS``); the stream may name
    its one digital line differently: that line is the timestamp."""
    request = StreamRequest(RATE, sync=SyncSpec("event_marker", "d7", "falling"))
    acq = StreamAcquisition(_Meter(("timestamp",)), CountingSink(), request)
    acq.start()
    acq.wait_for_samples(300, timeout_s=10.0)
    result = acq.stop()
    assert acq.edge_line == "timestamp" and result.edges == 3
    assert [acq.edge_id(k) for k in range(3)] == [40, 140, 240]
    assert acq.failure is None


def test_a_sync_line_among_several_streamed_lines_must_be_one_of_them() -> None:
    request = StreamRequest(RATE, sync=SyncSpec("digital_channel", "gpi[3]"))
    acq = StreamAcquisition(_Meter(("gpi[0]", "gpi[1]")), CountingSink(), request)
    with pytest.raises(ConfigError, match=r"gpi\[3\].*not streamed") as info:
        acq.start()
    assert info.value.context == "sync.line"


def test_the_failure_that_stopped_the_stream_is_public() -> None:
    request = StreamRequest(RATE, sync=SyncSpec("digital_channel", "ts"))
    acq = StreamAcquisition(_Meter(("ts",), fail_after=1), CountingSink(), request)
    acq.start()
    with pytest.raises(AcquisitionError, match="cable pulled"):
        acq.wait_for_edges(5, timeout_s=10.0)
    assert isinstance(acq.failure, OSError)
    with pytest.raises(AcquisitionError):
        acq.stop()


def test_a_reader_thread_slow_to_start_does_not_end_the_stream(monkeypatch) -> None:
    """On a loaded host a thread may start late: the writer must never take a reader that has
    not started yet for one that has finished (the stream then 'ended' before it began)."""
    import threading
    import time

    start = threading.Thread.start

    def late_reader(thread: threading.Thread) -> None:
        if thread.name == "acq-reader":
            time.sleep(0.5)  # five of the writer's polls
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", late_reader)
    acq = StreamAcquisition(_Meter(("ts",)), CountingSink(), StreamRequest(RATE))
    acq.start()
    acq.wait_for_samples(300, timeout_s=10.0)
    assert acq.stop().samples == 300
