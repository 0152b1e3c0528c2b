"""Otii Arc/Ace driver: scripted JSON exchanges (exact lines), and against its simulator over TCP:
identify, licensing, a recorded GPIO window's energy, noise, safety and every fault knob."""

from __future__ import annotations

import json
import math
import time
from itertools import pairwise

import numpy as np
import pytest
from lab_support import add_mlperf_window

from energybench.acquisition.stream import StreamAcquisition
from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
    TransportError,
)
from energybench.instruments.capabilities import StreamRequest, SyncSpec
from energybench.instruments.otii import OtiiArc
from energybench.instruments.otii_json import DigitalLine, encode
from energybench.instruments.profiles import match_profiles
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.otii.otii import ARC_VOLTAGE_RATE_HZ, OtiiFaults, SimOtiiArc
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.transport.scripted import ScriptedTransport

FS = 4000.0
LIMITS = SafetyLimits(max_voltage_v=3.3, max_current_a=0.1)
DEV = "dev-1"
SYNC = SyncSpec("digital_channel", "i1", "falling")


# ---- scripted exchanges ---------------------------------------------------------------------
def req(n: int, cmd: str, data: dict | None = None) -> str:
    message = {"cmd": cmd, "trans_id": str(n), "type": "request"}
    if data is not None:
        message["data"] = data
    return encode(message)


def resp(n: int, cmd: str, data: dict | None = None, kind: str = "response") -> str:
    return json.dumps({"type": kind, "cmd": cmd, "data": data or {}, "trans_id": str(n)})


def scripted(exchanges) -> ScriptedTransport:
    return ScriptedTransport(
        exchanges, write_termination="\r\n", read_termination="\r\n", encoding="utf-8"
    )


def dev(**data) -> dict:
    return {"device_id": DEV, **data}


def test_requests_are_deterministic_json_lines() -> None:
    assert req(3, "arc_set_main", dev(enable=True)) == (
        '{"cmd":"arc_set_main","data":{"device_id":"dev-1","enable":true},'
        '"trans_id":"3","type":"request"}'
    )


def test_scripted_licence_and_identify_skip_information_progress_and_stale_replies() -> None:
    devices = {"devices": [{"device_id": DEV, "name": "Arc 17", "type": "Arc"}]}
    noise = (
        '{"type":"information","info":"x"}\r\n{"type":"progress","trans_id":"5","data":{}}\r\n'
        '{"type":"response","cmd":"old","trans_id":"99","data":{}}\r\n'
    )
    t = scripted([
        (req(1, "otii_is_logged_in"), resp(1, "otii_is_logged_in", {"logged_in": True})),
        (req(2, "otii_has_license", {"license_type": "Automation"}),
         resp(2, "otii_has_license", {"has_license": False})),
        (req(3, "otii_get_licenses"), resp(3, "otii_get_licenses", {"licenses": [
            {"id": 7, "type": "Pro", "available": True, "reserved_to": ""},
            {"id": 9, "type": "Automation", "available": True, "reserved_to": ""}]})),
        (req(4, "otii_reserve_license", {"license_id": 9}), resp(4, "otii_reserve_license")),
        (req(5, "otii_get_devices", {"timeout": 3}),
         (noise + resp(5, "otii_get_devices", devices) + "\r\n").encode()),
        (req(6, "arc_get_version", dev()),
         resp(6, "arc_get_version", {"hw_version": "1", "fw_version": "1.2.3"})),
        (req(7, "otii_return_license", {"license_id": 9}), resp(7, "otii_return_license")),
    ])  # fmt: skip
    driver = OtiiArc(t)
    driver.connect()
    info = driver.identify()
    assert (info.vendor, info.model, info.serial_number, info.firmware) == (
        "Qoitech", "Arc", "Arc 17", "1.2.3")  # fmt: skip
    assert [p.name for p in match_profiles(info)] == ["otii_arc"]
    driver.close()
    t.assert_done()


def test_scripted_supply_sets_max_current_before_output_and_refuses_before_sending() -> None:
    t = scripted([
        (req(1, "arc_set_main_voltage", dev(value=1.8)), resp(1, "arc_set_main_voltage")),
        (req(2, "arc_set_max_current", dev(value=0.05)), resp(2, "arc_set_max_current")),
        (req(3, "arc_set_main", dev(enable=True)), resp(3, "arc_set_main")),
        (req(4, "arc_get_main", dev()), resp(4, "arc_get_main", {"value": True})),
        (req(5, "arc_set_main", dev(enable=False)), resp(5, "arc_set_main")),
    ])  # fmt: skip
    driver = OtiiArc(t, LIMITS, device_id=DEV)
    with pytest.raises(SafetyLimitError):
        driver.set_voltage(5.0)
    with pytest.raises(SafetyLimitError):
        driver.set_current_limit(0.5)
    with pytest.raises(SafetyLimitError, match="current limit before"):
        driver.set_output(True)
    assert t.sent == []  # nothing reached the instrument
    driver.set_voltage(1.8)
    driver.set_current_limit(0.05)
    driver.set_output(True)
    assert driver.output_enabled() is True
    driver.safe_shutdown()
    t.assert_done()


def test_scripted_error_reply_raises_instrument_error_naming_the_command() -> None:
    error = json.dumps(
        {
            "type": "error",
            "cmd": "arc_set_main_voltage",
            "trans_id": "1",
            "errorcode": "Invalid key value",
            "data": {"key": "value", "value": 9},
        }
    )
    t = scripted([(req(1, "arc_set_main_voltage", dev(value=3.0)), error)])
    driver = OtiiArc(t, device_id=DEV)
    with pytest.raises(InstrumentError, match="arc_set_main_voltage: Invalid key value") as exc:
        driver.set_voltage(3.0)
    assert exc.value.details["errorcode"] == "Invalid key value"
    t.assert_done()


def _rec(channel: str, **extra) -> dict:
    return {"channel": channel, "device_id": DEV, "recording_id": 3, **extra}


def test_scripted_recording_to_chunks_with_a_sub_sample_pulse() -> None:
    """4 samples at 4 kS/s; a 10 µs low pulse at 0.1 ms (inside sample 0's bin) shows as
    sample 1 low (the first bin start after it); a fall at exactly 0.75 ms lands on sample 3."""
    analog = {"data_type": "analog", "timestamp": 0.0, "interval": 0.00025}
    i1 = [
        {"timestamp": 0.0, "value": True},
        {"timestamp": 0.0001, "value": False},
        {"timestamp": 0.00011, "value": True},
        {"timestamp": 0.00075, "value": False},
    ]
    t = scripted([
        (req(1, "arc_set_range", dev(range="high")), resp(1, "arc_set_range")),
        (req(2, "arc_enable_channel", dev(channel="mc", enable=True)), resp(2, "x")),
        (req(3, "arc_enable_channel", dev(channel="mv", enable=True)), resp(3, "x")),
        (req(4, "arc_enable_channel", dev(channel="i1", enable=True)), resp(4, "x")),
        (req(5, "arc_get_channel_samplerate", dev(channel="mc")), resp(5, "x", {"value": 4000})),
        (req(6, "arc_get_channel_samplerate", dev(channel="mv")), resp(6, "x", {"value": 1000})),
        (req(7, "otii_get_active_project"), resp(7, "x", {"project_id": -1})),
        (req(8, "otii_create_project"), resp(8, "x", {"project_id": 1})),
        (req(9, "project_start_recording", {"project_id": 1}), resp(9, "x")),
        (req(10, "project_get_last_recording", {"project_id": 1}),
         resp(10, "x", {"recording_id": 3, "name": "Recording 3"})),
        (req(11, "recording_get_channel_data_count", _rec("mc")), resp(11, "x", {"count": 4})),
        (req(12, "recording_get_channel_data_count", _rec("mv")), resp(12, "x", {"count": 1})),
        (req(13, "recording_get_channel_data", _rec("mc", count=4, index=0)),
         resp(13, "x", {**analog, "values": [0.001, 0.002, 0.003, 0.004]})),
        (req(14, "recording_get_channel_data", _rec("mv", count=1, index=0)),  # 1 kS/s
         resp(14, "x", {**analog, "interval": 0.001, "values": [1.8]})),
        (req(15, "recording_get_channel_data_count", _rec("i1")), resp(15, "x", {"count": 4})),
        (req(16, "recording_get_channel_data", _rec("i1", count=4, index=0)),
         resp(16, "x", {"data_type": "digital", "values": i1})),
        (req(17, "project_stop_recording", {"project_id": 1}), resp(17, "x")),
        (req(18, "recording_get_channel_data_count", _rec("mc")), resp(18, "x", {"count": 4})),
        (req(19, "recording_get_channel_data_count", _rec("mv")), resp(19, "x", {"count": 1})),
        (req(20, "recording_get_channel_statistics", _rec("mc", **{"from": 0.0, "to": 0.001})),
         resp(20, "x", {"min": 0.001, "max": 0.004, "average": 0.0025, "energy": 1.125e-5})),
    ])  # fmt: skip
    driver = OtiiArc(t, device_id=DEV, digital_lag_s=0.0)
    settings = driver.configure_stream(StreamRequest(4000, sync=SYNC))
    assert (settings.sample_rate_hz, settings.sample_kind, settings.digital_names) == (
        4000.0, "bin", ("i1",))  # fmt: skip
    driver.start()
    got = []
    for chunk in driver.chunks(timeout_s=1.0):
        got.append(chunk)
        driver.stop()  # from the reader itself: it drains and ends
    assert len(got) == 1
    chunk = got[0]
    assert (chunk.first_sample_id, chunk.n_samples) == (0, 4)
    assert chunk.digital["i1"].tolist() == [True, False, True, False]
    assert np.allclose(chunk.power_w(), [0.0018, 0.0036, 0.0054, 0.0072])
    assert driver.edge_times_s("falling") == [0.0001, 0.00075]
    assert driver.recorded_energy_j(0.0, 0.001) == pytest.approx(1.125e-5)
    t.assert_done()


@pytest.mark.parametrize("mv_rate", [3000, 0])
def test_a_voltage_rate_that_does_not_divide_the_currents_is_refused(mv_rate) -> None:
    t = scripted([
        (req(1, "arc_set_range", dev(range="high")), resp(1, "arc_set_range")),
        (req(2, "arc_enable_channel", dev(channel="mc", enable=True)), resp(2, "x")),
        (req(3, "arc_enable_channel", dev(channel="mv", enable=True)), resp(3, "x")),
        (req(4, "arc_enable_channel", dev(channel="i1", enable=True)), resp(4, "x")),
        (req(5, "arc_get_channel_samplerate", dev(channel="mc")), resp(5, "x", {"value": 4000})),
        (req(6, "arc_get_channel_samplerate", dev(channel="mv")),
         resp(6, "x", {"value": mv_rate})),
    ])  # fmt: skip
    with pytest.raises(InstrumentError, match=f"mv samples at {mv_rate} Hz, not a whole fraction"):
        OtiiArc(t, device_id=DEV).configure_stream(StreamRequest(4000, sync=SYNC))
    t.assert_done()


def test_digital_line_pushes_crowded_transitions_and_refuses_late_ones() -> None:
    line = DigitalLine("i1", 1000.0)
    line.add(
        [
            {"timestamp": 0.0, "value": True},
            {"timestamp": 0.0021, "value": False},
            {"timestamp": 0.0022, "value": True},
            {"timestamp": 0.0023, "value": False},
        ]
    )
    assert line.render(0, 6).tolist() == [True, True, True, False, True, False]
    assert line.pushed == 2
    with pytest.raises(InstrumentError, match="arrived after"):
        line.add([{"timestamp": 0.0041, "value": True}])


# ---- against the simulator over TCP --------------------------------------------------------
def grid(t_s: float) -> float:
    return round(t_s * FS) / FS


def add_window(tl: Timeline, start_s: float, duration_s: float, active_a: float) -> None:
    """MLPerf-style window on the 4 kS/s grid: 10 µs falling timestamp pulses at both ends."""
    add_mlperf_window(
        tl, start_s, duration_s, active_a, 2e-3, pulse_s=10e-6, burst=True, grid_hz=FS
    )


class ListSink:
    def __init__(self) -> None:
        self.chunks = []

    def append(self, chunk) -> None:
        self.chunks.append(chunk)

    def close(self) -> None:
        pass


def bench(**sim_kw):
    tl = Timeline(supply_voltage_v=0.0, output_on=False, output_resistance_ohm=0.05)
    tl.set_load_current(0.0, 2e-3)
    sim = SimOtiiArc(tl, **sim_kw).start()
    return tl, sim


def record_window(driver: OtiiArc, tl: Timeline) -> tuple[list, float, float]:
    """Power on, record one window through StreamAcquisition; returns chunks and edge times."""
    driver.set_voltage(1.8)
    driver.set_current_limit(0.05)
    driver.set_output(True)
    start = grid(tl.now_s + 0.05)
    add_window(tl, start, 0.2, 10e-3)
    sink = ListSink()
    with StreamAcquisition(driver, sink, StreamRequest(FS, sync=SYNC)) as acq:
        acq.wait_for_edges(2, timeout_s=10.0)
    return sink.chunks, start, grid(start + 0.2)


def window_energy(chunks: list) -> tuple[float, int]:
    bits = np.concatenate([c.digital["i1"] for c in chunks])
    power = np.concatenate([c.power_w() for c in chunks])
    falling = np.flatnonzero(bits[:-1] & ~bits[1:]) + 1
    assert falling.size == 2, falling
    a, b = int(falling[0]), int(falling[1])
    return float(np.sum(power[a:b]) / FS), b - a


def test_profile_and_example_bench_agree_with_the_driver() -> None:
    import tomllib
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "instruments"
    profile = tomllib.loads((folder / "otii_arc.toml").read_text())["instrument"]
    assert (profile["driver"], profile["kind"]) == ("otii", OtiiArc.kind)
    assert tuple(profile["sync_modes"]) == OtiiArc.sync_modes
    bench_file = tomllib.loads((folder / "examples" / "otii_arc.bench.toml").read_text())
    assert bench_file["meter"]["driver"] == "otii" and "driver" not in bench_file["supply"]
    assert bench_file["sync"]["mode"] in profile["sync_modes"]
    assert bench_file["sync"]["line"] in profile["sync_lines"]
    assert bench_file["meter"]["resource"].endswith(":1905")
    assert (profile["max_sample_rate_hz"], profile["voltage_sample_rate_hz"]) == (
        FS,
        ARC_VOLTAGE_RATE_HZ,
    )  # the simulator's Arc samples as Qoitech documents


def test_identify_and_profile_over_tcp() -> None:
    _, sim = bench()
    try:
        driver = OtiiArc.open(sim.resource, LIMITS)
        assert driver.info is not None and driver.info.model == "Arc"
        assert [p.name for p in match_profiles(driver.info)] == ["otii_arc"]
        assert sim.licenses[0]["reserved_to"]  # the Automation licence is held ...
        driver.close()
        deadline = time.monotonic() + 2.0
        while sim.licenses[0]["reserved_to"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not sim.licenses[0]["reserved_to"]  # ... and returned at close
    finally:
        sim.stop()


def test_recorded_window_energy_is_exact_and_matches_the_otii_statistics() -> None:
    tl, sim = bench()
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            chunks, start, end = record_window(driver, tl)
            energy_j, _ = window_energy(chunks)
            truth_j = tl.energy_j(start, end)
            assert energy_j == pytest.approx(truth_j, rel=1e-6)
            t_rec = sim.recording.t_start_s
            edges = driver.edge_times_s("falling")
            assert edges == pytest.approx([start - t_rec, end - t_rec], abs=1e-12)
            assert driver.recorded_energy_j(edges[0], edges[1]) == pytest.approx(truth_j, rel=1e-6)
            assert chunks[0].first_sample_id == 0
            assert all(c.stop_sample_id == n.first_sample_id for c, n in pairwise(chunks))
            assert driver.stats.samples_dropped == 0
    finally:
        sim.stop()


def test_arc_voltage_at_1_ks_is_held_over_the_four_current_samples_it_spans() -> None:
    """The Arc samples voltage at 1 kS/s and current at 4 kS/s (Qoitech, "Otii and short
    pulses"): the driver reads mv at its own rate (it raised "interval ... does not match 4000
    Hz" before) and holds each 1 ms average over its four current samples."""
    tl, sim = bench()
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            chunks, start, end = record_window(driver, tl)
            assert (
                driver._request("arc_get_channel_samplerate", driver._device({"channel": "mv"}))[
                    "value"
                ]
                == 1000
            )
            mv = sim.recording.array("mv").copy()
    finally:
        sim.stop()
    assert chunks[0].first_sample_id == 0
    voltage = np.concatenate([np.broadcast_to(c.voltage_v, c.n_samples) for c in chunks])
    whole = voltage.size // 4 * 4
    np.testing.assert_array_equal(
        voltage[:whole].reshape(-1, 4), np.repeat(mv[: whole // 4, None], 4, 1)
    )
    assert voltage.size <= 4 * mv.size  # never a current sample without its voltage sample
    assert np.ptp(mv) > 0  # the rail droops with the load: the samples do differ
    energy_j, _ = window_energy(chunks)
    assert energy_j == pytest.approx(tl.energy_j(start, end), rel=1e-5)


def test_window_energy_with_measurement_errors_is_within_the_error_bound() -> None:
    model = MeasurementModel(gain_error=2e-3, offset=5e-6, noise_rms=2e-4, resolution=1e-6)
    tl, sim = bench(measurement=model, seed=7)
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            chunks, start, end = record_window(driver, tl)
            energy_j, n = window_energy(chunks)
            truth_j = tl.energy_j(start, end)
            mean_a = tl.charge_c(start, end) / (end - start)
            bound_j = 1.8 * (end - start) * model.error_bound(mean_a, n)
            assert abs(energy_j - truth_j) <= bound_j
            assert energy_j != pytest.approx(truth_j, rel=1e-9)  # the errors were applied
            t_rec = sim.recording.t_start_s
            otii_j = driver.recorded_energy_j(start - t_rec, end - t_rec)
            assert otii_j == pytest.approx(energy_j, rel=1e-9)  # the same measured samples
    finally:
        sim.stop()


def test_limits_refused_over_tcp_with_nothing_sent() -> None:
    tl, sim = bench()
    try:
        driver = OtiiArc.open(sim.resource, LIMITS)
        sent = len(sim.commands)
        for action in (lambda: driver.set_voltage(3.5), lambda: driver.set_current_limit(0.2),
                       lambda: driver.set_output(True)):  # fmt: skip
            with pytest.raises(SafetyLimitError):
                action()
        assert len(sim.commands) == sent
        assert tl.supply_state(tl.now_s) == (0.0, False)
        driver.close()
    finally:
        sim.stop()


def test_output_off_after_an_exception_in_the_with_block() -> None:
    tl, sim = bench()
    try:
        with pytest.raises(RuntimeError, match="boom"), OtiiArc.open(sim.resource, LIMITS) as d:
            d.set_voltage(1.8)
            d.set_current_limit(0.05)
            d.set_output(True)
            assert tl.supply_state(tl.now_s) == (1.8, True)
            d.configure_stream(StreamRequest(FS, sync=SYNC))
            d.start()
            raise RuntimeError("boom")
        assert tl.supply_state(tl.now_s) == (1.8, False)
        assert not sim.recording.running
        assert sim.commands.index("arc_set_max_current") < sim.commands.index("arc_set_main")
    finally:
        sim.stop()


def test_arc_rate_is_fixed_and_the_ace_rate_is_set_and_read_back() -> None:
    _, sim = bench()
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            with pytest.raises(ConfigError, match="4000 Hz"):
                driver.configure_stream(StreamRequest(10_000))
            with pytest.raises(ConfigError, match="sync line"):
                driver.configure_stream(StreamRequest(FS, sync=SyncSpec("digital_channel", "d7")))
    finally:
        sim.stop()
    _, sim = bench(model="Ace")
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            assert driver.configure_stream(StreamRequest(10_000)).sample_rate_hz == 10_000
            assert sim.sample_rate_hz == 10_000
    finally:
        sim.stop()


def test_login_with_credentials_and_refusal_without(monkeypatch) -> None:
    monkeypatch.delenv("OTII_USERNAME", raising=False)
    monkeypatch.delenv("OTII_PASSWORD", raising=False)
    _, sim = bench(logged_in=False)
    try:
        with pytest.raises(InstrumentError, match="not logged in"):
            OtiiArc.open(sim.resource, LIMITS)
        driver = OtiiArc.open(sim.resource, LIMITS, username="lab", password="pw")
        assert sim.logged_in
        driver.close()
        deadline = time.monotonic() + 2.0
        while sim.logged_in and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not sim.logged_in  # logged out again: we logged in
    finally:
        sim.stop()


# ---- fault knobs -----------------------------------------------------------------------------
def test_delayed_reply_times_out_before_the_reply_and_the_stale_reply_is_skipped() -> None:
    _, sim = bench(faults=OtiiFaults(reply_delay_s={"arc_get_main": 1.5}))
    try:
        driver = OtiiArc.open(sim.resource, LIMITS, timeout_s=0.2)
        # a timeout (not the reply) proves it gave up before the delayed reply was sent
        with pytest.raises(InstrumentTimeoutError, match="no reply to arc_get_main"):
            driver.output_enabled()
        sim.faults.reply_delay_s.clear()
        version = driver.client.request("arc_get_version", {"device_id": sim.device_id}, 3.0)
        assert version["fw_version"]  # the late arc_get_main reply was skipped by trans_id
        driver.close()
    finally:
        sim.stop()


def test_withheld_reply_raises_timeout() -> None:
    _, sim = bench(faults=OtiiFaults(withhold={"arc_set_main_voltage"}))
    try:
        driver = OtiiArc.open(sim.resource, LIMITS, timeout_s=0.2)
        with pytest.raises(InstrumentTimeoutError, match="arc_set_main_voltage"):
            driver.set_voltage(1.0)
        driver.safe_shutdown()
        driver.close()
    finally:
        sim.stop()


def test_error_reply_fault_and_unknown_command_are_typed_errors() -> None:
    _, sim = bench(faults=OtiiFaults(error_on={"arc_set_range": "Command failure"}))
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            with pytest.raises(InstrumentError, match="arc_set_range: Command failure"):
                driver.configure_stream(StreamRequest(FS, sync=SYNC))
            with pytest.raises(InstrumentError, match="otii_bogus: Invalid command"):
                driver.client.request("otii_bogus")
    finally:
        sim.stop()


def test_connection_closed_mid_acquisition_raises_transport_error_and_shutdown_is_quiet() -> None:
    _, sim = bench(faults=OtiiFaults(close_on={"recording_get_channel_data"}))
    try:
        driver = OtiiArc.open(sim.resource, LIMITS)
        driver.set_voltage(1.8)
        driver.set_current_limit(0.05)
        driver.set_output(True)
        driver.configure_stream(StreamRequest(FS, sync=SYNC))
        driver.start()
        with pytest.raises(TransportError):
            for _ in driver.chunks(timeout_s=5.0):
                pass
        driver.safe_shutdown()
        driver.safe_shutdown()
        driver.close()
    finally:
        sim.stop()


def test_chatter_information_and_progress_messages_are_ignored() -> None:
    tl, sim = bench(faults=OtiiFaults(chatter=True))
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            chunks, start, end = record_window(driver, tl)
            assert window_energy(chunks)[0] == pytest.approx(tl.energy_j(start, end), rel=1e-6)
    finally:
        sim.stop()


def _stepped(lag_s: float):
    """A recording whose timeline only the test advances (no idle time), GPI 20 ms late."""
    tl, sim = bench(faults=OtiiFaults(gpi_delay_s=0.02), idle_speed=1e-12)
    driver = OtiiArc.open(sim.resource, LIMITS, digital_lag_s=lag_s)
    driver.set_voltage(1.8)
    driver.set_current_limit(0.05)
    driver.set_output(True)
    add_window(tl, 0.05, 0.2, 10e-3)
    driver.configure_stream(StreamRequest(FS, sync=SYNC))
    driver.start()
    return tl, sim, driver, driver.chunks(timeout_s=5.0)


def test_late_gpi_transitions_are_absorbed_by_the_lag() -> None:
    tl, sim, driver, chunks = _stepped(lag_s=0.05)
    try:
        got = []
        for t in (0.06, 0.1, 0.26, 0.3):
            tl.advance_to(t)
            got.append(next(chunks))
        driver.stop()
        got += list(chunks)
        assert window_energy(got)[0] == pytest.approx(tl.energy_j(0.05, 0.25), rel=1e-6)
    finally:
        driver.safe_shutdown()
        driver.close()
        sim.stop()


def test_late_gpi_transitions_without_lag_are_refused_never_misplaced() -> None:
    tl, sim, driver, chunks = _stepped(lag_s=0.0)
    try:
        tl.advance_to(0.06)  # samples to 60 ms; the 50 ms edge is not visible until 70 ms
        assert next(chunks).digital["i1"].all()
        tl.advance_to(0.1)
        with pytest.raises(InstrumentError, match="arrived after its samples"):
            next(chunks)
    finally:
        driver.safe_shutdown()
        driver.close()
        sim.stop()


def test_stop_without_a_reader_leaves_the_rest_for_the_next_chunks_call() -> None:
    tl, sim = bench(idle_speed=1e-12)
    try:
        with OtiiArc.open(sim.resource, LIMITS) as driver:
            driver.configure_stream(StreamRequest(FS, sync=SYNC))
            driver.start()
            tl.advance_to(tl.now_s + 2.0)
            driver.stop()
            driver.stop()  # idempotent
            got = list(driver.chunks(timeout_s=5.0))
            assert sum(c.n_samples for c in got) == sim.recording.final_count() == 8000
            assert sim.commands.count("project_stop_recording") == 1
    finally:
        sim.stop()


def test_sim_raw_protocol_greeting_and_errors() -> None:
    import socket

    tl, sim = bench()
    try:
        host, port = sim.resource.removeprefix("otii://").split(":")
        with socket.create_connection((host, int(port)), timeout=2.0) as s:
            f = s.makefile("rb")
            assert json.loads(f.readline())["type"] == "information"
            s.sendall(b'{"type":"request","cmd":"arc_get_main","data":{},"trans_id":"7"}\r\n')
            reply = json.loads(f.readline())
            assert (reply["type"], reply["trans_id"], reply["errorcode"]) == (
                "error", "7", "No license")  # fmt: skip
            s.sendall(b"not json\r\n")
            assert json.loads(f.readline())["errorcode"] == "Not able to parse request"
    finally:
        sim.stop()
    assert math.isfinite(tl.now_s)
