"""Keithley 2450/2460/2461 driver: exact command/reply exchanges over the scripted transport."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.errors import (
    AcquisitionError,
    ConfigError,
    InstrumentError,
    SafetyLimitError,
)
from energybench.instruments.capabilities import CaptureRequest, SyncSpec
from energybench.instruments.keithley_2400 import Keithley2450, Keithley2461
from energybench.instruments.scpi import SafetyLimits
from energybench.transport.scripted import ScriptedTransport

OK = '0,"No error"'
LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.5)
START_STOP = SyncSpec("hw_trigger_start_stop", "DIG2", "falling")


def _block(rows: list[list[float]], dtype: str, big_endian: bool) -> bytes:
    data = np.asarray(rows, dtype=np.dtype(dtype).newbyteorder(">" if big_endian else "<"))
    return b"#0" + data.tobytes() + b"\n"


def test_supply_sequence_sets_the_limit_before_output_on() -> None:
    t = ScriptedTransport(
        [
            (":SOUR:FUNC VOLT", None),
            (":SOUR:VOLT:ILIM 0.05", None),
            (":SYST:ERR?", OK),
            (":SOUR:FUNC VOLT", None),
            (":SOUR:VOLT 1.8", None),
            (":SYST:ERR?", OK),
            (":OUTP ON", None),
            (":SYST:ERR?", OK),
            (":OUTP?", "1"),
        ]
    )
    k = Keithley2461(t, LIMITS)
    k.set_current_limit(0.05)
    k.set_voltage(1.8)
    k.set_output(True)
    assert k.output_enabled()
    t.assert_done()


def test_refusals_send_nothing() -> None:
    t = ScriptedTransport([])
    k = Keithley2461(t, LIMITS)
    with pytest.raises(SafetyLimitError, match="nothing was sent"):
        k.set_voltage(3.7)
    with pytest.raises(SafetyLimitError):
        k.set_current_limit(0.6)
    with pytest.raises(SafetyLimitError, match="current limit before"):
        k.set_output(True)
    with pytest.raises(SafetyLimitError, match="above the keithley_2450's rating of 210 V"):
        Keithley2450(t).set_voltage(250.0)
    bad_requests = [
        (CaptureRequest(1e-3, 1e-6, pretrigger_s=1e-4), "pre-trigger"),
        (CaptureRequest(1e-3, 1e-7), "outside the digitizer"),
        (CaptureRequest(1e-3, 1e-6, current_range_a=20.0), "exceeds the largest range"),
        (CaptureRequest(1e-3, 1e-6, sync=SyncSpec("digital_channel")), "sync mode"),
        (CaptureRequest(1e-3, 1e-6, sync=SyncSpec("hw_trigger_start", "DIG7")), "DIG7"),
        (CaptureRequest(100.0, 1e-6, sync=START_STOP), None),  # needs the read-back first
    ]
    for request, message in bad_requests[:-1]:
        with pytest.raises(ConfigError, match=message):
            k.configure_capture(request)
    with pytest.raises(ConfigError, match="channel"):
        Keithley2461(t, channel=2)
    assert t.sent == []


# The first capture asks for the buffer limit, fenced by *OPC? (a 24xx manual documents no
# :TRAC:POIN? MAX, so the instrument may only queue an error), ...
UNANSWERED_POINTS_MAX = [
    (":TRAC:POIN? MAX", None),
    ("*OPC?", "1"),
    (":SYST:ERR?", '-224,"Buffer MAX does not exist"'),
    (":SYST:ERR?", OK),
]
# ... and finds the digitize block's name: DIG (2461 Reference Manual Rev A) first.
DIGITIZE_BLOCK_PROBE = [
    (':TRIG:LOAD "Empty"', None),
    (':TRIG:BLOC:DIG 1,"defbuffer1",1', None),
    (":SYST:ERR?", OK),
]


def _configure_exchanges(buffer_points: int, line: int = 2) -> list:
    return [
        (":ABOR", None),
        (':DIG:FUNC "CURR"', None),
        (":DIG:CURR:RANG 0.1", None),
        (":DIG:CURR:SRAT 1000000", None),
        (":DIG:CURR:APER AUTO", None),
        (":SYST:ERR?", OK),
        *UNANSWERED_POINTS_MAX,
        (":DIG:CURR:SRAT?", "1.0000000000e+06"),
        (":DIG:CURR:APER?", "1.0000000000e-06"),
        (":DIG:CURR:RANG?", "1.000000e-01"),
        *DIGITIZE_BLOCK_PROBE,
        (f':TRAC:POIN {buffer_points},"defbuffer1"', None),
    ]


def _trigger_model_exchanges(data_format: str, byte_order: str) -> list:
    return [
        (f":FORM:DATA {data_format}", None),
        (f":FORM:BORD {byte_order}", None),
        (":SOUR:VOLT:READ:BACK ON", None),
        (":DIG:LINE2:MODE TRIG, IN", None),
        (":TRIG:DIG2:IN:EDGE FALL", None),
        (":TRIG:DIG2:IN:CLE", None),
        (':TRIG:LOAD "Empty"', None),
        (':TRIG:BLOC:BUFF:CLE 1,"defbuffer1"', None),
        (":TRIG:BLOC:WAIT 2,DIG2,ENT", None),
        (':TRIG:BLOC:DIG 3,"defbuffer1",INF', None),
        (":TRIG:BLOC:WAIT 4,DIG2,ENT", None),
        (':TRIG:BLOC:DIG 5,"defbuffer1",1', None),
        (":SYST:ERR?", OK),
    ]


@pytest.mark.parametrize(
    ("data_format", "big_endian"), [("REAL", False), ("REAL", True), ("SREAL", True)]
)
def test_start_stop_capture_configure_arm_fetch_shutdown(data_format, big_endian) -> None:
    rows = [[0.010, 1.8, k * 1e-6] for k in range(4)] + [[0.012, 1.8, 3.5e-6]]
    dtype = "f8" if data_format == "REAL" else "f4"
    fetch_tail = []
    if data_format == "SREAL":
        fetch_tail = [
            (":FORM:DATA ASC", None),
            (':TRAC:DATA? 5,5,"defbuffer1",REL', "3.500000000000e-06"),
            (":FORM:DATA SRE", None),
        ]
    t = ScriptedTransport(
        [
            *_configure_exchanges(102),
            *_trigger_model_exchanges(
                "REAL" if data_format == "REAL" else "SRE", "NORM" if big_endian else "SWAP"
            ),
            (":INIT", None),
            (":SYST:ERR?", OK),
            (":TRIG:STAT?", "WAITING;WAITING;4"),
            (":TRIG:STAT?", "IDLE;IDLE;5"),
            (':TRAC:ACT? "defbuffer1"', "5"),
            (':TRAC:DATA? 1,5,"defbuffer1",READ,SOUR,REL', _block(rows, dtype, big_endian)),
            *fetch_tail,
            (":ABOR", None),
            (":OUTP OFF", None),
            (":SYST:ERR?", OK),
        ]
    )
    k = Keithley2461(t, LIMITS, data_format=data_format, big_endian=big_endian)
    settings = k.configure_capture(
        CaptureRequest(100e-6, 1e-6, current_range_a=0.02, sync=START_STOP)
    )
    assert (settings.sample_interval_s, settings.n_points, settings.current_range_a) == (
        1e-6,
        100,
        0.1,
    )
    k.arm()
    capture = k.fetch(2.0)
    k.safe_shutdown()
    t.assert_done()
    assert capture.edge_positions == pytest.approx((0.0, 3.5))
    assert capture.trace.n_samples == 4 and capture.trace.sample_kind == "bin"
    chunk = capture.trace.read(0, 4)
    np.testing.assert_allclose(chunk.current_a, 0.010, rtol=1e-7)
    np.testing.assert_allclose(chunk.voltage_array(), 1.8, rtol=1e-7)


def test_lost_readings_off_the_grid_are_refused() -> None:
    rows = [[0.01, 1.8, 0.0], [0.01, 1.8, 1e-6], [0.01, 1.8, 3e-6], [0.01, 1.8, 3.2e-6]]
    t = ScriptedTransport(
        [
            *_configure_exchanges(102),
            *_trigger_model_exchanges("REAL", "SWAP"),
            (":TRIG:STAT?", "IDLE;IDLE;5"),
            (':TRAC:ACT? "defbuffer1"', "4"),
            (':TRAC:DATA? 1,4,"defbuffer1",READ,SOUR,REL', _block(rows, "f8", False)),
        ]
    )
    k = Keithley2461(t, LIMITS)
    k.configure_capture(CaptureRequest(100e-6, 1e-6, current_range_a=0.02, sync=START_STOP))
    with pytest.raises(AcquisitionError, match="sample grid"):
        k.fetch(1.0)
    t.assert_done()


def test_configuration_errors_are_drained_and_raised_together() -> None:
    t = ScriptedTransport(
        [
            *_configure_exchanges(102)[:5],
            (":SYST:ERR?", '-222,"Data out of range"'),
            (":SYST:ERR?", '-221,"Settings conflict"'),
            (":SYST:ERR?", OK),
        ]
    )
    k = Keithley2461(t, LIMITS)
    with pytest.raises(InstrumentError) as info:
        k.configure_capture(CaptureRequest(100e-6, 1e-6, current_range_a=0.02, sync=START_STOP))
    assert info.value.details["errors"] == ['-222,"Data out of range"', '-221,"Settings conflict"']
    assert ":DIG:CURR:SRAT 1000000" in info.value.details["commands"]
    t.assert_done()


def test_2450_start_capture_uses_nplc_and_measure_blocks() -> None:
    readings = np.zeros((30, 2))
    readings[:, 0] = 5e-3
    readings[:, 1] = np.arange(30) / 600.0
    t = ScriptedTransport(
        [
            (":SYST:LFR?", "60"),
            (":ABOR", None),
            (':SENS:FUNC "CURR"', None),
            (":SENS:CURR:RANG 0.01", None),
            (":SENS:CURR:AZER OFF", None),
            (":SENS:CURR:NPLC 0.1", None),
            (":SYST:ERR?", OK),
            *UNANSWERED_POINTS_MAX,
            (":SENS:CURR:NPLC?", "1.000000e-01"),
            (":SENS:CURR:RANG?", "1.000000e-02"),
            (':TRAC:POIN 32,"defbuffer1"', None),
            (":FORM:DATA REAL", None),
            (":FORM:BORD SWAP", None),
            (":SOUR:VOLT:READ:BACK OFF", None),
            (":DIG:LINE1:MODE TRIG, IN", None),
            (":TRIG:DIG1:IN:EDGE RIS", None),
            (":TRIG:DIG1:IN:CLE", None),
            (':TRIG:LOAD "Empty"', None),
            (':TRIG:BLOC:BUFF:CLE 1,"defbuffer1"', None),
            (":TRIG:BLOC:WAIT 2,DIG1,ENT", None),
            (':TRIG:BLOC:MEAS 3,"defbuffer1",30', None),
            (":SYST:ERR?", OK),
            (":INIT", None),
            (":SYST:ERR?", OK),
            (":TRIG:STAT?", "IDLE;IDLE;3"),
            (':TRAC:ACT? "defbuffer1"', "30"),
            (':TRAC:DATA? 1,30,"defbuffer1",READ,REL', _block(readings.tolist(), "f8", False)),
            (":SOUR:VOLT?", "3.300000e+00"),
        ]
    )
    k = Keithley2450(t, LIMITS)
    sync = SyncSpec("hw_trigger_start", "", "rising")
    request = CaptureRequest(0.05, 1 / 600, current_range_a=0.01, measure_voltage=False, sync=sync)
    settings = k.configure_capture(request)
    assert settings.n_points == 30
    k.arm()
    capture = k.fetch(1.0)
    t.assert_done()
    assert capture.trace.sample_rate_hz == pytest.approx(600.0)
    assert capture.edge_positions == (0.0,)
    assert capture.trace.read(0, 30).voltage_v == 3.3


def test_safe_shutdown_never_raises_and_is_repeatable() -> None:
    t = ScriptedTransport([(":ABOR", None)])  # then the script runs out: every step fails
    k = Keithley2461(t, LIMITS)
    k.safe_shutdown()
    k.safe_shutdown()
    assert t.sent[:2] == [":ABOR", ":OUTP OFF"]


def test_digitize_block_falls_back_to_mdig_where_dig_is_an_undefined_header(caplog) -> None:
    """The 2461 Rev A manual (p.6-202) documents :TRIG:BLOC:DIG; newer firmware calls it MDIG.
    DIG is tried first, MDIG on -113, the choice logged with the firmware and kept."""
    probe = [
        (':TRIG:LOAD "Empty"', None),
        (':TRIG:BLOC:DIG 1,"defbuffer1",1', None),
        (":SYST:ERR?", '-113,"Undefined header"'),
        (":SYST:ERR?", OK),
        (':TRIG:LOAD "Empty"', None),
        (':TRIG:BLOC:MDIG 1,"defbuffer1",1', None),
        (":SYST:ERR?", OK),
    ]
    configure = _configure_exchanges(102)
    model = [
        (c.replace(":TRIG:BLOC:DIG ", ":TRIG:BLOC:MDIG "), r)
        for c, r in _trigger_model_exchanges("REAL", "SWAP")
    ]
    t = ScriptedTransport(
        [
            ("*IDN?", "KEITHLEY INSTRUMENTS,MODEL 2461,04455555,1.7.12b"),
            *configure[:13],
            *probe,
            *configure[16:],
            *model,
            *configure[:6],  # the second capture asks neither again
            *configure[10:13],
            *configure[16:],
            *model,
        ]
    )
    k = Keithley2461(t, LIMITS)
    k.identify()
    request = CaptureRequest(100e-6, 1e-6, current_range_a=0.02, sync=START_STOP)
    with caplog.at_level("INFO", logger="energybench.instruments.keithley_2400_model"):
        k.configure_capture(request)
    assert "digitize block :TRIG:BLOC:MDIG (firmware 1.7.12b)" in caplog.text
    assert "no answer to :TRAC:POIN? MAX" in caplog.text
    k.configure_capture(request)
    assert k.digitize_block == ":TRIG:BLOC:MDIG"
    t.assert_done()


def test_digitize_block_other_errors_are_not_taken_for_a_missing_command() -> None:
    t = ScriptedTransport(
        [
            *_configure_exchanges(102)[:13],
            (':TRIG:LOAD "Empty"', None),
            (':TRIG:BLOC:DIG 1,"defbuffer1",1', None),
            (":SYST:ERR?", '-221,"Settings conflict"'),
            (":SYST:ERR?", OK),
        ]
    )
    with pytest.raises(InstrumentError, match=r"with :TRIG:BLOC:DIG failed: -221"):
        Keithley2461(t, LIMITS).configure_capture(
            CaptureRequest(100e-6, 1e-6, current_range_a=0.02, sync=START_STOP)
        )
    t.assert_done()


ADC_SETUP_2450 = [
    (":ABOR", None),
    (':SENS:FUNC "CURR"', None),
    (":SENS:CURR:RANG 0.01", None),
    (":SENS:CURR:AZER OFF", None),
    (":SENS:CURR:NPLC 0.01", None),
    (":SYST:ERR?", OK),
]


def _2450_exchanges(points_max: list, buffer_points: int) -> list:
    return [
        (":SYST:LFR?", "60"),
        *ADC_SETUP_2450,
        *points_max,
        (":SENS:CURR:NPLC?", "1.000000e-02"),
        (":SENS:CURR:RANG?", "1.000000e-02"),
        (f':TRAC:POIN {buffer_points},"defbuffer1"', None),
        (":FORM:DATA REAL", None),
        (":FORM:BORD SWAP", None),
        (":SOUR:VOLT:READ:BACK OFF", None),
        (':TRIG:LOAD "Empty"', None),
        (':TRIG:BLOC:BUFF:CLE 1,"defbuffer1"', None),
        (f':TRIG:BLOC:MEAS 2,"defbuffer1",{buffer_points - 2}', None),
        (":SYST:ERR?", OK),
    ]


def test_2450_buffer_limit_is_the_data_sheet_figure_unless_the_instrument_tells_more() -> None:
    """SPEC-2450 Rev A p.6: "> 250,000 readings" (the driver held the 2461's 6,875,000). A
    firmware that answers :TRAC:POIN? MAX sets the limit; otherwise 250,000 holds."""
    request = CaptureRequest(1800.0, 1 / 6000, current_range_a=0.01, measure_voltage=False)
    fifty_seconds = CaptureRequest(
        50.0, 1 / 6000, current_range_a=0.01, measure_voltage=False
    )  # 300,000 readings at 0.01 NPLC
    t = ScriptedTransport(  # the line frequency and the buffer limit are asked once
        [(":SYST:LFR?", "60"), *ADC_SETUP_2450, *UNANSWERED_POINTS_MAX, *ADC_SETUP_2450]
    )
    k = Keithley2450(t, LIMITS)
    with pytest.raises(ConfigError, match="exceeds the 250000-reading buffer; nothing was armed"):
        k.configure_capture(request)  # 10.8 M readings
    with pytest.raises(ConfigError, match="250000-reading buffer"):
        k.configure_capture(fifty_seconds)
    t.assert_done()
    answered = [(":TRAC:POIN? MAX", "5500000"), ("*OPC?", "1"), (":SYST:ERR?", OK)]
    t = ScriptedTransport(_2450_exchanges(answered, 300_002))
    k = Keithley2450(t, LIMITS)
    assert k.configure_capture(fifty_seconds).n_points == 300_000
    assert k.buffer_points() == 5_500_000
    t.assert_done()
