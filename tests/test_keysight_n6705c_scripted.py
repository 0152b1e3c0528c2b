"""KeysightN6705C over the scripted transport: the exact commands and replies of supply set-up,
a triggered capture, an Elog stream with a FIFO overflow, safety refusals and shutdown."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
    TransportError,
)
from energybench.instruments.capabilities import (
    CaptureRequest,
    PowerSupply,
    StreamingMeter,
    StreamRequest,
    SyncSpec,
    TriggeredMeter,
)
from energybench.instruments.keysight_n6705c import KeysightN6705C
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.wire.scpi_server import binary_block
from energybench.transport.scripted import ScriptedTransport

OK = ("SYST:ERR?", '+0,"No error"')
LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.2)


def _block(values, big_endian: bool = False) -> bytes:
    return binary_block(np.asarray(values), "f4", big_endian=big_endian) + b"\n"


def test_driver_implements_the_capability_protocols() -> None:
    driver = KeysightN6705C(ScriptedTransport([]))
    assert isinstance(driver, PowerSupply)
    assert isinstance(driver, TriggeredMeter)
    assert isinstance(driver, StreamingMeter)


def test_supply_sets_the_limit_before_the_voltage_and_output() -> None:
    t = ScriptedTransport(
        [
            ("*IDN?", "Keysight Technologies,N6705C,MY56000001,D.03.01"),
            ("SYST:CHAN?", "+4"),
            ("SYST:CHAN:MOD? (@1)", "N6781A"),
            ("EMUL PS2Q,(@1)", None),
            ("CURR:LIM 0.1,(@1)", None),
            ("VOLT 1.8,(@1)", None),
            OK,
            ("OUTP ON,(@1)", None),
            OK,
            ("OUTP? (@1)", "1"),
            ("ABOR:ACQ (@1,2,3,4)", None),
            ("ABOR:ELOG (@1,2,3,4)", None),
            ("OUTP OFF,(@1)", None),
            ("OUTP OFF,(@2)", None),
            ("OUTP OFF,(@3)", None),
            ("OUTP OFF,(@4)", None),
            OK,
        ]
    )
    with KeysightN6705C(t, LIMITS) as driver:
        assert driver.identify().model == "N6705C"
        driver.configure_supply(1.8, 0.1)
        driver.set_output(True)
        assert driver.output_enabled()
    t.assert_done()
    assert t.closed


@pytest.mark.parametrize(
    "action",
    [
        lambda d: d.set_voltage(5.0),
        lambda d: d.set_current_limit(0.5),
        lambda d: d.configure_supply(1.8, 1.0),
        lambda d: d.configure_supply(4.0, 0.1),
        lambda d: d.set_output(True),  # no current limit set yet
        lambda d: d.set_voltage(float("nan")),
    ],
)
def test_safety_refusals_send_nothing(action) -> None:
    t = ScriptedTransport([])
    driver = KeysightN6705C(t, LIMITS)
    with pytest.raises(SafetyLimitError, match=r"nothing was sent|not a valid"):
        action(driver)
    assert t.sent == []


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (CaptureRequest(10.0, 5e-6), "array buffer"),
        (CaptureRequest(0.1, 1e-5, sync=SyncSpec("digital_channel", "PIN1")), "not supported"),
        (CaptureRequest(0.1, 1e-5, sync=SyncSpec("hw_trigger_start", "DIO3")), "PIN1..PIN7"),
        (CaptureRequest(0.1, 1e-5, sync=SyncSpec("hw_trigger_start", "EXT", "rising")), "low-true"),
        (CaptureRequest(0.1, 1e-5, current_range_a=-1.0), "> 0 A"),
        (CaptureRequest(0.0, 1e-5), "must be > 0"),
    ],
)
def test_bad_capture_requests_are_refused_before_sending(request_, match) -> None:
    t = ScriptedTransport([])
    with pytest.raises(ConfigError, match=match):
        KeysightN6705C(t).configure_capture(request_)
    assert t.sent == []


def test_pin_triggered_capture_with_vmeter_sync_channel() -> None:
    n = 54
    current = np.full(n, 0.01)
    voltage = np.full(n, 1.8)
    sync = np.full(n, 1.8)
    sync[5:10] = sync[30:35] = 0.0  # the trigger pulse and the end-of-window pulse
    t = ScriptedTransport(
        [
            ("FORM REAL", None),
            ("FORM:BORD SWAP", None),
            ("EMUL VMET,(@2)", None),
            ("SENS:FUNC:CURR OFF,(@2)", None),
            ("SENS:FUNC:VOLT ON,(@2)", None),
            ("SENS:FUNC:CURR ON,(@1)", None),
            ("SENS:FUNC:VOLT ON,(@1)", None),
            ("SENS:CURR:RANG MAX,(@1)", None),
            ("SENS:SWE:TINT 1e-05,(@1,2)", None),
            OK,
            ("SENS:SWE:TINT? (@1)", "+2.048000E-05"),
            ("SENS:SWE:POIN 54,(@1,2)", None),
            ("SENS:SWE:OFFS:POIN -5,(@1,2)", None),
            ("DIG:PIN1:FUNC TINP", None),
            ("DIG:PIN1:POL NEG", None),
            ("TRIG:ACQ:SOUR PIN1,(@1,2)", None),
            OK,
            ("SENS:CURR:RANG? (@1)", "+3.000000E+00"),
            ("INIT:ACQ (@1,2)", None),
            OK,
            ("STAT:OPER:COND? (@1)", "+32"),  # MEAS-active: waiting for the edge, or acquiring
            ("STAT:OPER:COND? (@1)", "+0"),
            ("FETC:ARR:CURR? (@1)", _block(current)),
            ("FETC:ARR:VOLT? (@1)", _block(voltage)),
            ("FETC:ARR:VOLT? (@2)", _block(sync)),
        ]
    )
    driver = KeysightN6705C(t)
    settings = driver.configure_capture(
        CaptureRequest(1e-3, 1e-5, pretrigger_s=1e-4, sync=SyncSpec("analog_channel", "PIN1"))
    )
    assert (settings.sample_interval_s, settings.n_points, settings.pretrigger_points) == (
        2.048e-5,
        54,
        5,
    )
    driver.arm()
    capture = driver.fetch(timeout_s=2.0)
    t.assert_done()
    assert capture.trace.first_sample_id == -5
    assert capture.trace.sample_rate_hz == pytest.approx(1 / 2.048e-5)
    assert capture.edge_positions == pytest.approx(
        (0.0, 24.5)
    )  # trigger at id 0; the next falling edge
    chunk = capture.trace.read(-5, 49)
    np.testing.assert_allclose(chunk.current_a, 0.01, rtol=1e-7)
    assert chunk.digital["timestamp"][:5].all() and not chunk.digital["timestamp"][5:10].any()


def test_capture_error_block_surfaces_the_instrument_errors() -> None:
    t = ScriptedTransport(
        [
            ("STAT:OPER:COND? (@1)", "+0"),
            ("FETC:ARR:CURR? (@1)", b"#10\n"),
            ("SYST:ERR?", '-230,"Data corrupt or stale"'),
            OK,
        ]
    )
    driver = KeysightN6705C(t)
    from energybench.instruments.capabilities import CaptureSettings
    from energybench.instruments.keysight_n6705c import _CaptureState
    from energybench.instruments.keysight_sync import SyncPlan

    driver._capture = _CaptureState(
        CaptureSettings(1e-5, 4, 0, 3.0), SyncPlan("BUS", False, "falling", True), True, "(@1)"
    )
    with pytest.raises(InstrumentError, match="expected 4") as info:
        driver.fetch(1.0)
    assert "Data corrupt or stale" in " ".join(info.value.__notes__)
    t.assert_done()


def _pin_capture_state(n_points: int, pretrigger_points: int):
    from energybench.instruments.capabilities import CaptureSettings
    from energybench.instruments.keysight_n6705c import _CaptureState
    from energybench.instruments.keysight_sync import SyncPlan

    settings = CaptureSettings(1e-4, n_points, pretrigger_points, 3.0)
    return _CaptureState(settings, SyncPlan("PIN1", False, "falling", False), False, "(@1)")


def test_acquisition_end_is_measurement_active_clearing_and_bit_3_is_ignored() -> None:
    """N6705C OSG p.350: STAT:OPER bit 3 is "not used" (always 0) and bit 5 (MEAS-active, 32)
    stays set from INIT:ACQ through the wait for the trigger. Only bit 5 decides; a timeout
    names both causes it cannot tell apart, with the capture's length after the trigger."""
    t = ScriptedTransport(
        [
            ("STAT:OPER:COND? (@1)", "+8"),  # bit 3 (an N6700C's WTG-meas) means nothing here
            ("STAT:OPER:COND? (@1)", "+36"),  # output off + MEAS-active, timeout 0: give up
        ]
    )
    driver = KeysightN6705C(t)
    driver._capture = _pin_capture_state(1000, 100)  # 900 points × 100 µs = 0.09 s after
    driver.wait_complete(0.0)  # bit 5 clear: complete
    with pytest.raises(InstrumentTimeoutError, match=r"ends 0\.09 s after its trigger.*more than"):
        driver.wait_complete(0.0)
    t.assert_done()
    message = KeysightN6705C._still_active_message(driver._capture, 5.0)
    assert "no trigger came (trigger source PIN1, falling edge)" in message
    assert "in the last 0.09 s" in message


def test_profile_status_bit_and_buffer_are_the_drivers_and_simulators() -> None:
    import tomllib

    from energybench._data import data_dir
    from energybench.instruments import keysight_n6705c
    from energybench.sim.instruments.keysight import keysight_n6705c_meas

    with (data_dir("instruments") / "keysight_n6705c.toml").open("rb") as f:
        scope = tomllib.load(f)["scope"]
    bit = 1 << scope["measurement_active_bit"]
    assert bit == keysight_n6705c.MEASUREMENT_ACTIVE == keysight_n6705c_meas.MEASUREMENT_ACTIVE
    assert scope["max_points"] == keysight_n6705c.MAX_POINTS


def test_elog_stream_counts_fifo_losses_as_a_gap() -> None:
    records = lambda k: np.array([[0.01, 1.8, 1.8]] * k)  # noqa: E731
    t = ScriptedTransport(
        [
            ("FORM REAL", None),
            ("FORM:BORD NORM", None),
            ("EMUL VMET,(@2)", None),
            ("SENS:ELOG:FUNC:CURR OFF,(@2)", None),
            ("SENS:ELOG:FUNC:VOLT ON,(@2)", None),
            ("SENS:ELOG:FUNC:CURR ON,(@1)", None),
            ("SENS:ELOG:FUNC:VOLT ON,(@1)", None),
            ("SENS:CURR:RANG 0.1,(@1)", None),
            ("SENS:ELOG:PER 0.0003072,(@1,2)", None),
            ("DIG:PIN1:FUNC TINP", None),
            ("DIG:PIN1:POL NEG", None),
            ("TRIG:ELOG:SOUR PIN1,(@1,2)", None),
            OK,
            ("SENS:ELOG:PER? (@1)", "+3.072000E-04"),
            ("INIT:ELOG (@1,2)", None),
            OK,
            ("FETC:ELOG? 20000,(@1,2)", _block(records(2), True)),
            OK,
            ("FETC:ELOG? 20000,(@1,2)", _block(records(3), True)),
            ("SYST:ERR?", '+313,"Elog FIFO overflow; 5 records lost"'),
            OK,
            ("ABOR:ELOG (@1,2)", None),
            OK,
        ]
    )
    driver = KeysightN6705C(t, big_endian=True)
    settings = driver.configure_stream(
        StreamRequest(1 / 307.2e-6, current_range_a=0.1, sync=SyncSpec("analog_channel", "PIN1"))
    )
    assert settings.sample_kind == "bin" and settings.digital_names == ("timestamp",)
    assert settings.sample_rate_hz == pytest.approx(1 / 307.2e-6)
    driver.start()
    chunks = driver.chunks(timeout_s=1.0)
    first = next(chunks)
    second = next(chunks)
    driver.stop()
    assert list(chunks) == []
    t.assert_done()
    assert (first.first_sample_id, first.n_samples) == (0, 2)
    assert (second.first_sample_id, second.n_samples) == (7, 3)
    stats = driver.stream_stats
    assert (stats.samples_received, stats.samples_dropped, stats.dropped_ranges) == (5, 5, [(2, 7)])
    assert driver.stream_edge_positions == [0.0]  # record 0 starts at the trigger edge


def test_elog_rate_faster_than_the_instrument_is_refused() -> None:
    t = ScriptedTransport([])
    with pytest.raises(ConfigError, match="faster than the Elog"):
        KeysightN6705C(t).configure_stream(StreamRequest(1 / 102.4e-6))
    assert t.sent == []


def test_configuration_errors_raise_with_every_entry() -> None:
    t = ScriptedTransport(
        [
            ("VOLT 1.8,(@1)", None),
            ("SYST:ERR?", '-222,"Data out of range"'),
            ("SYST:ERR?", '-221,"Settings conflict"'),
            OK,
        ]
    )
    with pytest.raises(InstrumentError) as info:
        KeysightN6705C(t).set_voltage(1.8)
    assert info.value.details["errors"] == ['-222,"Data out of range"', '-221,"Settings conflict"']
    t.assert_done()


def test_safe_shutdown_never_raises_and_is_repeatable() -> None:
    t = ScriptedTransport([("ABOR:ACQ (@1,2)", None)])  # then the "instrument" goes away
    driver = KeysightN6705C(t)
    driver.safe_shutdown()
    driver.safe_shutdown()
    assert t.sent[0] == "ABOR:ACQ (@1,2)"
    with pytest.raises(TransportError):
        t.write("anything")


@pytest.mark.parametrize(
    ("readback", "summary"),
    [
        ("0", "outputs off (confirmed)"),
        ("1", "output state UNKNOWN: read back output off failed: the output still reads on"),
    ],
)
def test_shutdown_confirms_the_output_off_by_reading_it_back(readback, summary) -> None:
    """Every output off (the DUT's first), the error queue drained, then ``OUTP? (@1)`` must
    read 0 before the report says "confirmed"."""
    t = ScriptedTransport(
        [
            ("ABOR:ACQ (@1,2)", None),
            ("ABOR:ELOG (@1,2)", None),
            ("OUTP OFF,(@1)", None),
            ("OUTP OFF,(@2)", None),
            OK,
            ("OUTP? (@1)", readback),
        ]
    )
    report = KeysightN6705C(t).safe_shutdown()
    t.assert_done()
    assert report.summary() == summary
    assert report.output_off is (readback == "0")
    assert [s.name for s in report.steps if s.output] == [
        "output 1 off",
        "output 2 off",
        "read back output off",
    ]
