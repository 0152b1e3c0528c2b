"""Keysight B2900 driver: scripted exchanges, and against its simulator over pyvisa-py."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from lab_support import add_mlperf_window

from energybench.errors import (
    AcquisitionError,
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
    TransportError,
)
from energybench.instruments.capabilities import (
    CaptureRequest,
    PowerSupply,
    SyncSpec,
    TriggeredMeter,
)
from energybench.instruments.keysight_b2900 import KeysightB2900
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keysight.keysight_b2900 import SimKeysightB2900
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.scpi_server import binary_block
from energybench.transport.scripted import ScriptedTransport

IDN = "Keysight Technologies,B2901A,MY51140001,3.4.2011.5100"
NO_ERROR = '+0,"No error"'
LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.1)
DIO = SyncSpec("hw_trigger_start", "EXT1", "falling")


# an MLPerf-style window (50 µs pulses), the timeline advanced 10 ms past its end edge
add_window = functools.partial(
    add_mlperf_window,
    pulse_s=50e-6,
    idle_lead_s=0.01,
    active_delay_s=0.0003,
    active_tail_s=0.0004,
    settle_s=0.01,
)


# ---- scripted -------------------------------------------------------------------------


def test_supply_sequence_scripted() -> None:
    t = ScriptedTransport(
        [
            ("*IDN?", IDN),
            (":SOUR1:FUNC:MODE VOLT", None),
            (":SOUR1:VOLT 1.8", None),
            (":SYST:ERR?", NO_ERROR),
            (":SENS1:CURR:PROT 0.05", None),
            (":SYST:ERR?", NO_ERROR),
            (":OUTP1 ON", None),
            (":SYST:ERR?", NO_ERROR),
            (":OUTP1?", "1"),
        ]
    )
    smu = KeysightB2900(t, LIMITS)
    assert smu.identify().model == "B2901A"
    smu.set_voltage(1.8)
    smu.set_current_limit(0.05)
    smu.set_output(True)
    assert smu.output_enabled()
    t.assert_done()


def test_capture_configuration_scripted_reads_back_accepted_values() -> None:
    t = ScriptedTransport(
        [
            (":FORM REAL,32", None),
            (":FORM:BORD NORM", None),
            (':SENS1:FUNC "CURR","VOLT"', None),
            (":SENS1:CURR:RANG:AUTO OFF", None),
            (":SENS1:CURR:RANG 0.01", None),
            (":SENS1:CURR:APER 2.53e-05", None),
            (":TRIG1:ACQ:SOUR TIM", None),
            (":TRIG1:ACQ:TIM 2.53e-05", None),
            (":TRIG1:ACQ:COUN 1000", None),
            (":SOUR:DIG:EXT3:FUNC TINP", None),
            (":SOUR:DIG:EXT3:POL NEG", None),
            (":ARM1:ACQ:SOUR EXT3", None),
            (":ARM1:ACQ:COUN 1", None),
            (":SYST:ERR?", NO_ERROR),
            (":SENS1:CURR:APER?", "+2.500000000E-05"),
            (":TRIG1:ACQ:TIM?", "+2.500000000E-05"),
            (":TRIG1:ACQ:COUN?", "1000"),
            (":SENS1:CURR:RANG?", "+1.000000000E-02"),
            (":INIT:ACQ (@1)", None),
            (":SYST:ERR?", NO_ERROR),
        ]
    )
    smu = KeysightB2900(t, LIMITS, data_format="REAL,32", byte_order="NORM")
    settings = smu.configure_capture(
        CaptureRequest(
            0.0253, 25.3e-6, current_range_a=0.01, sync=SyncSpec("hw_trigger_start", "EXT3")
        )
    )
    assert settings.sample_interval_s == 25e-6 and settings.n_points == 1000
    assert settings.current_range_a == 0.01
    smu.arm()
    t.assert_done()


def test_batch_errors_raise_with_entries() -> None:
    t = ScriptedTransport(
        [
            (":SENS1:CURR:PROT 0.05", None),
            (":SYST:ERR?", '-222,"Data out of range"'),
            (":SYST:ERR?", NO_ERROR),
        ]
    )
    with pytest.raises(InstrumentError, match="Data out of range") as info:
        KeysightB2900(t, LIMITS).set_current_limit(0.05)
    assert info.value.details["commands"] == [":SENS1:CURR:PROT 0.05"]
    t.assert_done()


def test_safety_refusals_send_nothing() -> None:
    t = ScriptedTransport([])
    smu = KeysightB2900(t, LIMITS)
    with pytest.raises(SafetyLimitError):
        smu.set_voltage(5.0)
    with pytest.raises(SafetyLimitError):
        smu.set_current_limit(0.5)
    with pytest.raises(SafetyLimitError, match="before switching the output on"):
        smu.set_output(True)
    with pytest.raises(SafetyLimitError, match=r"above the keysight_b2900 .*rating of 3\.03 A"):
        KeysightB2900(t, SafetyLimits(10.0, 5.0)).set_current_limit(4.0)
    with pytest.raises(ConfigError, match="buffer"):
        smu.configure_capture(CaptureRequest(10.0, 20e-6))
    with pytest.raises(ConfigError, match="minimum"):
        smu.configure_capture(CaptureRequest(0.1, 5e-6))
    with pytest.raises(ConfigError, match="pre-trigger"):
        smu.configure_capture(CaptureRequest(0.1, 1e-3, pretrigger_s=0.01))
    with pytest.raises(ConfigError, match="exceeds the largest range 3 A"):
        smu.configure_capture(CaptureRequest(0.1, 1e-3, current_range_a=5.0))
    with pytest.raises(ConfigError, match="must be > 0 A"):
        smu.configure_capture(CaptureRequest(0.1, 1e-3, current_range_a=0.0))
    assert t.sent == []


def test_safe_shutdown_is_idempotent_and_never_raises() -> None:
    t = ScriptedTransport(
        [(":ABOR:ACQ (@1)", None), (":OUTP1 OFF", None), (":SYST:ERR?", NO_ERROR)]
    )
    smu = KeysightB2900(t)
    smu.safe_shutdown()
    smu.safe_shutdown()  # the script is exhausted: every step fails, nothing raises
    t.assert_done()


def test_registered_and_protocols() -> None:
    cls = load_driver("keysight_b2900")
    assert cls is KeysightB2900
    smu = KeysightB2900(ScriptedTransport([]))
    assert isinstance(smu, PowerSupply) and isinstance(smu, TriggeredMeter)


# ---- against the simulator -----------------------------------------------------------


def _power_up(smu: KeysightB2900) -> None:
    smu.set_voltage(1.8)
    smu.set_current_limit(0.05)
    smu.set_output(True)


@pytest.mark.parametrize(
    ("data_format", "byte_order"),
    [("REAL,64", "SWAP"), ("REAL,64", "NORM"), ("REAL,32", "SWAP"), ("REAL,32", "NORM")],
)
def test_dio_triggered_capture_integrates_exactly(data_format: str, byte_order: str) -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl).start()
    try:
        smu = KeysightB2900.open(
            sim.resource, LIMITS, data_format=data_format, byte_order=byte_order
        )
        with smu:
            _power_up(smu)
            settings = smu.configure_capture(
                CaptureRequest(0.2, 50e-6, current_range_a=0.01, sync=DIO)
            )
            assert settings.n_points == 4000
            smu.arm()
            t_edge = 0.3137
            add_window(tl, t_edge, 0.15, active_a=6.1e-3, idle_a=0.7e-3)
            capture = smu.fetch(timeout_s=5.0)
            trace = capture.trace
            assert trace.sample_kind == "bin" and trace.missing_count == 0
            chunk = trace.read(0, trace.n_samples)
            energy = float(np.sum(chunk.power_w()) / trace.sample_rate_hz)
            truth = tl.energy_j(t_edge, t_edge + 0.2)
            assert energy == pytest.approx(truth, rel=1e-6)  # float32 rounding averages out
        assert not tl.supply_state(tl.now_s)[1]  # output off after the context
    finally:
        sim.stop()


def test_capture_with_errors_within_bound() -> None:
    tl = Timeline()
    model = MeasurementModel(gain_error=2e-4, offset=2e-6, noise_rms=5e-6, seed=3)
    vmodel = MeasurementModel(gain_error=1e-4, offset=3.5e-4, noise_rms=1e-4, seed=4)
    sim = SimKeysightB2900(tl, measurement=model, voltage_measurement=vmodel).start()
    try:
        with KeysightB2900.open(sim.resource, LIMITS) as smu:
            _power_up(smu)
            smu.configure_capture(CaptureRequest(0.2, 50e-6, current_range_a=0.01, sync=DIO))
            smu.arm()
            add_window(tl, 0.5, 0.15, active_a=6e-3, idle_a=1e-3)
            trace = smu.fetch(5.0).trace
            chunk = trace.read(0, trace.n_samples)
            n = trace.n_samples
            mean_i, mean_v = tl.charge_c(0.5, 0.7) / 0.2, 1.8
            bound_i = model.error_bound(mean_i, n)
            bound_v = vmodel.error_bound(mean_v, n)
            bound = (bound_i * mean_v + bound_v * mean_i + bound_i * bound_v) * 0.2
            energy = float(np.sum(chunk.power_w()) / trace.sample_rate_hz)
            truth = tl.energy_j(0.5, 0.7)
            assert abs(energy - truth) <= bound
            assert abs(energy - truth) > 0  # the errors were applied
    finally:
        sim.stop()


def test_accepted_interval_and_aperture_read_back() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl, model="B2911A").start()
    try:
        with KeysightB2900.open(sim.resource, LIMITS) as smu:
            settings = smu.configure_capture(CaptureRequest(0.01, 12.4e-6, current_range_a=1e-3))
            assert settings.sample_interval_s == pytest.approx(12e-6)
            assert settings.n_points == round(0.01 / 12.4e-6)
            assert settings.current_range_a == pytest.approx(1e-3)
            assert sim.channels[1].aperture_s == pytest.approx(12e-6)
    finally:
        sim.stop()


def test_no_edge_times_out_then_shutdown_and_sim_wiring() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl, timestamp_ext=2).start()  # pin wired to EXT2, driver arms EXT1
    try:
        smu = KeysightB2900.open(sim.resource, LIMITS)
        _power_up(smu)
        smu.configure_capture(CaptureRequest(0.01, 1e-3, sync=DIO))
        smu.arm()
        add_window(tl, 0.1, 0.05, 5e-3, 1e-3)
        with pytest.raises(InstrumentTimeoutError, match="not complete"):
            smu.fetch(timeout_s=0.3)
        smu.safe_shutdown()
        assert not tl.supply_state(tl.now_s)[1]
        smu.close()
    finally:
        sim.stop()


def test_over_range_is_refused_as_acquisition_error() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl).start()
    try:
        with KeysightB2900.open(sim.resource, LIMITS) as smu:
            _power_up(smu)
            smu.configure_capture(CaptureRequest(0.05, 1e-3, current_range_a=1e-3, sync=DIO))
            smu.arm()
            add_window(tl, 0.1, 0.04, active_a=5e-3, idle_a=0.5e-3)
            with pytest.raises(AcquisitionError, match="over-range"):
                smu.fetch(5.0)
    finally:
        sim.stop()


def test_output_off_after_an_exception() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl).start()
    try:
        with (
            pytest.raises(RuntimeError, match="boom"),
            KeysightB2900.open(sim.resource, LIMITS) as smu,
        ):
            _power_up(smu)
            assert tl.supply_state(tl.now_s) == (1.8, True)
            raise RuntimeError("boom")
        assert tl.supply_state(tl.now_s)[1] is False
        assert ":OUTP1 OFF" in sim.log
    finally:
        sim.stop()


def test_ascii_format_in_sim_and_missing_as_9_91e37() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl, fetch_block_s=0.05)
    replies = sim.handle(
        ":TRIG:ACQ:SOUR TIM;:TRIG:ACQ:TIM 1e-3;:TRIG:ACQ:COUN 3;:SENS:CURR:APER 1e-3;"
        ":SOUR:DIG:EXT1:FUNC TINP;:ARM:ACQ:SOUR EXT1;:INIT:ACQ (@1);:FETC:ARR:CURR? (@1)"
    )
    assert replies == [b"+9.910000E+37,+9.910000E+37,+9.910000E+37"]
    assert sim.handle(":SYST:ERR?") == [b'0,"No error"']


# ---- fault knobs ---------------------------------------------------------------------


def test_fault_withheld_reply_times_out_within_bound() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl).start()
    try:
        smu = KeysightB2900.open(sim.resource, LIMITS, timeout_s=0.3)
        sim.faults.withhold_replies = 1
        with pytest.raises(InstrumentTimeoutError):
            smu.output_enabled()
        smu.close()
    finally:
        sim.stop()


def test_fault_pushed_errors_surface_with_entries() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl).start()
    try:
        with KeysightB2900.open(sim.resource, LIMITS) as smu:
            sim.faults.push_errors = ['-310,"System error"', '-350,"Queue overflow"']
            with pytest.raises(InstrumentError) as info:
                smu.set_voltage(1.8)
            assert info.value.details["errors"] == ['-310,"System error"', '-350,"Queue overflow"']
    finally:
        sim.stop()


def test_fault_closed_connection_mid_acquisition() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl).start()
    try:
        smu = KeysightB2900.open(sim.resource, LIMITS, timeout_s=1.0)
        _power_up(smu)
        smu.configure_capture(CaptureRequest(0.05, 1e-3, current_range_a=0.01, sync=DIO))
        smu.arm()
        add_window(tl, 0.1, 0.04, 5e-3, 1e-3)
        sim.faults.close_on = "FETC"
        with pytest.raises(TransportError):
            smu.fetch(5.0)
        smu.safe_shutdown()  # must not raise on a dead connection
        smu.close()
    finally:
        sim.stop()


def test_trigger_latency_and_aperture_headroom() -> None:
    tl = Timeline()
    sim = SimKeysightB2900(tl, trigger_latency_s=30e-6).start()
    try:
        with KeysightB2900.open(sim.resource, LIMITS, aperture_fraction=0.8) as smu:
            _power_up(smu)
            settings = smu.configure_capture(
                CaptureRequest(0.1, 100e-6, current_range_a=0.01, sync=DIO)
            )
            assert sim.channels[1].aperture_s == pytest.approx(80e-6)
            smu.arm()
            add_window(tl, 0.2, 0.05, active_a=5e-3, idle_a=1e-3)
            trace = smu.fetch(5.0).trace
            assert trace.sample_kind == "point" and settings.sample_interval_s == 100e-6
            current = trace.read(0, trace.n_samples).current_a
            # the edge at 0.2 s reaches the SMU 30 us late: sample k averages
            # [0.2 + 30 us + k * 100 us, + 80 us)
            starts = 0.2 + 30e-6 + np.arange(trace.n_samples) * 100e-6
            expected = [tl.charge_c(t, t + 80e-6) / 80e-6 for t in starts[:8]]
            assert current[:8] == pytest.approx(expected, rel=1e-9)
    finally:
        sim.stop()


def block(values: np.ndarray) -> bytes:
    return binary_block(values, "f4", big_endian=False) + b"\n"


def test_fetch_scripted_binary_blocks_and_nan_gaps() -> None:
    current = np.array([1e-3, np.nan, 2e-3, 4e-3])
    voltage = np.full(4, 1.8)
    times = np.arange(4) * 1e-3
    t = ScriptedTransport(
        [
            (":FORM REAL,32", None),
            (":FORM:BORD SWAP", None),
            (':SENS1:FUNC "CURR","VOLT"', None),
            (":SENS1:CURR:RANG:AUTO OFF", None),
            (":SENS1:CURR:RANG 0.01", None),
            (":SENS1:CURR:APER 0.001", None),
            (":TRIG1:ACQ:SOUR TIM", None),
            (":TRIG1:ACQ:TIM 0.001", None),
            (":TRIG1:ACQ:COUN 4", None),
            (":ARM1:ACQ:SOUR AINT", None),
            (":ARM1:ACQ:COUN 1", None),
            (":SYST:ERR?", NO_ERROR),
            (":SENS1:CURR:APER?", "+1.000000000E-03"),
            (":TRIG1:ACQ:TIM?", "+1.000000000E-03"),
            (":TRIG1:ACQ:COUN?", "4"),
            (":SENS1:CURR:RANG?", "+1.000000000E-02"),
            (":INIT:ACQ (@1)", None),
            (":SYST:ERR?", NO_ERROR),
            (":IDLE1:ACQ?", "0"),
            (":IDLE1:ACQ?", "1"),
            (":FETC:ARR:CURR? (@1)", block(current)),
            (":FETC:ARR:VOLT? (@1)", block(voltage)),
            (":FETC:ARR:TIME? (@1)", block(times)),
            (":SYST:ERR?", NO_ERROR),
        ]
    )
    smu = KeysightB2900(t, LIMITS, data_format="REAL,32", byte_order="SWAP")
    smu.configure_capture(CaptureRequest(4e-3, 1e-3, current_range_a=0.01))
    smu.arm()
    capture = smu.fetch(timeout_s=2.0)
    t.assert_done()
    trace = capture.trace
    assert trace.sample_kind == "bin" and trace.sample_rate_hz == pytest.approx(1000.0)
    assert [(r.start_id, r.stop_id) for r in trace.missing] == [(1, 2)]  # NaN: missing, listed
    chunk = trace.read(0, 4)
    assert chunk.current_a[[0, 2, 3]] == pytest.approx([1e-3, 2e-3, 4e-3], rel=1e-6)
