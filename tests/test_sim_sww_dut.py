"""The simulated streaming-wakeword DUT on its own pty: literal transcripts
(docs/dut-protocol.md#sww-dut-commands)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import serial
from sim_helpers import command

from energybench.errors import ConfigError
from energybench.sim.dut.profiles import load_profile, profile_from_dict
from energybench.sim.physics.timeline import Timeline
from energybench.sim.sww.engine import format_int8_list, format_int16_list
from energybench.sim.sww.model import (
    LfbeFrontEnd,
    StandInSwwDetector,
    mel_weight_matrix,
    quantize_features,
)
from energybench.sim.sww.sww_dut import PROCESSING_PIN, WW_PIN, SimSwwDut


@pytest.fixture
def sww():
    profile = load_profile("stm32l4r5-reference")
    timeline = Timeline(supply_voltage_v=profile.supply_voltage_v, output_on=True)
    dut = SimSwwDut(timeline, profile, idle_speed=0.0).start()
    port = serial.Serial(dut.port, 115200, timeout=0.05)
    try:
        yield dut, port
    finally:
        port.close()
        dut.stop()


def test_identification_transcripts(sww) -> None:
    _, port = sww
    assert command(port, "name") == (
        b"Received command: name\r\nm-name-dut-[ML Commons]\r\nm-ready\r\n"
    )
    assert command(port, "profile") == (
        b"Received command: profile\r\n"
        b"m-profile-[MLPerf Tiny Firmware V0.1.0]\r\n"
        b"m-model-[sww01]\r\n"
        b"m-ready\r\n"
    )


def test_unknown_and_empty_commands(sww) -> None:
    _, port = sww
    assert command(port, "infer 10 1") == (
        b"Received command: infer 10 1\r\nUnrecognized command infer 10 1\r\nm-ready\r\n"
    )
    assert command(port, "") == (
        b"Received command: \r\nEmpty command (only a % read).  Type 'help%' for help\r\n"
        b"m-ready\r\n"
    )
    help_reply = command(port, "help")
    assert help_reply.startswith(b"Received command: help\r\nname        -- print out")
    assert b"incoming I2S wav datastop        -- Stop wakeword detectionstate" in help_reply
    assert help_reply.endswith(b"help        -- Print this help message\r\nm-ready\r\n")


def test_start_stop_transcripts_and_pins(sww) -> None:
    dut, port = sww
    timeline = dut.timeline
    assert command(port, "stop") == (
        b"Received command: stop\r\nI2S is already idle.  Ignoring stop request\r\nm-ready\r\n"
    )
    assert command(port, "start") == (
        b"Received command: start\r\nListening for I2S data ... \r\n"
        b"DMA receive initiated.\r\nm-ready\r\n"
    )
    assert command(port, "start") == (
        b"Received command: start\r\nI2S Rx currently in progress. Ignoring request\r\nm-ready\r\n"
    )
    # one second of silence then a loud tone: 31 frames, the first marks time zero
    tone = (8000 * np.sin(np.arange(8000) * 0.4)).astype(np.int16)
    dut.play_i2s(np.concatenate([np.zeros(16000, np.int16), tone]), 16000)
    activations = dut.streams[-1].activations
    assert len(activations) == 24000 // 512
    reply = command(port, "stop")
    expected = b"Received command: stop\r\nStreaming stopped.\r\ntarget activations: \r\n"
    expected += "".join(format_int8_list(activations)).encode() + b"m-ready\r\n"
    assert reply == expected
    assert reply.count(b"\r\n") == 3 + 3 + 2  # 46 values: 3 lines of 16, "]", m-ready
    assert dut.last_activations == activations
    stream = dut.streams[-1]
    stamps = timeline.edges("timestamp", "falling")[1:]  # after the boot pulse
    assert list(stamps) == [stream.start_s, stream.end_s]
    assert len(timeline.edges(WW_PIN, "falling")) == len(stream.detections_s) == 2
    rising = timeline.edges(PROCESSING_PIN, "rising")
    assert len(rising) == 1 + len(activations)  # the 1 µs alignment pulse at start
    falling = timeline.edges(PROCESSING_PIN, "falling")
    assert np.allclose(falling[1:] - rising[1:], dut.latency_s)
    assert np.allclose(np.diff(rising[1:]), 0.032)
    mid = (rising[5] + falling[5]) / 2
    assert timeline.current_at(mid) == pytest.approx(dut.active_current_a)


def test_int8_list_format() -> None:
    assert "".join(format_int8_list([])) == "[]\r\n"
    assert "".join(format_int8_list([1, -2])) == "[1, -2  \r\n]\r\n"
    lines = format_int8_list(list(range(17)))
    assert lines[0].startswith("[0, 1, ") and lines[0].endswith("15, \r\n")
    assert lines[1:] == ["16  \r\n", "]\r\n"]


def test_int16_list_format() -> None:
    assert format_int16_list([]) == ["["]  # no last value: no closing bracket
    assert format_int16_list([1, -2]) == ["[1, -2] \r\n"]
    lines = format_int16_list(list(range(17)))
    assert lines[0].startswith("[0, 1, ") and lines[0].endswith("15, \r\n")
    assert lines[1:] == ["16] \r\n"]


def test_db_commands(sww) -> None:
    _, port = sww
    assert (
        command(port, "db load 3")
        == b"Received command: db load 3\r\nExpecting 3 bytes\r\nm-ready\r\n"
    )
    assert (
        command(port, "db 0a0B") == b"Received command: db 0a0B\r\n2 bytes received\r\nm-ready\r\n"
    )
    assert command(port, "db ff") == b"Received command: db ff\r\nm-load-done\r\nm-ready\r\n"
    assert (
        command(port, "db getptr") == b"Received command: db getptr\r\nm-buff-ptr-3\r\nm-ready\r\n"
    )
    assert command(port, "db print 4") == (
        b"Received command: db print 4\r\nm-buffer-0a-0b-ff-00\r\nm-ready\r\n"
    )
    assert command(port, "db 00") == (
        b"Received command: db 00\r\n"
        b"Error: Must issue db load <Nbytes> command before transmitting data.\r\nm-ready\r\n"
    )
    assert command(port, "db load") == (
        b"Received command: db load\r\n"
        b"Error: Transfer size ((null)) must be valid int; greater than 0.\r\n"
        b"Usage: 'db load N'; N>0\r\nm-ready\r\n"
    )
    command(port, "db load 4")
    assert command(port, "db 01zz") == (
        b"Received command: db 01zz\r\n"
        b"Error: Received non-hex digit in character pair 'zz' at location 4\r\n"
        b"Canceling segment upload. Still waiting for data\r\nm-ready\r\n"
    )


def test_timestamp_pulse_holds_the_profile_hold_or_the_reference_microsecond(sww) -> None:
    dut, port = sww
    assert command(port, "timestamp") == b"Received command: timestamp\r\nm-ready\r\n"
    falls = dut.timeline.edges("timestamp", "falling")
    rises = dut.timeline.edges("timestamp", "rising")
    assert len(falls) == 2  # boot and the command
    assert rises[-1] - falls[-1] == pytest.approx(dut.profile.timestamp_hold_s)
    # the reference firmware's th_delay_us(1), set in the profile's [sww01] table
    reference = dataclasses.replace(dut.profile, sww_timestamp_hold_s=1e-6)
    timeline = Timeline(supply_voltage_v=reference.supply_voltage_v, output_on=True)
    with SimSwwDut(timeline, reference, idle_speed=0.0) as ref_dut:
        falls, rises = timeline.edges("timestamp", "falling"), timeline.edges("timestamp", "rising")
        assert rises[0] - falls[0] == pytest.approx(1e-6)
        assert ref_dut.profile.sww_timestamp_hold_s == 1e-6


def test_stand_in_detector_fires_once_per_onset() -> None:
    det = StandInSwwDetector()
    quiet = np.zeros(512, np.int16)
    loud = np.full(512, 10000, np.int16)
    outputs = [det.process(x) for x in (quiet, loud, loud, quiet, loud)]
    assert outputs[1] == 127 and max(outputs[2:]) <= 115  # the hold-off swallows the 2nd onset


def test_profile_sww_table_is_validated() -> None:
    import tomllib

    from energybench.sim.dut.profiles import PROFILE_DIR

    data = tomllib.loads((PROFILE_DIR / "fast-m33.toml").read_text())
    data["sww01"]["frame_latency_s"] = 0.05
    with pytest.raises(ConfigError, match=r"sww01\.frame_latency_s"):
        profile_from_dict(data, source="p.toml")
    del data["sww01"]
    with pytest.raises(ConfigError, match="no \\[sww01\\] table"):
        profile_from_dict(data, source="p.toml").sww_figures()


def test_extract_uart_stream_on_db_loaded_samples(sww) -> None:
    _, port = sww
    command(port, "db load 1024")
    # "db " + 1024 hex digits fits the 1028-character command buffer; 2048 would be truncated
    assert command(port, "db " + "00" * 512).endswith(b"512 bytes received\r\nm-ready\r\n")
    assert command(port, "db " + "00" * 512).endswith(b"m-load-done\r\nm-ready\r\n")
    reply = command(port, "extract_uart_stream").decode()
    features = re.search(r"m-features-\[(.*)\]\r\n", reply)
    activations = re.search(r"m-activations-\[([ +-]\d+), ([ +-]\d+), ([ +-]\d+)\]\r\n", reply)
    assert features is not None and activations is not None
    assert features.group(1) == ", ".join(["-128"] * 40)  # silence: every mel energy clips
    assert activations.group(2) == "-128"


def test_mel_filters_and_a_tone_lands_in_its_band() -> None:
    weights = mel_weight_matrix()
    assert weights.shape == (513, 40)
    assert not weights[0].any()  # DC carries no weight
    peaks = weights.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0) and weights.max(axis=0).min() > 0.5
    front = LfbeFrontEnd()
    tone = (12000 * np.sin(2 * np.pi * 1000 * np.arange(1024) / 16000)).astype(np.int16)
    front.push(tone[:512])
    features = front.push(tone[512:])
    bin_1khz = round(1000 / 8000 * 512)
    assert features.argmax() == weights[bin_1khz].argmax()
    # C truncation toward zero, clipped to int8
    assert quantize_features(np.array([0.0, 1.0, 0.3]), 1 / 256).tolist() == [-128, 127, -51]
