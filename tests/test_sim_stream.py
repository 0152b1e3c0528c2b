"""The Joulescope-shaped streaming source and its driver, over real local TCP sockets."""

from __future__ import annotations

import time

import numpy as np
import pytest
from stream_testlib import V_SUPPLY, WindowIntegrator, add_window, bench_timeline

from energybench.errors import ConfigError, InstrumentError, InstrumentTimeoutError, TransportError
from energybench.instruments.capabilities import StreamingMeter, StreamRequest, SyncSpec
from energybench.instruments.registry import list_drivers, load_driver
from energybench.instruments.sim_stream import SimStreamMeter
from energybench.sim.instruments.stream_source import SimStreamSource, StreamFaults
from energybench.sim.physics.measurement import MeasurementModel

SYNC = SyncSpec("digital_channel", "gpi[0]", "falling")


def _stream(meter: SimStreamMeter, n_samples: int, timeout_s: float = 10.0):
    """Chunks until n_samples have arrived; then stop the meter."""
    got = 0
    for chunk in meter.chunks(timeout_s):
        yield chunk
        got += chunk.n_samples
        if got >= n_samples:
            break
    meter.stop()


def test_identify_rates_and_registry() -> None:
    tl = bench_timeline()
    with SimStreamSource(tl) as src:
        assert src.driver == "sim_stream"
        cls = load_driver(src.driver)
        meter = cls.open(src.resource)
        try:
            assert isinstance(meter, StreamingMeter)
            info = meter.identify()
            assert (info.vendor, info.model) == ("energybench", "SimJS220")
            assert 2_000_000 in meter.supported_rates_hz()
            settings = meter.configure_stream(StreamRequest(1_000_000, sync=SYNC))
            assert settings.digital_names == ("gpi[0]",) and settings.sample_kind == "point"
        finally:
            meter.close()
    entry = {d.name: d for d in list_drivers()}["sim_stream"]
    assert entry.available and entry.sync_modes == ("digital_channel",)


def test_unsupported_requests_are_refused_before_streaming() -> None:
    tl = bench_timeline()
    with SimStreamSource(tl) as src:
        meter = SimStreamMeter.open(src.resource)
        try:
            with pytest.raises(ConfigError, match="sample_rate_hz"):
                meter.configure_stream(StreamRequest(1_500_000))
            with pytest.raises(ConfigError, match=r"sync\.line"):
                meter.configure_stream(
                    StreamRequest(1_000_000, sync=SyncSpec("digital_channel", "gpi[3]"))
                )
            with pytest.raises(ConfigError, match=r"sync\.mode"):
                meter.configure_stream(StreamRequest(1_000_000, sync=SyncSpec("hw_trigger_start")))
            with pytest.raises(InstrumentError, match="configure_stream"):
                meter.start()
        finally:
            meter.close()
        assert not any(c.startswith("START") for c in src.commands)
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        SimStreamSource(tl, sample_rate_hz=3_000_000)
    with pytest.raises(ConfigError, match="gpi"):
        SimStreamSource(tl, gpi=("no_such_pin",))


def _consecutive(rate_hz: int, seconds: float, *, packed: bool) -> tuple[int, int, int]:
    tl = bench_timeline()
    n_total = int(rate_hz * seconds)
    with SimStreamSource(tl) as src:
        meter = SimStreamMeter.open(src.resource, packed_gpi=packed)
        meter.configure_stream(StreamRequest(rate_hz, sync=SYNC))
        meter.start()
        tl.advance_to(seconds)  # the DUT's activity is final up to `seconds`
        expected = 0
        for chunk in _stream(meter, n_total):
            assert chunk.first_sample_id == expected
            assert chunk.digital["gpi[0]"].dtype == bool
            expected = chunk.stop_sample_id
        meter.close()
    # the frames still in flight at STOP were drained (and counted) by stop()
    assert meter.stats.samples_received >= expected
    return expected, meter.stats.samples_received, meter.stats.samples_dropped


@pytest.mark.parametrize("packed", [False, True])
def test_five_seconds_at_2msps_arrive_with_consecutive_ids(packed: bool) -> None:
    last_id, received, dropped = _consecutive(2_000_000, 5.0, packed=packed)
    assert last_id >= 10_000_000 and received >= last_id and dropped == 0


@pytest.mark.slow
def test_sixty_seconds_at_2msps_arrive_with_consecutive_ids() -> None:
    last_id, received, dropped = _consecutive(2_000_000, 60.0, packed=False)
    assert last_id >= 120_000_000 and received >= last_id and dropped == 0


def _window_energies(measurement: MeasurementModel | None, rate_hz: int = 2_000_000):
    tl = bench_timeline()
    add_window(tl, 0.5, 2.0, 20e-3)
    add_window(tl, 2.8, 2.0, 15e-3)
    integrator = WindowIntegrator()
    with SimStreamSource(tl, measurement=measurement, seed=7) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(rate_hz, sync=SYNC))
        meter.start()
        tl.advance_to(5.0)
        for chunk in _stream(meter, int(5.0 * rate_hz)):
            integrator.feed(chunk)
        meter.close()
    truth = [tl.energy_j(0.5, 2.5), tl.energy_j(2.8, 4.8)]
    return integrator, truth, tl


def test_window_energy_from_streamed_edges_matches_the_timeline() -> None:
    integrator, truth, tl = _window_energies(None)
    edges = tl.edges("timestamp", "falling")
    assert integrator.edge_ids == [int(np.ceil(t * 2_000_000)) for t in edges]
    measured = integrator.window_energies()
    assert len(measured) == 2
    for got, want in zip(measured, truth, strict=True):
        assert got == pytest.approx(want, rel=1e-6)


def test_window_energy_with_measurement_errors_is_within_the_error_bound() -> None:
    model = MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=50e-6, resolution=1e-7)
    integrator, truth, _ = _window_energies(model)
    means_a = (22e-3, 16.5e-3)  # 0.8 × active + 0.2 × 1.5 × active
    for got, want, i_mean in zip(integrator.window_energies(), truth, means_a, strict=True):
        n = int(2.0 * 2_000_000)
        bound_a = model.error_bound(i_mean, n)
        edge_j = 2 * V_SUPPLY * 0.03 / 2_000_000  # one sample of active power at each end
        assert abs(got - want) <= bound_a * V_SUPPLY * 2.0 + edge_j
        assert got != want  # the errors are really applied


def test_dropped_frame_is_a_reported_gap_with_true_ids() -> None:
    tl = bench_timeline()
    faults = StreamFaults(drop_frames={2, 5})
    with SimStreamSource(tl, faults=faults, frame_samples=10_000) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(1_000_000))
        meter.start()
        tl.advance_to(0.2)
        starts = [c.first_sample_id for c in _stream(meter, 150_000)]
        meter.close()
    assert 20_000 not in starts and starts[2] == 30_000
    assert meter.stats.dropped_ranges == [(20_000, 30_000), (50_000, 60_000)]
    assert meter.stats.samples_dropped == 20_000


def test_connection_closed_mid_frame_raises_transport_error() -> None:
    tl = bench_timeline()
    with SimStreamSource(tl, faults=StreamFaults(close_at_frame=3), frame_samples=10_000) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(1_000_000))
        meter.start()
        tl.advance_to(1.0)
        got = []
        with pytest.raises(TransportError, match="closed"):
            for chunk in meter.chunks(timeout_s=2.0):
                got.append(chunk.first_sample_id)
        assert got == [0, 10_000, 20_000]
        meter.safe_shutdown()  # never raises, even on a dead connection


def test_delayed_frame_surfaces_as_timeout() -> None:
    tl = bench_timeline()
    faults = StreamFaults(delay_frames={1: 1.5})
    with SimStreamSource(tl, faults=faults, frame_samples=10_000) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(1_000_000))
        meter.start()
        tl.advance_to(1.0)
        chunks = meter.chunks(timeout_s=0.3)
        assert next(chunks).first_sample_id == 0
        with pytest.raises(InstrumentTimeoutError):
            next(chunks)
        assert src.frames_sent == 1  # the bound fired while the late frame was still held back
        meter.safe_shutdown()


def test_idle_time_passes_when_caught_up_and_not_without_it() -> None:
    tl = bench_timeline()
    with SimStreamSource(tl, idle_speed=20.0) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(100_000))
        meter.start()
        got = sum(c.n_samples for c in _stream(meter, 50_000))  # 0.5 s of idle, never advanced
        meter.close()
    assert got >= 50_000 and tl.now_s >= 0.5
    assert meter.stats.samples_dropped == 0

    tl2 = bench_timeline()
    with SimStreamSource(tl2, idle_speed=None) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(100_000))
        meter.start()
        with pytest.raises(InstrumentTimeoutError):
            next(meter.chunks(timeout_s=0.3))
        assert tl2.now_s == 0.0  # nothing moved the clock but a producer would
        meter.safe_shutdown()


def test_realtime_pace_sends_no_sample_before_its_wall_instant() -> None:
    tl = bench_timeline()
    tl.advance_to(10.0)  # the data exists; realtime pace still paces it
    with SimStreamSource(tl, pace="realtime", frame_samples=1_000) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(10_000))
        meter.start()
        t0 = time.monotonic()
        first = None
        for chunk in _stream(meter, 3_000):
            first = chunk.first_sample_id if first is None else first
            elapsed = time.monotonic() - t0
            assert chunk.stop_sample_id - first <= (elapsed + 0.05) * 10_000 + 1_000
        meter.close()


def test_stop_without_a_reader_drains_and_a_new_start_continues_ids() -> None:
    tl = bench_timeline()
    with SimStreamSource(tl, frame_samples=5_000) as src:
        meter = SimStreamMeter.open(src.resource)
        meter.configure_stream(StreamRequest(100_000))
        meter.start()
        tl.advance_to(0.5)
        meter.stop()  # nobody iterated: stop drains up to the STOPPED reply
        assert "STOP" in src.commands
        info = meter.identify()  # the connection is usable again
        assert info.model == "SimJS220"
        meter.start()
        first = next(meter.chunks(2.0)).first_sample_id
        assert first >= 50_000  # ids continue from where the timeline is, never back
        meter.stop()
        meter.close()


def test_raw_protocol_replies_and_refusals() -> None:
    """The wire protocol itself, as documented in stream_framing (no driver involved)."""
    from energybench.instruments.stream_framing import HEADER_BYTES, REPLY, FrameHeader
    from energybench.transport import open_transport

    tl = bench_timeline()
    # idle_speed=None: no DATA frame can arrive between the two START replies
    with SimStreamSource(tl, idle_speed=None) as src, open_transport(src.resource) as t:

        def ask(command: str) -> str:
            t.write(command)
            header = FrameHeader.unpack(t.read_bytes(HEADER_BYTES))
            assert header.kind == REPLY
            return t.read_bytes(header.payload_bytes).decode()

        assert ask("GPI?") == "1"
        assert ask("START 123") == "ERR unsupported rate 123"
        assert ask("BOGUS").startswith("ERR unknown command")
        assert ask("START 1000") == "OK 0"
        assert ask("START 1000") == "ERR already streaming"  # idle: no DATA before the reply
        with pytest.raises(ValueError, match="magic"):
            FrameHeader.unpack(b"XXXX" + bytes(HEADER_BYTES - 4))


def test_a_second_client_is_refused_and_the_first_keeps_streaming() -> None:
    """One client at a time: a second connection gets ``ERR busy`` (the driver raises it in one
    line) and cannot stop the first client's stream."""
    with SimStreamSource(bench_timeline(), sample_rate_hz=10_000) as src:
        first = SimStreamMeter.open(src.resource)
        try:
            first.identify()
            second = SimStreamMeter.open(src.resource)
            try:
                with pytest.raises(InstrumentError, match="busy"):
                    second.identify()
            finally:
                second.close()
            assert first.identify().model  # the first client is still served
        finally:
            first.close()
        third = SimStreamMeter.open(src.resource)  # free again once the first left
        try:
            assert third.identify().model
        finally:
            third.close()
