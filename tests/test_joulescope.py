"""The optional Joulescope driver without the ``joulescope`` package (hidden from the import
system here; tests/test_joulescope_api.py checks the driver against the installed package).

What can be tested: the registry lists it as unavailable with its install hint, opening it
raises InstrumentUnavailableError with the hint, and its stream bookkeeping (gaps, queue
overflow, stop) against a stand-in for the v1 device and stream buffer. Nothing here proves
it works with a real JS110/JS220.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from energybench.errors import ConfigError, InstrumentUnavailableError
from energybench.instruments.capabilities import StreamingMeter, StreamRequest, SyncSpec
from energybench.instruments.joulescope import INSTALL_HINT, Joulescope
from energybench.instruments.registry import list_drivers, load_driver


@pytest.fixture
def no_joulescope(monkeypatch):
    """The package hidden, as on a machine without the extra (it is in the test extra here)."""
    monkeypatch.setitem(sys.modules, "joulescope", None)
    assert importlib.util.find_spec("joulescope") is None


def test_registry_lists_it_unavailable_with_the_install_hint(no_joulescope) -> None:
    entry = {d.name: d for d in list_drivers()}["joulescope"]
    assert not entry.available and "not installed" in entry.problem
    assert entry.install_hint == "pip install 'energybench[joulescope]'" == INSTALL_HINT
    assert entry.sync_modes == ("digital_channel",)


def test_opening_without_the_package_raises_with_the_hint(no_joulescope) -> None:
    cls = load_driver("joulescope")
    with pytest.raises(InstrumentUnavailableError, match=r"energybench\[joulescope\]"):
        cls.open("joulescope://")
    with pytest.raises(InstrumentUnavailableError, match="pip install"):
        Joulescope()
    with pytest.raises(ConfigError, match="resource"):
        Joulescope.open("usb://nope")


class _StandInBuffer:
    """The slice of the v1 StreamBuffer the driver uses: a sample-id range and samples_get,
    which (like the real one) silently clamps a start that has left the ring buffer."""

    def __init__(self) -> None:
        self.start, self.end = 0, 0

    @property
    def sample_id_range(self) -> tuple[int, int]:
        return self.start, self.end

    def samples_get(self, start: int, stop: int, fields: list[str]) -> dict:
        start = max(start, self.start)
        ids = np.arange(start, stop)
        values = {
            "current": ids * 1e-6,
            "voltage": np.full(ids.shape, 3.3),
            "current_lsb": (ids // 100) % 2,
            "voltage_lsb": np.zeros(ids.shape, dtype=np.uint8),
        }
        return {
            "time": {"sample_id_range": {"value": [start, stop]}},
            "signals": {f: {"value": values[f]} for f in fields},
        }


class _StandInDevice:
    model = "js220"
    serial_number = "000415"

    def __init__(self) -> None:
        self.params: dict[str, object] = {}
        self.buffer = _StandInBuffer()
        self.tap = None
        self.stop_fn = None

    def parameter_set(self, name: str, value: object) -> None:
        self.params[name] = value

    def stream_process_register(self, obj) -> None:
        self.tap = obj

    def stream_process_unregister(self, obj) -> None:
        self.tap = None

    def start(self, stop_fn=None, duration=None, contiguous_duration=None) -> None:
        self.stop_fn = stop_fn

    def stop(self) -> None:
        if self.stop_fn:
            self.stop_fn(0, "")

    def close(self) -> None:
        pass

    def produce(self, end: int, ring_start: int | None = None) -> None:
        """New samples up to ``end``; ``ring_start`` > last read = the ring buffer overran."""
        self.buffer.end = end
        if ring_start is not None:
            self.buffer.start = ring_start
        self.tap.stream_notify(self.buffer)


def test_stream_bookkeeping_reports_overruns_and_overflows() -> None:
    device = _StandInDevice()
    js = Joulescope(device, queue_chunks=2)
    assert isinstance(js, StreamingMeter) and js.identify().model == "JS220"
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        js.configure_stream(StreamRequest(2_000_000))  # JS220 output is limited to 1 MHz
    with pytest.raises(ConfigError, match="current_range_a"):
        js.configure_stream(StreamRequest(1_000_000, current_range_a=0.5))
    js.configure_stream(
        StreamRequest(1_000_000, current_range_a=0.018, sync=SyncSpec("digital_channel", "gpi[0]"))
    )
    assert device.params["i_range"] == "18 mA" and device.params["sampling_frequency"] == 1_000_000
    js.start()
    device.produce(1000)
    device.produce(3000, ring_start=2000)  # samples [1000, 2000) left the ring buffer unread
    device.produce(4000)  # the queue (2 chunks) is full: this chunk is lost and counted
    chunks = js.chunks(timeout_s=1.0)
    first, second = next(chunks), next(chunks)
    assert (first.first_sample_id, first.n_samples) == (0, 1000)
    assert (second.first_sample_id, second.n_samples) == (2000, 1000)
    ids = np.arange(2000, 3000)
    assert np.array_equal(second.digital["gpi[0]"], ((ids // 100) % 2).astype(bool))
    assert np.allclose(second.current_a, ids * 1e-6) and second.current_a.dtype == np.float32
    device.produce(5000)
    third = next(chunks)
    assert third.first_sample_id == 4000  # the id jump is kept, never hidden
    js.stop()
    assert list(chunks) == []
    assert js.stats.dropped_ranges == [(1000, 2000), (3000, 4000)]
    assert js.stats.samples_dropped == 2000 and js.stats.samples_received == 3000


def test_stop_with_a_full_queue_still_ends_the_stream_cleanly() -> None:
    """The end marker may not fit a full queue; chunks() must still finish after draining,
    not wait for its timeout."""
    device = _StandInDevice()
    js = Joulescope(device, queue_chunks=1)
    js.configure_stream(StreamRequest(1_000_000))
    js.start()
    device.produce(1000)  # fills the one-chunk queue
    js.stop()  # the end marker does not fit
    chunks = list(js.chunks(timeout_s=30.0))
    assert [c.first_sample_id for c in chunks] == [0]


def test_safe_shutdown_logs_a_failing_stop_and_still_closes(caplog) -> None:
    class _FailingDevice(_StandInDevice):
        closed = False

        def stop(self) -> None:
            raise OSError("USB gone")

        def close(self) -> None:
            self.closed = True

    device = _FailingDevice()
    js = Joulescope(device)
    js.configure_stream(StreamRequest(1_000_000))
    js.start()
    with caplog.at_level("WARNING"):
        js.safe_shutdown()  # never raises
    assert device.closed
    assert "shutdown step 'stop' failed: USB gone" in caplog.text


@pytest.mark.parametrize(("model", "allowed"), [("js220", False), ("js110", True)])
def test_2a_range_exists_on_the_js110_only(model, allowed) -> None:
    """pyjoulescope's JS220 device runs an i_range of "2 A" in its 10 A range (the JS220 has no
    2 A range): the driver refuses it there instead of measuring in another range."""
    device = _StandInDevice()
    device.model = model
    driver = Joulescope(device)
    request = StreamRequest(1_000_000, current_range_a=2.0)
    if allowed:
        driver.configure_stream(request)
        assert device.params["i_range"] == "2 A"
    else:
        with pytest.raises(ConfigError, match=r"2 A is not a range of JS220 \(10 A, 180 mA.*JS110"):
            driver.configure_stream(request)
        assert "i_range" not in device.params  # refused before anything was set
    driver.configure_stream(StreamRequest(1_000_000, current_range_a=0.018))
    assert (device.params["i_range"], device.params["v_range"]) == ("18 mA", "15V")
