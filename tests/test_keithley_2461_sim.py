"""Keithley 2450/2460/2461 driver against its simulator over pyvisa-py sockets."""

from __future__ import annotations

import numpy as np
import pytest
from keithley_helpers import append_window, window_energy_j
from lab_support import wait_until

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
from energybench.instruments.keithley_2400 import Keithley2450, Keithley2460, Keithley2461
from energybench.instruments.keithley_2600b import Keithley2600B
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keithley.keithley_2461 import SimKeithley2461
from energybench.sim.instruments.keithley.keithley_2600b import SimKeithley2600B
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline

LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.5)
START_STOP = SyncSpec("hw_trigger_start_stop", "DIG1", "falling")


@pytest.fixture
def tl() -> Timeline:
    return Timeline()


def _sim(tl: Timeline, **options) -> SimKeithley2461:
    return SimKeithley2461(tl, **options).start()


def _powered(driver: Keithley2461, voltage_v: float = 1.8) -> None:
    driver.set_voltage(voltage_v)
    driver.set_current_limit(0.1)
    driver.set_output(True)


def _capture(driver, tl, request: CaptureRequest, timeout_s: float = 3.0):
    driver.configure_capture(request)
    driver.arm()
    t_start, t_end = append_window(tl)
    return driver.fetch(timeout_s), t_start, t_end


def test_identify_registry_and_protocols(tl) -> None:
    sim = _sim(tl)
    try:
        assert load_driver(sim.driver) is Keithley2461
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            info = k.identify()
            assert (info.vendor, info.model) == ("KEITHLEY INSTRUMENTS", "MODEL 2461")
            assert info.serial_number == "04455555" and info.firmware == "1.7.0b"
            assert isinstance(k, PowerSupply) and isinstance(k, TriggeredMeter)
        with Keithley2461.open(f"tcp://127.0.0.1:{sim.server.port}", timeout_s=2.0) as raw:
            assert raw.identify().model == "MODEL 2461"  # the plain-socket transport too
        with (
            Keithley2450.open(sim.resource, timeout_s=2.0) as wrong,
            pytest.raises(InstrumentError, match="driver is for the Keithley 2450"),
        ):
            wrong.identify()
    finally:
        sim.stop()


@pytest.mark.parametrize(
    ("data_format", "big_endian"),
    [("REAL", False), ("REAL", True), ("SREAL", False), ("SREAL", True)],
)
def test_start_stop_window_energy_is_exact(tl, data_format, big_endian) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(
            sim.resource, LIMITS, timeout_s=2.0, data_format=data_format, big_endian=big_endian
        ) as k:
            k.identify()
            _powered(k)
            request = CaptureRequest(5e-3, 1e-6, current_range_a=0.02, sync=START_STOP)
            capture, t_start, t_end = _capture(k, tl, request)
            assert k.output_enabled()
        expected = tl.energy_j(t_start, t_end)
        assert capture.edge_positions[0] == 0.0
        assert capture.edge_positions[1] == pytest.approx((t_end - t_start) * 1e6, abs=1e-6)
        assert capture.trace.sample_kind == "bin" and capture.settings.sample_interval_s == 1e-6
        assert window_energy_j(capture) == pytest.approx(expected, rel=1e-6)
        assert not sim.output_on and not tl.supply_state(tl.now_s)[1]  # output off on exit
    finally:
        sim.stop()


def test_noisy_window_energy_within_error_bound(tl) -> None:
    model = MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=5e-5, resolution=1e-7, seed=4)
    sim = _sim(tl, measurement=model)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            request = CaptureRequest(5e-3, 2e-6, current_range_a=0.02, sync=START_STOP)
            capture, t_start, t_end = _capture(k, tl, request)
    finally:
        sim.stop()
    duration = t_end - t_start
    true_mean_a = tl.charge_c(t_start, t_end) / duration
    n = int(capture.edge_positions[1])
    bound_j = 1.8 * model.error_bound(true_mean_a, n) * duration
    error_j = window_energy_j(capture) - tl.energy_j(t_start, t_end)
    assert 0 < abs(error_j) <= bound_j


def test_start_triggered_capture_of_known_length(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k, 3.3)
            sync = SyncSpec("hw_trigger_start", "DIGIO1", "falling")
            request = CaptureRequest(1.5e-3, 3e-6, current_range_a=0.02, sync=sync)
            settings = k.configure_capture(request)
            assert settings.sample_interval_s == pytest.approx(3e-6, rel=1e-9)
            k.arm()
            t_start, _ = append_window(tl)
            capture = k.fetch(3.0)
    finally:
        sim.stop()
    n = capture.trace.n_samples
    assert n == settings.n_points == 500 and capture.edge_positions == (0.0,)
    assert window_energy_j(capture, n) == pytest.approx(
        tl.energy_j(t_start, t_start + n * 3e-6), rel=1e-9
    )


def test_sample_rate_is_quantised_and_read_back(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            settings = k.configure_capture(CaptureRequest(1e-3, 1 / 300e3, sync=START_STOP))
    finally:
        sim.stop()
    assert settings.sample_interval_s == pytest.approx(3e-6, rel=1e-9)  # 1 MHz / 3, not 300 kHz


@pytest.mark.parametrize(("driver_cls", "model"), [(Keithley2450, "2450"), (Keithley2460, "2460")])
def test_adc_models_capture_the_window_with_nplc(tl, driver_cls, model) -> None:
    sim = _sim(tl, model=model)
    try:
        assert load_driver(sim.driver) is driver_cls
        with driver_cls.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            k.identify()
            _powered(k)
            request = CaptureRequest(50e-3, 1 / 6000, current_range_a=0.1, sync=START_STOP)
            assert k.configure_capture(request).sample_interval_s == pytest.approx(1 / 6000)
            k.arm()
            # at 6 kS/s the closing pulse's hold (ms-scale, as in the reference firmware) keeps
            # the current constant over the reading that straddles the stop edge
            t_start, t_end = append_window(tl, duration_s=31.7e-3, gap_s=1e-3, hold_s=0.5e-3)
            capture = k.fetch(3.0)
            with pytest.raises(InstrumentError, match="Undefined header"):
                k.send_batch([':DIG:FUNC "CURR"'])  # no digitizer on the 2450/2460
    finally:
        sim.stop()
    assert window_energy_j(capture) == pytest.approx(tl.energy_j(t_start, t_end), rel=1e-6)


def test_safety_refusals_send_nothing(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            with pytest.raises(SafetyLimitError, match="nothing was sent"):
                k.set_voltage(5.0)
            with pytest.raises(SafetyLimitError):
                k.set_current_limit(2.0)
            with pytest.raises(SafetyLimitError, match="current limit before"):
                k.set_output(True)
            assert sim.log == []
            k.set_current_limit(0.05)
            k.set_voltage(1.2)
            k.set_output(True)
            assert sim.log.index(":SOUR:VOLT:ILIM 0.05") < sim.log.index(":OUTP ON")
            assert tl.supply_state(tl.now_s) == (1.2, True)
    finally:
        sim.stop()


def test_output_off_after_an_exception(tl) -> None:
    sim = _sim(tl)
    try:
        with (
            pytest.raises(RuntimeError, match="boom"),
            Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k,
        ):
            _powered(k)
            k.configure_capture(CaptureRequest(1e-3, 1e-5, sync=START_STOP))
            k.arm()
            raise RuntimeError("boom")
        assert not sim.output_on and sim.trigger.run.state == "ABORTED"
        assert not tl.supply_state(tl.now_s)[1]
    finally:
        sim.stop()


def test_no_edge_times_out_naming_the_wait(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            k.configure_capture(CaptureRequest(1e-3, 1e-5, sync=START_STOP))
            k.arm()
            # the fetch's own 0.3 s bound governs, not the 2 s transport timeout
            with pytest.raises(InstrumentTimeoutError, match=r"WAITING at block 2 after 0\.3 s"):
                k.fetch(0.3)
    finally:
        sim.stop()


def test_window_longer_than_the_buffer_is_refused(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            with pytest.raises(AcquisitionError, match="outlasted"):
                _capture(k, tl, CaptureRequest(1e-3, 1e-6, current_range_a=0.1, sync=START_STOP))
    finally:
        sim.stop()


def test_over_range_readings_are_refused(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            request = CaptureRequest(5e-3, 1e-5, current_range_a=1e-3, sync=START_STOP)
            with pytest.raises(AcquisitionError, match=r"over range on the 0.001 A range"):
                _capture(k, tl, request)
    finally:
        sim.stop()


def test_fault_reply_delay_and_withheld_reply_time_out(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=0.2) as k:
            _powered(k)
            sim.faults.reply_delay_s = 0.5
            with pytest.raises(InstrumentTimeoutError):  # gave up before the late reply
                k.identify()
            sim.faults.reply_delay_s = 0.0
            late = k.transport.read_line(timeout_s=5.0)  # the late reply does arrive, later
            assert "MODEL 2461" in late
            sim.faults.withhold_replies = 1
            with pytest.raises(InstrumentTimeoutError):
                k.output_enabled()
            assert k.identify().model == "MODEL 2461"
            sent = sim.faults.delayed_replies_sent
            sim.faults.reply_delay_s = 0.3
            with pytest.raises(InstrumentTimeoutError):
                k.output_enabled()  # its late reply would be read by the next query...
            sim.faults.reply_delay_s = 0.0
            wait_until(lambda: sim.faults.delayed_replies_sent > sent, 5.0, "the late reply")
            k.safe_shutdown()  # ...but shutdown discards it first
            assert not sim.output_on
            assert k.output_enabled() is False
    finally:
        sim.stop()


def test_fault_pushed_errors_surface_with_every_entry(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            sim.faults.push_errors = ['-222,"Data out of range"', '5074,"Output interlock"']
            with pytest.raises(InstrumentError) as info:
                k.set_voltage(1.0)
            assert info.value.details["errors"] == sim_errors()
            assert ":SOUR:VOLT 1" in str(info.value)
    finally:
        sim.stop()


def sim_errors() -> list[str]:
    return ['-222,"Data out of range"', '5074,"Output interlock"']


def test_fault_connection_closed_mid_fetch(tl) -> None:
    sim = _sim(tl)
    try:
        k = Keithley2461.open(sim.resource, LIMITS, timeout_s=0.3)
        _powered(k)
        k.configure_capture(CaptureRequest(5e-3, 1e-6, current_range_a=0.02, sync=START_STOP))
        k.arm()
        append_window(tl)
        sim.faults.close_on = ":TRAC:DATA?"
        with pytest.raises(TransportError):
            k.fetch(2.0)
        k.safe_shutdown()  # never raises, even on a dead connection
        k.safe_shutdown()
        k.close()
    finally:
        sim.stop()


def test_fault_trigger_latency_delays_the_first_reading(tl) -> None:
    sim = _sim(tl, trigger_latency_s=5e-6)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            request = CaptureRequest(5e-3, 1e-6, current_range_a=0.02, sync=START_STOP)
            k.configure_capture(request)
            k.arm()
            t_start, t_end = append_window(tl, lead_s=-2e-6)  # active 2 us after the edge
            capture = k.fetch(3.0)
    finally:
        sim.stop()
    measured = window_energy_j(capture)
    assert measured != pytest.approx(tl.energy_j(t_start, t_end), rel=1e-6)
    assert measured == pytest.approx(tl.energy_j(t_start + 5e-6, t_end + 5e-6), rel=1e-9)
    assert np.isclose(capture.edge_positions[1], (t_end - t_start) * 1e6)


def test_immediate_capture_starts_at_init(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            k.configure_capture(CaptureRequest(1e-3, 1e-5, current_range_a=0.02))
            tl.set_load_current(tl.now_s, 4e-3)
            t_arm = tl.now_s
            k.arm()
            capture = k.fetch(2.0)
    finally:
        sim.stop()
    assert capture.edge_positions == () and capture.trace.n_samples == 100
    assert window_energy_j(capture, 100) == pytest.approx(tl.energy_j(t_arm, t_arm + 1e-3))


def test_simulator_scpi_semantics(tl) -> None:
    """What the simulator enforces, seen through a plain SCPI session."""
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, timeout_s=2.0) as k:
            t = k.transport
            t.write(":DIG:CURR:SRAT 250000")
            t.write(":DIG:CURR:APER 5e-6")  # longer than the 4 us interval
            t.write(':TRAC:MAKE "win",10')
            t.write(':TRAC:MAKE "win",10')  # exists already
            assert k.read_errors() == [
                '-221,"Aperture exceeds the sample interval"',
                '-224,"Buffer name already exists"',
            ]
            assert float(t.query(":DIG:CURR:APER?")) == pytest.approx(4e-6)
            assert t.query(":FORM:BORD?") == "SWAP"  # the *RST default
            assert t.query(":DIG:LINE1:STAT?") == "1"  # the timestamp pin idles high
            t.write(':DIG:FUNC "CURR"')
            t.write(':TRIG:BLOC:MDIG 1,"win",3')  # Rev A firmware (the default) has no MDIG
            assert k.read_errors() == ['-113,"Undefined header"']
            t.write(':TRIG:BLOC:DIG 1,"win",3')
            t.write(":INIT")
            assert t.query(":TRIG:STAT?") == "IDLE;IDLE;1"
            assert t.query(':TRAC:ACT? "win"') == "3"
            t.write(":FORM REAL")
            t.write(':TRAC:DATA? 1,3,"win",READ,FRAC')  # FRACtional is ASCII-only
            assert k.read_errors() == ['1133,"Element not allowed with a binary format"']
            t.write(":FORM ASC")
            rel = [float(v) for v in t.query(':TRAC:DATA? 1,3,"win",REL').split(",")]
            assert rel == pytest.approx([0.0, 4e-6, 8e-6])
            t.write(':TRIG:BLOC:MEAS 2,"win",1')
            t.write(":INIT")  # measure and digitize blocks cannot be mixed
            assert k.read_errors() == ['-221,"Measure and digitize blocks cannot be mixed"']
            assert "MEASURE" in t.query(":TRIG:BLOC:LIST?")
    finally:
        sim.stop()


def test_wait_never_clears_sees_an_edge_before_the_model_started(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, timeout_s=2.0) as k:
            t = k.transport
            for command in [
                ':DIG:FUNC "CURR"',
                ":DIG:LINE1:MODE TRIG, IN",
                ":TRIG:DIG1:IN:CLE",
                ':TRIG:LOAD "Empty"',
                ":TRIG:BLOC:WAIT 1,DIG1,NEV",
                ':TRIG:BLOC:DIG 2,"defbuffer1",5',
            ]:
                t.write(command)
            assert t.query("*OPC?") == "1"  # the writes are processed before the edge
            tl.set_pin("timestamp", tl.now_s + 1e-4, False)  # before :INIT
            tl.advance_to(tl.now_s + 2e-4)
            t.write(":INIT")
            assert t.query(":TRIG:STAT?").startswith("IDLE")
            t.write(":TRIG:BLOC:WAIT 1,DIG1,ENT")
            t.write(":INIT")
            assert t.query(":TRIG:STAT?").startswith("WAITING")  # ENTer ignores the old edge
            t.write(":ABOR")
            assert t.query(":TRIG:STAT?").startswith("ABORTED")
            assert k.read_errors() == []
    finally:
        sim.stop()


def test_readings_stop_at_the_current_limit_in_compliance(tl) -> None:
    sim = _sim(tl)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            k.set_voltage(1.8)
            k.set_current_limit(5e-3)  # below the window's 7.5..15 mA
            k.set_output(True)
            request = CaptureRequest(5e-3, 1e-6, current_range_a=0.02, sync=START_STOP)
            capture, t_start, t_end = _capture(k, tl, request)
    finally:
        sim.stop()
    current = capture.trace.read(0, capture.trace.n_samples).current_a
    assert current.max() == pytest.approx(5e-3)
    assert window_energy_j(capture) < 0.7 * tl.energy_j(t_start, t_end)


@pytest.mark.parametrize(
    ("make_sim", "driver_cls", "option"),
    [
        (lambda tl: SimKeithley2461(tl), Keithley2461, {"data_format": "ASCII"}),
        (lambda tl: SimKeithley2600B(tl), Keithley2600B, {"channel": 3}),
    ],
    ids=["2461", "2600B"],
)
def test_refused_option_at_open_closes_the_connection(tl, make_sim, driver_cls, option) -> None:
    sim = make_sim(tl).start()
    try:
        with pytest.raises(ConfigError) as info:
            driver_cls.open(sim.resource, LIMITS, **option)
        assert info.value.context in option
        server = sim.server
        wait_until(
            lambda: server.accepted == 1 and server.open_connections == 0,
            5.0,
            "the refused driver's connection closing",
        )  # closed by open() itself, not by the garbage collector once the error is dropped
    finally:
        sim.stop()


@pytest.mark.parametrize("firmware_block", ["DIGitize", "MDIGitize"])
def test_either_digitize_block_firmware_captures_the_exact_window(tl, firmware_block) -> None:
    """A simulator knowing only :TRIG:BLOC:DIG (Rev A manual) or only :TRIG:BLOC:MDIG (newer
    firmware): the driver finds the one it knows and the window's energy is exact."""
    sim = _sim(tl, digitize_block=firmware_block)
    try:
        with Keithley2461.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            _powered(k)
            request = CaptureRequest(5e-3, 1e-6, current_range_a=0.02, sync=START_STOP)
            capture, t_start, t_end = _capture(k, tl, request)
            short = {"DIGitize": "DIG", "MDIGitize": "MDIG"}[firmware_block]
            assert k.digitize_block == f":TRIG:BLOC:{short}"
            assert k.read_errors() == []  # the refused probe's -113 was drained
    finally:
        sim.stop()
    assert window_energy_j(capture) == pytest.approx(tl.energy_j(t_start, t_end), rel=1e-6)


@pytest.mark.parametrize(("answers", "limit"), [(False, 250_000), (True, 5_500_000)])
def test_2450_buffer_limit_from_the_instrument_or_its_data_sheet(tl, answers, limit) -> None:
    sim = _sim(tl, model="2450", max_buffer_points=5_500_000, answers_points_max=answers)
    try:
        with Keithley2450.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            assert k.buffer_points() == limit
            assert k.read_errors() == []
            request = CaptureRequest(50.0, 1 / 6000, current_range_a=0.01, measure_voltage=False)
            if answers:  # 300,000 readings fit the buffer the instrument reported
                assert k.configure_capture(request).n_points == 300_000
                assert k.transport.query(':TRAC:POIN? "defbuffer1"') == "300002"
            else:
                with pytest.raises(ConfigError, match="250000-reading buffer"):
                    k.configure_capture(request)
    finally:
        sim.stop()


def test_2450_simulator_refuses_a_buffer_beyond_its_data_sheet_figure(tl) -> None:
    sim = _sim(tl, model="2450")
    try:
        with Keithley2450.open(sim.resource, timeout_s=2.0) as k:
            k.transport.write(':TRAC:POIN 250001,"defbuffer1"')
            assert k.read_errors() == ['-222,"Data out of range"']
            assert k.transport.query(':TRAC:POIN? "defbuffer1"') != "250001"
    finally:
        sim.stop()
