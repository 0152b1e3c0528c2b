"""The Joulescope driver against the installed ``joulescope`` package's real v1 API (no device):
every device call goes to a spec built from the package's own ``DeviceJs220``/``DeviceJs110``
classes (a method that does not exist, or a wrong signature, fails), every parameter the driver
sets is validated by the real class's ``parameter_set`` (offline, it checks names and values
and queues them), and the samples come out of a real ``joulescope.v1.StreamBuffer`` filled as the
USB thread fills it. What this cannot prove: the device's own behaviour on the wire."""

from __future__ import annotations

import inspect
from unittest import mock

import joulescope
import numpy as np
import pytest
from joulescope.v1.js110 import DeviceJs110
from joulescope.v1.js220 import DeviceJs220
from joulescope.v1.stream_buffer import StreamBuffer

from energybench.errors import ConfigError
from energybench.instruments.capabilities import StreamRequest, SyncSpec
from energybench.instruments.joulescope import RATES_HZ, Joulescope
from energybench.instruments.registry import list_drivers

MODELS = {"js220": (DeviceJs220, 1_000_000), "js110": (DeviceJs110, 2_000_000)}


def spec_device(model: str) -> mock.NonCallableMagicMock:
    """A device whose every call is checked against the package's class; parameter_set is the
    real one on an unopened instance."""
    cls, _ = MODELS[model]
    real = cls(None, f"u/{model}/000415")
    device = mock.create_autospec(cls, instance=True)
    device.parameter_set.side_effect = real.parameter_set
    device.model, device.serial_number = real.model, real.serial_number
    device.real = real
    return device


def fill(buffer: StreamBuffer, first_id: int, n: int, rate_hz: int) -> np.ndarray:
    """Samples [first_id, first_id + n) into a real StreamBuffer as the driver thread inserts
    them (field ids and packed GPI bits of joulescope.v1); returns the gpi0 levels."""
    ids = np.arange(first_id, first_id + n)
    gpi0 = (ids // 100) % 2 == 1
    fields = {
        (1, 0): (ids * 1e-6).astype(np.float32),
        (2, 0): np.full(n, 1.8, dtype=np.float32),
        (3, 0): (ids * 1.8e-6).astype(np.float32),
        (4, 0): np.zeros(n, dtype=np.uint8),
        (5, 0): np.packbits(gpi0, bitorder="little"),
        (5, 1): np.zeros(n // 8, dtype=np.uint8),
    }
    for (field_id, index), data in fields.items():
        value = {"field_id": field_id, "index": index, "sample_id": first_id, "data": data,
                 "sample_rate": rate_hz, "decimate_factor": 1}  # fmt: skip
        buffer.insert("s/stream", value)
    return gpi0


def test_the_package_is_installed_and_the_driver_available() -> None:
    entry = {d.name: d for d in list_drivers()}["joulescope"]
    assert entry.available, entry.problem
    inspect.signature(joulescope.scan).bind(config="off")  # Joulescope._find's call


@pytest.mark.parametrize("model", list(MODELS))
def test_every_parameter_the_driver_sets_is_accepted_by_the_real_class(model) -> None:
    device = spec_device(model)
    js = Joulescope(device)
    _, max_rate = MODELS[model]
    for rate in (r for r in RATES_HZ if r <= max_rate):
        js.configure_stream(StreamRequest(rate))
    for range_a in js.current_ranges:  # the JS110's 2 A range too, on a JS110
        js.configure_stream(StreamRequest(max_rate, current_range_a=range_a))
    names = {c.args[0] for c in device.parameter_set.call_args_list}
    assert {"sampling_frequency", "buffer_duration", "i_range", "v_range"} <= names
    assert (2.0 in js.current_ranges) == (model == "js110")  # the JS220 has no 2 A range
    last_range = list(js.current_ranges.values())[-1]
    assert device.real.parameter_get("i_range") == last_range  # as the real class stored it
    with pytest.raises(ConfigError, match="current_range_a"):
        js.configure_stream(StreamRequest(max_rate, current_range_a=0.5))


@pytest.mark.parametrize("model", list(MODELS))
def test_a_stream_through_the_real_stream_buffer(model) -> None:
    device = spec_device(model)
    _, rate = MODELS[model]
    js = Joulescope(device)
    js.configure_stream(StreamRequest(rate, sync=SyncSpec("digital_channel", "gpi[0]")))
    js.start()
    device.stream_process_register.assert_called_once_with(js)
    device.start.assert_called_once()
    buffer = StreamBuffer(1.0, rate, None)
    gpi0 = fill(buffer, 0, 1000, rate)
    assert js.stream_notify(buffer) is False  # keep streaming
    gpi0 = np.concatenate([gpi0, fill(buffer, 1000, 2000, rate)])
    js.stream_notify(buffer)
    js.stop()
    device.stop.assert_called_once_with()
    device.stream_process_unregister.assert_called_once_with(js)
    chunks = list(js.chunks(timeout_s=1.0))
    assert [(c.first_sample_id, c.n_samples) for c in chunks] == [(0, 1000), (1000, 2000)]
    current = np.concatenate([c.current_a for c in chunks])
    assert np.allclose(current, np.arange(3000) * 1e-6)
    assert np.array_equal(np.concatenate([c.digital["gpi[0]"] for c in chunks]), gpi0)
    js.safe_shutdown()
    device.close.assert_called_once_with()


def test_open_scans_with_the_package_signature(monkeypatch) -> None:
    device = spec_device("js220")
    scan = mock.create_autospec(joulescope.scan, return_value=[device])
    monkeypatch.setattr(joulescope, "scan", scan)
    js = Joulescope.open("joulescope://")
    scan.assert_called_once_with(config="off")
    device.open.assert_called_once_with()
    assert js.identify().model == "JS220" and js.resource == "joulescope://000415"
