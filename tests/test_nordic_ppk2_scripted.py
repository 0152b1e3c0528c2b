"""PPK2 driver against scripted bytes: the exact commands sent, the metadata and sample words
built here by hand from the documented layout (docs/instruments/ppk2.md), not by the simulator."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from energybench.errors import ConfigError, InstrumentError, SafetyLimitError
from energybench.instruments import nordic_ppk2_protocol as proto
from energybench.instruments.capabilities import StreamRequest, SyncSpec
from energybench.instruments.nordic_ppk2 import NordicPpk2
from energybench.instruments.supply_limits import SafetyLimits
from energybench.transport.scripted import ScriptedTransport

LIMITS = SafetyLimits(max_voltage_v=3.3, max_current_a=0.1)
K = 1.8 / 163840  # volts per count of 4 × the ADC field
R = (1000.0, 100.0, 10.0, 1.0, 0.05)
METADATA = (
    "Calibrated: 0\n"
    + "".join(f"R{k}: {r}\n" for k, r in enumerate(R))
    + "".join(f"GS{k}: 0\n" for k in range(5))
    + "".join(f"GI{k}: 1\n" for k in range(5))
    + "".join(f"O{k}: 0\n" for k in range(5))
    + "VDD: 3000\nHW: 9173\nmode: 2\n"
    + "".join(f"S{k}: 0\n" for k in range(5))
    + "".join(f"I{k}: 0\n" for k in range(5))
    + "".join(f"UG{k}: 1\n" for k in range(5))
    + "IA: 56\nEND\n"
)


def b(*values: int) -> str:
    """Command bytes as the scripted transport's latin-1 text."""
    return bytes(values).decode("latin-1")


def word(adc: int, rng: int, counter: int, logic: int) -> bytes:
    return struct.pack("<I", adc | rng << 14 | (counter & 63) << 18 | logic << 24)


def connected(extra=(), mode="source", **kw) -> tuple[NordicPpk2, ScriptedTransport]:
    power_mode = [(b(0x11, 2), None), (b(0x0C, 0), None)]
    if mode == "ampere":
        power_mode = [(b(0x11, 1), None), (b(0x0C, 1), None)]
    transport = ScriptedTransport(
        [(b(0x07), None), (b(0x19), METADATA.encode()), *power_mode, *extra],
        write_termination="",
        encoding="latin-1",
    )
    driver = NordicPpk2(transport, LIMITS, mode=mode, **kw)
    driver.connect()
    return driver, transport


def test_source_mode_session_exact_bytes() -> None:
    samples = word(1000, 1, 62, 0b1) + word(1000, 1, 63, 0b1) + word(2000, 2, 0, 0b10)
    samples += word(300, 0, 1, 0)
    driver, transport = connected(
        [
            (b(0x0D, 0x07, 0x08), None),  # RegulatorSet 1800 mV, big-endian
            (b(0x0C, 1), None),  # DeviceRunningSet on
            (b(0x06), samples),  # AverageStart: the device streams
            (b(0x07), None),  # AverageStop
            (b(0x07), None),  # safe_shutdown: stop again,
            (b(0x0C, 0), None),  # DUT off
        ]
    )
    assert driver.calibration.modifiers["R"] == R
    assert driver.calibration.defaulted == ()
    driver.set_voltage(1.8)
    driver.set_current_limit(0.05)  # recorded, nothing sent: the PPK2 has no limit
    driver.set_output(True)
    assert driver.output_enabled()
    settings = driver.configure_stream(
        StreamRequest(100_000, sync=SyncSpec("digital_channel", "d1", "rising"))
    )
    assert settings.voltage_v == 1.8 and settings.digital_names[:2] == ("d0", "d1")
    assert settings.current_ranges_a[1] == pytest.approx(16383 * 4 * K / 100)
    driver.start()
    driver.stop()
    (chunk,) = list(driver.chunks(1.0))
    assert chunk.first_sample_id == 0 and chunk.n_samples == 4
    expected = [4000 * K / 100, 4000 * K / 100, 8000 * K / 10, 1200 * K / 1000]
    np.testing.assert_allclose(chunk.current_a, expected, rtol=1e-12)
    assert chunk.current_range.tolist() == [1, 1, 2, 0]
    assert chunk.digital["d0"].tolist() == [True, True, False, False]
    assert chunk.digital["d1"].tolist() == [False, False, True, False]
    assert chunk.voltage_v == 1.8
    assert driver.stats.samples_received == 4 and driver.stats.samples_dropped == 0
    driver.safe_shutdown()
    transport.assert_done()


def test_counter_jump_is_a_gap_of_lost_samples() -> None:
    before = b"".join(word(100, 1, c, 0) for c in (10, 11, 12))
    after = b"".join(word(200, 1, c, 0) for c in (20, 21, 22, 23, 24))  # 13..19 lost
    driver, transport = connected(
        [(b(0x0D, 0x0B, 0xB8), None), (b(0x06), before + after), (b(0x07), None)]
    )
    driver.set_voltage(3.0)
    driver.configure_stream(StreamRequest(100_000))
    driver.start()
    driver.stop()
    first, second = list(driver.chunks(1.0))
    assert (first.first_sample_id, first.n_samples) == (0, 3)
    assert (second.first_sample_id, second.n_samples) == (10, 5)  # ids 3..9 never arrived
    assert driver.stats.samples_dropped == 7 and driver.stats.dropped_ranges == [(3, 10)]
    transport.assert_done()


def test_lost_bytes_resync_on_the_counter() -> None:
    stream = b"".join(word(100 + c, 1, c, 0) for c in range(8))
    stream = stream[:13] + stream[16:]  # three bytes of sample 3 vanish
    stream += b"".join(word(100 + c, 1, c, 0) for c in range(8, 12))
    decoder = proto.WordDecoder()
    parts = decoder.feed(stream[:10]) + decoder.feed(stream[10:], final=True)
    ids = [p.first_id + k for p in parts for k in range(len(p.adc))]
    adc = [int(a) for p in parts for a in p.adc]
    assert ids == [0, 1, 2, *range(4, 12)]  # sample 3 lost, everything after it in place
    assert adc == [100 + i for i in ids]
    assert decoder.stats.samples_lost == 1 and decoder.stats.resyncs == 1
    assert decoder.stats.bytes_skipped == 1


def test_ampere_mode_needs_the_external_voltage_and_sources_nothing() -> None:
    with pytest.raises(ConfigError, match="external_voltage_v"):
        NordicPpk2(ScriptedTransport([]), mode="source", external_voltage_v=1.8)
    driver, transport = connected(mode="ampere", external_voltage_v=2.5)
    assert driver.output_enabled()  # the DUT path closed at connect, as the vendor app does
    with pytest.raises(ConfigError, match="ampere-meter mode"):
        driver.set_voltage(1.8)
    assert driver.configure_stream(StreamRequest(100_000)).voltage_v == 2.5
    transport.assert_done()
    bare, _ = connected(mode="ampere")
    with pytest.raises(ConfigError, match="external_voltage_v"):
        bare.configure_stream(StreamRequest(100_000))


def test_refusals_send_nothing() -> None:
    driver, transport = connected()
    for volts in (0.7, 3.4, 5.5, float("nan")):
        with pytest.raises(SafetyLimitError):
            driver.set_voltage(volts)
    with pytest.raises(ConfigError, match="whole millivolts"):
        driver.set_voltage(1.8005)
    with pytest.raises(SafetyLimitError):
        driver.set_current_limit(0.2)
    with pytest.raises(SafetyLimitError, match="current limit"):
        driver.set_output(True)
    driver.set_current_limit(0.05)
    with pytest.raises(SafetyLimitError, match="set the voltage"):
        driver.set_output(True)
    with pytest.raises(ConfigError, match="100000 Hz only"):
        driver.configure_stream(StreamRequest(10_000))
    with pytest.raises(ConfigError, match="switches its ranges"):
        driver.configure_stream(StreamRequest(100_000, current_range_a=0.07))
    with pytest.raises(ConfigError, match="d0, d1"):
        driver.configure_stream(StreamRequest(100_000, sync=SyncSpec("digital_channel", "gpi[0]")))
    transport.assert_done()  # nothing beyond the connect was sent


def test_metadata_parsing() -> None:
    cal = proto.parse_metadata("R0: 0\nR1: -nan\nGS2: 1.5\nHW: 9173\nmode: 1\nEND")
    assert cal.modifiers["R"][:2] == proto.DEFAULTS["R"][:2]  # R 0 and nan keep the app default
    assert cal.modifiers["GS"][2] == 1.5 and cal.power_mode == 1
    assert "R0" in cal.defaulted and "R1" in cal.defaulted and "UG4" in cal.defaulted
    with pytest.raises(InstrumentError, match="END"):
        proto.parse_metadata("R0: 1000\n")
    with pytest.raises(InstrumentError, match="unrecognised"):
        proto.parse_metadata("R0: 1000\n\x01\x02garbage\nEND")


def test_conversion_applies_every_calibration_term() -> None:
    modifiers = {
        "R": (1000.0, 100.0, 10.0, 1.0, 0.05),
        "GS": (0.0, 2.0, 0.0, 0.0, 0.0),
        "GI": (1.0, 0.97, 1.0, 1.0, 1.0),
        "O": (0.0, 80.0, 0.0, 0.0, 0.0),
        "S": (0.0, 1e-6, 0.0, 0.0, 0.0),
        "I": (0.0, 2e-7, 0.0, 0.0, 0.0),
        "UG": (1.0, 1.01, 1.0, 1.0, 1.0),
    }
    cal = proto.Calibration(modifiers)
    x = (4 * 5000 - 80.0) * K / 100.0
    expected = 1.01 * (x * (2.0 * x + 0.97) + (1e-6 * 1.8 + 2e-7))
    got = cal.current_a(np.array([5000]), np.array([1]), 1.8)
    assert got[0] == pytest.approx(expected, rel=1e-12)


def test_user_gain_and_regulator_bytes() -> None:
    assert proto.regulator_set(800) == bytes((0x0D, 0x03, 0x20))
    assert proto.regulator_set(5000) == bytes((0x0D, 0x13, 0x88))
    with pytest.raises(ConfigError):
        proto.regulator_set(799)
    assert proto.set_user_gain(2, 1.0) == bytes((0x25, 2)) + struct.pack("<f", 1.0)
