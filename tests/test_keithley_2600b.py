"""Keithley 2600B TSP driver: scripted exchanges and its TSP simulator over pyvisa-py sockets."""

from __future__ import annotations

import numpy as np
import pytest
from keithley_helpers import append_window, window_energy_j

from energybench.errors import (
    AcquisitionError,
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
    TransportError,
)
from energybench.instruments.capabilities import CaptureRequest, PowerSupply, SyncSpec
from energybench.instruments.keithley_2600b import Keithley2600B
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keithley.keithley_2600b import SimKeithley2600B
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.scpi_server import MAX_ERROR_QUEUE
from energybench.transport.scripted import ScriptedTransport

LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.5)
SYNC = SyncSpec("hw_trigger_start", "DIO3", "falling")
NO_ERRORS = ("print(errorqueue.count)", "0.00000e+00")


# ---- scripted exchanges -------------------------------------------------------------------
def _capture_exchanges(mode: str, n_points: int, capacity_reply: str, voltage: bool = True) -> list:
    """What configure_capture sends up to the buffer-capacity query (line frequency first)."""
    buffers = "capacity, smua.nvbuffer2.capacity" if voltage else "capacity"
    measure = "iv(smua.nvbuffer1, smua.nvbuffer2)" if voltage else "i(smua.nvbuffer1)"
    return [
        ("print(localnode.linefreq)", "6.00000e+01"),
        ("smua.abort()", None),
        ("smua.measure.autorangei = smua.AUTORANGE_OFF", None),
        ("smua.measure.rangei = 0.01", None),
        ("smua.measure.autozero = smua.AUTOZERO_OFF", None),
        ("smua.measure.nplc = 0.006", None),
        ("smua.nvbuffer1.clear()", None),
        ("smua.nvbuffer1.collecttimestamps = 1", None),
        ("smua.nvbuffer2.clear()", None),
        ("smua.nvbuffer2.collecttimestamps = 1", None),
        ("format.data = format.REAL32", None),
        ("format.byteorder = format.LITTLEENDIAN", None),
        (f"digio.trigger[3].mode = digio.{mode}", None),
        ("digio.trigger[3].clear()", None),
        ("smua.trigger.arm.stimulus = digio.trigger[3].EVENT_ID", None),
        ("smua.trigger.arm.count = 1", None),
        (f"smua.trigger.count = {n_points}", None),
        ("smua.trigger.measure.stimulus = 0", None),
        ("smua.trigger.source.action = smua.DISABLE", None),
        (f"smua.trigger.measure.{measure}", None),
        ("smua.trigger.measure.action = smua.ENABLE", None),
        NO_ERRORS,
        (f"print(smua.nvbuffer1.{buffers})", capacity_reply),
    ]


def test_scripted_supply_capture_and_shutdown() -> None:
    readings = np.array([[0.005, 1.8], [0.006, 1.8], [0.007, 1.8]], dtype="<f4")
    stamps = np.array([0.0, 1e-4, 2e-4], dtype="<f8")
    t = ScriptedTransport(
        [
            ("smua.source.limiti = 0.05", None),
            NO_ERRORS,
            ("smua.source.func = smua.OUTPUT_DCVOLTS", None),
            ("smua.source.levelv = 1.8", None),
            NO_ERRORS,
            ("smua.source.output = smua.OUTPUT_ON", None),
            NO_ERRORS,
            *_capture_exchanges("TRIG_FALLING", 3, "6.50000e+04\t6.50000e+04"),
            ("print(smua.measure.nplc)", "6.00000e-03"),
            ("print(smua.measure.rangei)", "1.00000e-02"),
            ("smua.trigger.initiate()", None),
            NO_ERRORS,
            ("print(smua.nvbuffer1.n)", "0.00000e+00"),
            ("print(smua.nvbuffer1.n)", "3.00000e+00"),
            (
                "printbuffer(1, 3, smua.nvbuffer1.readings, smua.nvbuffer2.readings)",
                b"#0" + readings.tobytes() + b"\n",
            ),
            ("format.data = format.REAL64", None),
            ("printbuffer(1, 3, smua.nvbuffer1.timestamps)", b"#0" + stamps.tobytes() + b"\n"),
            ("format.data = format.REAL32", None),
            ("smua.abort()", None),
            ("smua.source.levelv = 0", None),
            ("smua.source.output = smua.OUTPUT_OFF", None),
            ("print(errorqueue.count)", "1.00000e+00"),
            ("print(errorqueue.next())", "-2.86000e+02\tTSP Runtime error\t2.00000e+00\t0"),
        ]
    )
    k = Keithley2600B(t, LIMITS)
    k.set_current_limit(0.05)
    k.set_voltage(1.8)
    k.set_output(True)
    settings = k.configure_capture(CaptureRequest(3e-4, 1e-4, current_range_a=0.01, sync=SYNC))
    assert (settings.n_points, settings.current_range_a) == (3, 0.01)
    assert settings.sample_interval_s == pytest.approx(1e-4)
    k.arm()
    capture = k.fetch(1.0)
    k.safe_shutdown()  # logs the queued error, never raises
    t.assert_done()
    np.testing.assert_allclose(capture.trace.read(0, 3).current_a, [0.005, 0.006, 0.007], 1e-6)
    assert capture.edge_positions == (0.0,) and capture.trace.sample_kind == "bin"


def test_scripted_rising_edge_uses_trig_risinga_and_the_buffer_capacity_is_asked() -> None:
    """digio.TRIG_RISING sees no input edge while the line's programmed state is low; the 2600
    Series manual (p.12-20) points to TRIG_RISINGA. The buffer limit is what nvbuffer1.capacity
    says once timestamps are collected (SPEC-2602B: > 60,000 with them, > 140,000 without)."""
    rising = SyncSpec("hw_trigger_start", "DIO3", "rising")
    request = CaptureRequest(7.0, 1e-4, current_range_a=0.01, measure_voltage=False, sync=rising)
    t = ScriptedTransport(
        [
            *_capture_exchanges("TRIG_RISINGA", 70_000, "6.50000e+04", voltage=False),
            *_capture_exchanges("TRIG_RISINGA", 70_000, "nil", voltage=False)[1:],  # no number:
            # the documented 60,000
            NO_ERRORS,
        ]
    )
    k = Keithley2600B(t, LIMITS)
    with pytest.raises(ConfigError, match="70000 readings exceed the 65000-reading buffer"):
        k.configure_capture(request)
    with pytest.raises(ConfigError, match="70000 readings exceed the 60000-reading buffer"):
        k.configure_capture(request)
    with pytest.raises(AcquisitionError, match="configure_capture"):
        k.arm()  # a refused capture leaves nothing to arm
    t.assert_done()


def test_scripted_errors_are_drained_with_count_and_next() -> None:
    t = ScriptedTransport(
        [
            ("smua.source.limiti = 0.05", None),
            ("print(errorqueue.count)", "2.00000e+00"),
            ("print(errorqueue.next())", "-2.85000e+02\tTSP Syntax error\t2.00000e+00\t0"),
            ("print(errorqueue.next())", "-2.22000e+02\tParameter too big\t2.00000e+00\t0"),
        ]
    )
    with pytest.raises(InstrumentError) as info:
        Keithley2600B(t, LIMITS).set_current_limit(0.05)
    assert info.value.details["errors"] == ['-285,"TSP Syntax error"', '-222,"Parameter too big"']
    t.assert_done()


def test_scripted_refusals_send_nothing() -> None:
    t = ScriptedTransport([])
    k = Keithley2600B(t, LIMITS)
    with pytest.raises(SafetyLimitError):
        k.set_voltage(4.0)
    with pytest.raises(SafetyLimitError):
        k.set_current_limit(1.0)
    with pytest.raises(SafetyLimitError, match="current limit before"):
        k.set_output(True)
    with pytest.raises(ConfigError, match="20,000 readings/s"):
        k.configure_capture(CaptureRequest(1e-3, 1e-5))
    with pytest.raises(ConfigError, match="sync mode"):
        k.configure_capture(CaptureRequest(1e-3, 1e-4, sync=SyncSpec("hw_trigger_start_stop")))
    with pytest.raises(ConfigError, match="channel"):
        Keithley2600B(t, channel=3)
    assert t.sent == []


# ---- against the simulator ------------------------------------------------------------------
@pytest.fixture
def tl() -> Timeline:
    return Timeline()


def _capture(k: Keithley2600B, tl: Timeline, interval_s: float = 1e-4):
    k.set_current_limit(0.1)
    k.set_voltage(1.8)
    k.set_output(True)
    request = CaptureRequest(20e-3, interval_s, current_range_a=0.02, sync=SYNC)
    settings = k.configure_capture(request)
    k.arm()
    t_start, t_end = append_window(tl, duration_s=15.03e-3, hold_s=0.5e-3, lead_s=60e-6)
    capture = k.fetch(2.0)
    assert capture.trace.n_samples == settings.n_points
    return capture, t_start, t_end


@pytest.mark.parametrize(
    ("data_format", "big_endian", "rel"),
    [
        ("REAL32", False, 1e-6),
        ("REAL32", True, 1e-6),
        ("REAL64", False, 1e-9),
        ("ASCII", False, 1e-6),
    ],
)
def test_sim_capture_energy_is_exact(tl, data_format, big_endian, rel) -> None:
    sim = SimKeithley2600B(tl, digital_lines={3: "timestamp"}).start()
    try:
        assert load_driver(sim.driver) is Keithley2600B
        with Keithley2600B.open(
            sim.resource, LIMITS, timeout_s=2.0, data_format=data_format, big_endian=big_endian
        ) as k:
            assert k.identify().model == "Model 2602B" and isinstance(k, PowerSupply)
            capture, t_start, t_end = _capture(k, tl)
        assert not sim.output_on and not tl.supply_state(tl.now_s)[1]
    finally:
        sim.stop()
    stop = (t_end - t_start) / 1e-4  # strategy C: the window length comes from elsewhere
    assert window_energy_j(capture, stop) == pytest.approx(tl.energy_j(t_start, t_end), rel=rel)


def test_sim_noisy_capture_within_error_bound(tl) -> None:
    model = MeasurementModel(gain_error=2e-4, offset=1e-6, noise_rms=3e-5, resolution=1e-8, seed=9)
    sim = SimKeithley2600B(tl, measurement=model, digital_lines={3: "timestamp"}).start()
    try:
        with Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            capture, t_start, t_end = _capture(k, tl)
    finally:
        sim.stop()
    duration = t_end - t_start
    stop = duration / 1e-4
    bound = 1.8 * model.error_bound(tl.charge_c(t_start, t_end) / duration, int(stop)) * duration
    error = window_energy_j(capture, stop) - tl.energy_j(t_start, t_end)
    assert 0 < abs(error) <= bound


def test_sim_unknown_statement_is_a_tsp_error(tl) -> None:
    sim = SimKeithley2600B(tl).start()
    try:
        with Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            with pytest.raises(InstrumentError, match=r"-286.*smua\.bogus"):
                k.send_batch(["smua.bogus = 1"])
            with pytest.raises(InstrumentError, match="-285"):
                k.send_batch(["this is not lua"])
            with pytest.raises(InstrumentError, match="-222"):
                k.send_batch(["smua.source.levelv = 100"])
            assert k.read_errors() == []
    finally:
        sim.stop()


def test_sim_error_queue_is_bounded_and_ends_in_overflow(tl) -> None:
    sim = SimKeithley2600B(tl)  # statements straight to the interpreter, not served
    try:
        for _ in range(MAX_ERROR_QUEUE + 3):
            sim.handle("this is not lua")
        assert sim.handle("print(errorqueue.count)") == [f"{MAX_ERROR_QUEUE:.5e}".encode()]
        entries = [sim.handle("print(errorqueue.next())")[0] for _ in range(MAX_ERROR_QUEUE)]
    finally:
        sim.stop()  # closes the listening socket the constructor bound
    codes = [entry.split(b"\t")[:2] for entry in entries]
    assert codes[0] == [b"-2.85000e+02", b"TSP Syntax error at line 1: unexpected symbol near "
                        b"'this is not lua'"]  # fmt: skip
    assert codes[-1] == [b"-3.50000e+02", b"Queue overflow"]


def test_sim_refusal_sends_nothing_and_output_off_after_exception(tl) -> None:
    sim = SimKeithley2600B(tl).start()
    try:
        with (
            pytest.raises(RuntimeError, match="boom"),
            Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k,
        ):
            with pytest.raises(SafetyLimitError):
                k.set_voltage(12.0)
            assert sim.log == []
            k.set_current_limit(0.1)
            k.set_voltage(1.8)
            k.set_output(True)
            assert tl.supply_state(tl.now_s) == (1.8, True)
            raise RuntimeError("boom")
        assert not sim.output_on and not tl.supply_state(tl.now_s)[1]
    finally:
        sim.stop()


def test_sim_no_edge_times_out(tl) -> None:
    sim = SimKeithley2600B(tl, digital_lines={3: "timestamp"}).start()
    try:
        with Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            k.configure_capture(CaptureRequest(1e-3, 1e-4, sync=SYNC))
            k.arm()
            # the fetch's own 0.2 s bound governs, not the 2 s transport timeout
            with pytest.raises(InstrumentTimeoutError, match=r"0 of 10 readings after 0\.2 s"):
                k.fetch(0.2)
    finally:
        sim.stop()


def test_sim_faults(tl) -> None:
    sim = SimKeithley2600B(tl, digital_lines={3: "timestamp"}).start()
    try:
        k = Keithley2600B.open(sim.resource, LIMITS, timeout_s=0.2)
        sim.faults.push_errors = ['-286,"TSP Runtime error"', '5005,"Interlock engaged"']
        with pytest.raises(InstrumentError) as info:
            k.set_current_limit(0.1)
        assert info.value.details["errors"] == sim_pushed()
        sim.faults.withhold_replies = 1
        with pytest.raises(InstrumentTimeoutError):
            k.output_enabled()
        sim.faults.reply_delay_s = 0.4
        with pytest.raises(InstrumentTimeoutError):  # gave up before the late reply
            k.identify()
        sim.faults.reply_delay_s = 0.0
        assert "Model 2602B" in k.transport.read_line(timeout_s=5.0)  # the late reply, later
        assert k.identify().model == "Model 2602B"
        sim.faults.close_on = "printbuffer"
        k.transport.timeout_s = 0.3
        with pytest.raises(TransportError):
            _capture(k, tl)
        k.safe_shutdown()
        k.safe_shutdown()
        k.close()
    finally:
        sim.stop()


def sim_pushed() -> list[str]:
    return ['-286,"TSP Runtime error"', '5005,"Interlock engaged"']


def test_a_reply_that_is_not_a_number_is_an_instrument_error() -> None:
    """A stale or out-of-step reply (e.g. an error-queue line answering a numeric query) is an
    InstrumentError naming the query, never a bare ValueError."""
    t = ScriptedTransport([("print(smua.source.output)", "0\tQueue Is Empty\t0\t0")])
    with pytest.raises(InstrumentError, match=r"print\(smua.source.output\) answered"):
        Keithley2600B(t, LIMITS).output_enabled()
    t.assert_done()


def test_sim_rising_edge_arms_even_with_the_line_programmed_low(tl) -> None:
    """A script left digio line 3's programmed state low: TRIG_RISING would then detect no
    input edge (like TRIG_RISINGM), TRIG_RISINGA still does, and the capture is exact."""
    sim = SimKeithley2600B(tl, digital_lines={3: "timestamp"}).start()
    try:
        with Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            k.send_batch(["digio.writebit(3, 0)"])
            k.set_current_limit(0.1)
            k.set_voltage(1.8)
            k.set_output(True)
            rising = SyncSpec("hw_trigger_start", "DIO3", "rising")
            k.configure_capture(CaptureRequest(20e-3, 1e-4, current_range_a=0.02, sync=rising))
            k.arm()
            t_start, t_end = append_window(tl, duration_s=15.03e-3, hold_s=0.5e-3, lead_s=60e-6)
            capture = k.fetch(2.0)
    finally:
        sim.stop()
    t_rise = t_start + 0.5e-3  # the pulse's rising edge: the capture starts there
    stop = (t_end - t_rise) / 1e-4
    assert window_energy_j(capture, stop) == pytest.approx(tl.energy_j(t_rise, t_end), rel=1e-6)


def test_sim_trig_rising_follows_the_programmed_line_state(tl) -> None:
    sim = SimKeithley2600B(tl, digital_lines={3: "timestamp"}).start()
    try:
        with Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            assert k._number("digio.TRIG_RISINGA") == 7 and k._number("digio.TRIG_RISINGM") == 8
            for state, mode, expected in [
                (1, "TRIG_RISING", 5),
                (0, "TRIG_RISING", 0),
                (0, "TRIG_RISINGM", 0),
                (0, "TRIG_RISINGA", 5),
            ]:
                k.send_batch(
                    [
                        f"digio.writebit(3, {state})",
                        f"digio.trigger[3].mode = digio.{mode}",
                        "digio.trigger[3].clear()",
                        "smua.nvbuffer1.clear()",
                        "smua.trigger.count = 5",
                        "smua.trigger.arm.stimulus = digio.trigger[3].EVENT_ID",
                        "smua.trigger.measure.i(smua.nvbuffer1)",
                        "smua.trigger.initiate()",
                    ]
                )
                tl.set_pin("timestamp", tl.now_s + 1e-4, False)
                tl.set_pin("timestamp", tl.now_s + 2e-4, True)
                tl.advance_to(tl.now_s + 1e-3)
                assert k._number("smua.nvbuffer1.n") == expected, (state, mode)
                k.send_batch(["smua.abort()"])
    finally:
        sim.stop()


def test_sim_buffer_capacity_follows_what_is_collected(tl) -> None:
    """SPEC-2602B Rev B p.11: > 140,000 readings without extras, > 60,000 with timestamps and
    source values; the driver asks after switching timestamps on and refuses beyond it."""
    sim = SimKeithley2600B(tl, digital_lines={3: "timestamp"}).start()
    try:
        with Keithley2600B.open(sim.resource, LIMITS, timeout_s=2.0) as k:
            assert k._number("smua.nvbuffer1.capacity") == 140_000
            k.send_batch(["smua.nvbuffer1.collecttimestamps = 1"])
            assert k._number("smua.nvbuffer1.capacity") == 60_000
            with pytest.raises(ConfigError, match="70000 readings exceed the 60000-reading"):
                k.configure_capture(CaptureRequest(7.0, 1e-4, sync=SYNC))
            assert k.buffer_points() == 60_000
    finally:
        sim.stop()
