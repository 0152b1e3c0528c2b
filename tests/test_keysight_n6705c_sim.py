"""KeysightN6705C against its simulator over pyvisa-py sockets: identity, triggered captures and
Elog streams of GPIO windows checked against the timeline's exact energy, safety, shutdown and
every fault knob's client-visible effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lab_support import add_mlperf_window

from energybench.errors import (
    AcquisitionError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
    TransportError,
)
from energybench.instruments.capabilities import CaptureRequest, StreamRequest, SyncSpec
from energybench.instruments.keysight_n6705c import KeysightN6705C
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keysight.keysight_n6705c import SimKeysightN6705C
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.transport import open_transport

LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.2)
V_SUPPLY = 1.8
IDLE_A, ACTIVE_A = 1e-3, 12e-3
HOLD_S = 1e-3  # timestamp pulse low time (reference firmware: ms-scale nop loop)
PIN_SYNC = SyncSpec("analog_channel", "PIN1", "falling")


def append_window(tl: Timeline, start_s: float, duration_s: float) -> tuple[float, float]:
    """MLPerf-style window (idle from now on before it); advances the timeline past it."""
    return add_mlperf_window(
        tl,
        start_s,
        duration_s,
        ACTIVE_A,
        IDLE_A,
        pulse_s=HOLD_S,
        idle_lead_s=math.inf,
        settle_s=2 * HOLD_S,
    )


def integrate(current, voltage, first_id: int, start: float, stop: float, dt: float) -> float:
    """∫ v·i between fractional sample positions; sample k holds over [k, k+1)."""
    power = np.multiply(current, voltage, dtype=np.float64)
    cumulative = np.concatenate(([0.0], np.cumsum(power)))

    def at(position: float) -> float:
        x = position - first_id
        k = math.floor(x)
        return cumulative[k] + (x - k) * power[k]

    return (at(stop) - at(start)) * dt


@pytest.fixture
def lab(request):
    options = getattr(request, "param", {})
    tl = Timeline()
    sim = SimKeysightN6705C(tl, **options).start()
    yield tl, sim
    sim.stop()


@pytest.fixture
def driver(lab):
    _, sim = lab
    with KeysightN6705C.open(sim.resource, LIMITS, timeout_s=5.0) as d:
        d.identify()
        yield d


def _powered(d: KeysightN6705C) -> None:
    d.configure_supply(V_SUPPLY, 0.1)
    d.set_output(True)


def test_identify_and_modules(driver) -> None:
    assert driver.info.vendor == "Keysight Technologies"
    assert driver.info.model == "N6705C" and driver.info.serial_number == "MY56000001"
    assert driver.channel_count == 2
    assert driver.module(1) == "N6781A" and driver.module(2) == "N6781A"


@pytest.mark.parametrize("big_endian", [False, True])
def test_pin_triggered_capture_integrates_to_the_exact_window_energy(lab, driver, big_endian):
    tl, _ = lab
    driver.big_endian = big_endian
    _powered(driver)
    settings = driver.configure_capture(
        CaptureRequest(0.25, 10e-6, pretrigger_s=0.01, sync=PIN_SYNC)
    )
    assert settings.sample_interval_s == pytest.approx(20.48e-6)  # 3 parameters: quantised
    driver.arm()
    start_s, end_s = append_window(tl, tl.now_s + 0.05, 0.2)
    capture = driver.fetch(timeout_s=5.0)
    dt = settings.sample_interval_s
    trace = capture.trace
    chunk = trace.read(trace.first_sample_id, trace.stop_sample_id)
    end_position = (end_s - start_s) / dt
    energy = integrate(
        chunk.current_a, chunk.voltage_v, trace.first_sample_id, 0.0, end_position, dt
    )
    truth = tl.energy_j(start_s, end_s)
    assert energy == pytest.approx(truth, rel=1e-6)
    # Both edges from the VMETer channel: the trigger exactly, the end within half a sample.
    assert len(capture.edge_positions) == 2
    assert capture.edge_positions[0] == 0.0
    assert abs(capture.edge_positions[1] - end_position) <= 0.5
    assert chunk.digital["timestamp"][: settings.pretrigger_points].all()
    assert driver.last_sync_trace is not None
    assert driver.last_sync_trace.n_samples == settings.n_points


@pytest.mark.parametrize(
    "lab",
    [
        {
            "measurement": MeasurementModel(2e-4, 5e-6, 40e-6, 1e-7),
            "voltage_measurement": MeasurementModel(1e-4, 2e-4, 1e-3, 1e-5),
            "seed": 7,
        }
    ],
    indirect=True,
)
@pytest.mark.parametrize("big_endian", [False, True])
def test_noisy_capture_is_within_the_error_bound(lab, driver, big_endian) -> None:
    tl, sim = lab
    driver.big_endian = big_endian
    _powered(driver)
    settings = driver.configure_capture(
        CaptureRequest(0.15, 20e-6, pretrigger_s=0.005, current_range_a=0.1, sync=PIN_SYNC)
    )
    assert settings.current_range_a == 0.1
    driver.arm()
    start_s, end_s = append_window(tl, tl.now_s + 0.01, 0.1)
    capture = driver.fetch(timeout_s=5.0)
    dt = settings.sample_interval_s
    chunk = capture.trace.read(capture.trace.first_sample_id, capture.trace.stop_sample_id)
    end_position = (end_s - start_s) / dt
    energy = integrate(
        chunk.current_a, chunk.voltage_v, capture.trace.first_sample_id, 0.0, end_position, dt
    )
    truth = tl.energy_j(start_s, end_s)
    n = int(end_position)
    i_model = sim.instrument.channels[1].current_model
    v_model = sim.instrument.channels[1].voltage_model
    b_i, b_v = i_model.error_bound(ACTIVE_A, n), v_model.error_bound(V_SUPPLY, n)
    duration = end_s - start_s
    partial = dt * (V_SUPPLY * 5 * i_model.noise_rms + ACTIVE_A * 5 * v_model.noise_rms)
    bound = duration * (V_SUPPLY * b_i + ACTIVE_A * b_v + b_i * b_v) + partial
    assert abs(energy - truth) <= bound
    assert abs(energy - truth) > 0  # the errors are really on


def test_elog_stream_of_a_long_window_with_both_edges_from_the_vmeter(lab, driver) -> None:
    tl, _ = lab
    _powered(driver)
    settings = driver.configure_stream(
        StreamRequest(1 / 307.2e-6, sync=SyncSpec("analog_channel", "", "falling"))
    )
    period = 1 / settings.sample_rate_hz
    assert period == pytest.approx(307.2e-6)  # 3 logged parameters × 102.4 µs
    driver.start()
    t0 = tl.now_s  # BUS-triggered right at INIT: record k covers [t0 + kP, t0 + (k+1)P)
    start_s, end_s = append_window(tl, t0 + 0.5003, 10.5)  # virtual time: instant
    tl.advance_to(end_s + 0.3)
    currents, voltages, first_ids = [], [], []
    for chunk in driver.chunks(timeout_s=2.0):
        first_ids.append(chunk.first_sample_id)
        currents.append(chunk.current_a)
        voltages.append(chunk.voltage_v)
        if chunk.stop_sample_id * period >= end_s + 0.2 - t0:
            break
    driver.stop()
    current, voltage = np.concatenate(currents), np.concatenate(voltages)
    assert first_ids[0] == 0 and current.size > 10.5 / period
    assert driver.stream_stats.samples_dropped == 0
    edges = driver.stream_edge_positions
    assert len(edges) == 2
    truth_edges = [(start_s - t0) / period, (end_s - t0) / period]
    assert edges == pytest.approx(truth_edges, abs=1e-4)  # bin fractions place steps exactly
    energy = integrate(current, voltage, 0, edges[0], edges[1], period)
    truth = tl.energy_j(start_s, end_s)
    # Elog averaging error: the bin holding each edge mixes idle and active current.
    bound = 2 * (ACTIVE_A - IDLE_A) * V_SUPPLY * period / 4 + 1e-6 * truth
    assert abs(energy - truth) <= bound


@pytest.mark.parametrize("lab", [{"elog_fifo_s": 1.0}], indirect=True)
def test_elog_fifo_overflow_is_a_counted_gap(lab, driver) -> None:
    tl, _ = lab
    _powered(driver)
    driver.configure_stream(StreamRequest(100.0, measure_voltage=False))
    driver.start()
    tl.set_load_current(tl.now_s, IDLE_A)
    tl.advance_by(2.5)  # 250 records, the FIFO holds 100
    chunk = next(driver.chunks(timeout_s=1.0))
    driver.stop()
    stats = driver.stream_stats
    assert stats.samples_dropped == 150 and stats.dropped_ranges == [(0, 150)]
    assert chunk.first_sample_id == 150 and chunk.n_samples == 100
    assert chunk.voltage_v == pytest.approx(V_SUPPLY)


def test_trigger_before_the_pretrigger_fill_is_ignored(lab, driver) -> None:
    tl, _ = lab
    _powered(driver)
    settings = driver.configure_capture(
        CaptureRequest(
            0.02,
            20e-6,
            pretrigger_s=0.01,
            measure_voltage=False,
            sync=SyncSpec("hw_trigger_start", "PIN1"),
        )
    )
    driver.arm()
    armed = tl.now_s
    append_window(tl, armed + 0.002, 0.003)  # inside the 10 ms pre-trigger fill: ignored
    append_window(tl, armed + 0.05, 0.005)
    capture = driver.fetch(timeout_s=5.0)
    assert capture.edge_positions == (0.0,)
    chunk = capture.trace.read(0, 5)
    assert chunk.current_a == pytest.approx(ACTIVE_A)  # the late window's start
    before = capture.trace.read(-settings.pretrigger_points, -settings.pretrigger_points + 5)
    assert before.current_a == pytest.approx(IDLE_A)


def test_interval_is_quantised_and_read_back(driver) -> None:
    settings = driver.configure_capture(CaptureRequest(0.01, 7e-6, measure_voltage=False))
    assert settings.sample_interval_s == pytest.approx(5.12e-6)  # one parameter on an N678xA
    settings = driver.configure_capture(CaptureRequest(0.01, 7e-6))
    assert settings.sample_interval_s == pytest.approx(10.24e-6)  # V and I


def test_range_saturation_is_reported(lab, driver) -> None:
    tl, _ = lab
    _powered(driver)
    driver.configure_capture(CaptureRequest(0.01, 20e-6, current_range_a=1e-3))
    tl.set_load_current(tl.now_s, ACTIVE_A)
    driver.arm()
    with pytest.raises(AcquisitionError, match="over-range"):
        driver.fetch(timeout_s=5.0)


def test_refusals_reach_nothing_and_limit_precedes_output(lab, driver) -> None:
    tl, sim = lab
    sim.log.clear()
    for action in (lambda: driver.set_voltage(5.0), lambda: driver.set_output(True)):
        with pytest.raises(SafetyLimitError):
            action()
    assert sim.log == []
    _powered(driver)
    commands = [c for c in sim.log if not c.startswith("SYST:ERR")]
    assert commands.index("CURR:LIM 0.1,(@1)") < commands.index("OUTP ON,(@1)")
    assert tl.supply_state(tl.now_s) == (V_SUPPLY, True)


def test_output_off_after_an_exception(lab) -> None:
    tl, sim = lab
    with pytest.raises(RuntimeError), KeysightN6705C.open(sim.resource, LIMITS) as d:
        _powered(d)
        assert tl.supply_state(tl.now_s)[1]
        raise RuntimeError("benchmark crashed")
    assert tl.supply_state(tl.now_s)[1] is False


def test_out_of_range_value_is_queued_and_not_applied(lab) -> None:
    tl, sim = lab
    with open_transport(sim.resource, timeout_s=2.0) as t:
        t.write("VOLT 1.2,(@1)")
        t.write("VOLT 25,(@1)")
        assert t.query("SYST:ERR?") == '-222,"Data out of range"'
        assert t.query("VOLT? (@1)") == "+1.200000E+00"
        assert t.query("SENS:SWE:POIN 600000,(@1);SYST:ERR?") == '-222,"Data out of range"'
    assert tl.supply_state(tl.now_s)[0] == 1.2


@pytest.mark.parametrize("lab", [{"digital_pin": 3, "fetch_timeout_s": 0.2}], indirect=True)
def test_untriggered_acquisition_times_out(lab, driver) -> None:
    tl, _ = lab
    driver.configure_capture(CaptureRequest(0.01, 20e-6, sync=SyncSpec("hw_trigger_start", "PIN1")))
    driver.arm()
    append_window(tl, tl.now_s + 0.01, 0.01)  # the timestamp is on pin 3, not pin 1
    # As on an N6705C (OSG p.350): MEAS-active (bit 5) while waiting, bit 3 "not used".
    assert int(driver.transport.query("STAT:OPER:COND? (@1)")) & (32 | 8) == 32
    with pytest.raises(InstrumentTimeoutError, match="no trigger came"):
        driver.fetch(timeout_s=0.3)
    # The instrument's own FETC gives up after fetch_timeout_s with an empty block and -230.
    with pytest.raises(InstrumentError, match="expected"):
        driver._fetch_array("CURR", 1, 10, 2.0)
    driver.safe_shutdown()


def test_fault_pushed_errors_surface_with_their_entries(lab, driver) -> None:
    _, sim = lab
    sim.faults.push_errors = ['-310,"System error"', '-350,"Queue overflow"']
    with pytest.raises(InstrumentError) as info:
        driver.configure_supply(V_SUPPLY, 0.1)
    assert info.value.details["errors"] == ['-310,"System error"', '-350,"Queue overflow"']


@pytest.mark.parametrize("knob", [{"reply_delay_s": 0.6}, {"withhold_replies": 1}])
def test_fault_slow_or_missing_reply_times_out(lab, knob) -> None:
    _, sim = lab
    with KeysightN6705C.open(sim.resource, timeout_s=0.3) as d:
        for name, value in knob.items():
            setattr(sim.faults, name, value)
        with pytest.raises(InstrumentTimeoutError):
            d.identify()


def test_fault_connection_closed_mid_acquisition(lab) -> None:
    tl, sim = lab
    d = KeysightN6705C.open(sim.resource, LIMITS, timeout_s=0.5)
    _powered(d)
    d.configure_capture(CaptureRequest(0.01, 20e-6, sync=PIN_SYNC))
    d.arm()
    append_window(tl, tl.now_s + 0.001, 0.005)
    sim.faults.close_on = "FETC"
    with pytest.raises(TransportError):
        d.fetch(timeout_s=0.5)
    d.safe_shutdown()  # logs, never raises
    d.close()


def test_ascii_format_abort_and_reset_on_the_wire(lab) -> None:
    tl, sim = lab
    with open_transport(sim.resource, timeout_s=2.0) as t:
        t.write("VOLT 1.8,(@1);CURR:LIM 0.1,(@1);OUTP ON,(@1)")
        tl.set_load_current(tl.now_s, ACTIVE_A)
        t.write("FORM ASCII;SENS:FUNC:VOLT ON,(@1);SENS:SWE:POIN 4,(@1);TRIG:ACQ:SOUR BUS,(@1)")
        t.write("INIT:ACQ (@1);TRIG:ACQ (@1)")
        values = [float(v) for v in t.query("FETC:ARR:CURR? (@1)").split(",")]
        assert values == pytest.approx([ACTIVE_A] * 4)
        # *OPC? makes sure INIT:ELOG ran before the timeline advances (writes do not wait).
        assert t.query("SENS:ELOG:PER 0.01,(@1);TRIG:ELOG:SOUR IMM,(@1);INIT:ELOG (@1);*OPC?")
        tl.advance_by(0.035)
        assert len(t.query("FETC:ELOG? 100,(@1)").split(",")) == 3  # current only, 3 records
        t.write("ABOR:ELOG (@1);INIT:ACQ (@1);ABOR:ACQ (@1)")
        assert t.query("FETC:ELOG? 100,(@1)") == ""
        assert t.query("SYST:ERR?").startswith("-230")
        t.write("*RST")
        assert t.query("OUTP? (@1)") == "0"
    assert tl.supply_state(tl.now_s)[1] is False


def test_elog_period_reported_is_the_accepted_one(lab) -> None:
    _, sim = lab
    with KeysightN6705C.open(sim.resource) as d:
        # Before identify() the driver does not know output 2, whose power-on Elog current
        # logging still counts: the instrument lengthens the period and the driver says so.
        settings = d.configure_stream(StreamRequest(1 / 204.8e-6))
        assert 1 / settings.sample_rate_hz == pytest.approx(307.2e-6)
        d.identify()  # now output 2's logging is switched off explicitly
        settings = d.configure_stream(StreamRequest(1 / 204.8e-6))
        assert 1 / settings.sample_rate_hz == pytest.approx(204.8e-6)


@pytest.mark.parametrize("lab", [{"channels": 1}], indirect=True)
def test_shutdown_switches_the_output_off_on_a_single_module_mainframe(lab) -> None:
    tl, sim = lab
    d = KeysightN6705C.open(sim.resource, LIMITS)  # no identify(): channel count unknown
    _powered(d)
    d.safe_shutdown()
    d.close()
    assert tl.supply_state(tl.now_s)[1] is False
    assert "OUTP OFF,(@1)" in sim.log


@pytest.mark.parametrize(
    "lab",
    [
        {
            "measurement": MeasurementModel(2e-4, 5e-6, 40e-6, 1e-7),
            "voltage_measurement": MeasurementModel(1e-4, 2e-4, 1e-3, 1e-5),
            "seed": 3,
        }
    ],
    indirect=True,
)
def test_noisy_elog_window_is_within_the_error_bound(lab, driver) -> None:
    tl, sim = lab
    _powered(driver)
    settings = driver.configure_stream(StreamRequest(1 / 307.2e-6, sync=SyncSpec("analog_channel")))
    period = 1 / settings.sample_rate_hz
    driver.start()
    t0 = tl.now_s
    start_s, end_s = append_window(tl, t0 + 0.2001, 10.2)
    tl.advance_to(end_s + 0.2)
    chunks = []
    for chunk in driver.chunks(timeout_s=2.0):
        chunks.append(chunk)
        if chunk.stop_sample_id * period >= end_s + 0.1 - t0:
            break
    driver.stop()
    current = np.concatenate([c.current_a for c in chunks])
    voltage = np.concatenate([c.voltage_v for c in chunks])
    edges = driver.stream_edge_positions
    assert len(edges) == 2
    energy = integrate(current, voltage, 0, edges[0], edges[1], period)
    truth = tl.energy_j(start_s, end_s)
    n = int(edges[1] - edges[0])
    i_model = sim.instrument.channels[1].current_model
    v_model = sim.instrument.channels[1].voltage_model
    b_i, b_v = i_model.error_bound(ACTIVE_A, n), v_model.error_bound(V_SUPPLY, n)
    sync_noise = sim.instrument.channels[2].voltage_model.noise_rms / 1.8  # bins of edge error
    edge_error = 2 * (5 * sync_noise * 2) * period * ACTIVE_A * V_SUPPLY
    averaging = 2 * (ACTIVE_A - IDLE_A) * V_SUPPLY * period / 4
    bound = (end_s - start_s) * (V_SUPPLY * b_i + ACTIVE_A * b_v + b_i * b_v)
    assert abs(energy - truth) <= bound + averaging + edge_error
    assert abs(energy - truth) > 1e-6 * truth  # the errors are really on


def test_consecutive_captures_rearm(lab, driver) -> None:
    tl, _ = lab
    _powered(driver)
    sync = SyncSpec("hw_trigger_start", "PIN1")
    driver.configure_capture(CaptureRequest(0.01, 20e-6, measure_voltage=False, sync=sync))
    energies = []
    for duration_s in (0.004, 0.007):
        driver.arm()
        start_s, end_s = append_window(tl, tl.now_s + 0.001, duration_s)
        capture = driver.fetch(timeout_s=5.0)
        chunk = capture.trace.read(0, capture.trace.stop_sample_id)
        dt = capture.settings.sample_interval_s
        energies.append(
            (
                integrate(chunk.current_a, chunk.voltage_v, 0, 0, (end_s - start_s) / dt, dt),
                tl.energy_j(start_s, end_s),
            )
        )
        tl.advance_by(0.02)
    for measured, truth in energies:
        assert measured == pytest.approx(truth, rel=1e-6)


def test_untriggered_elog_stream_times_out(lab, driver) -> None:
    _powered(driver)
    driver.configure_stream(StreamRequest(100.0, sync=SyncSpec("hw_trigger_start", "EXT")))
    driver.start()
    with pytest.raises(InstrumentTimeoutError, match="no Elog record"):
        next(driver.chunks(timeout_s=0.2))
    driver.stop()
