"""The simulated DUT over its pty, byte for byte (docs/dut-protocol.md)."""

from __future__ import annotations

import re

import pytest
import serial
from sim_helpers import READY, command, read_for, read_until

from energybench.sim.dut.profiles import load_profile
from energybench.sim.dut.sim_dut import SimDut
from energybench.sim.physics.timeline import Timeline

HELP = (
    b"ULPMark for tinyML Firmware V0.0.1\r\n"
    b"\r\n"
    b"help         : Print this information\r\n"
    b"name         : Print the name of the device\r\n"
    b"timestsamp   : Generate a timetsamp\r\n"
    b"db SUBCMD    : Manipulate a generic byte buffer\r\n"
    b"  load N     : Allocate N bytes and set load counter\r\n"
    b"  db HH[HH]* : Load 8-bit hex byte(s) until N bytes\r\n"
    b"  print [N=16] [offset=0]\r\n"
    b"             : Print N bytes at offset as hex\r\n"
    b"infer N [W=0]: Load input, execute N inferences after W warmup loops\r\n"
    b"results      : Return the result fp32 vector\r\n"
    b"m-ready\r\n"
)


@pytest.fixture(params=["energy"])
def dut_port(request):
    """A booted energy-build kws01 DUT (stand-in model) and a pyserial port on it."""
    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    dut = SimDut(timeline, load_profile("stm32l4r5-reference"), mode=request.param, idle_speed=0)
    dut.start()
    port = serial.Serial(dut.port, dut.baud, timeout=0.05)
    try:
        yield dut, port
    finally:
        port.close()
        dut.stop()


def _boot_banner(mode: str, workload: str = "kws01") -> bytes:
    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    dut = SimDut(timeline, load_profile("stm32l4r5-reference"), mode=mode, workload=workload)
    with dut, serial.Serial(dut.port, dut.baud, timeout=0.05) as port:
        dut.reset()  # boot again while the host listens
        return read_until(port)


def test_boot_banner_energy() -> None:
    assert _boot_banner("energy") == b"m-timestamp-mode-energy\r\nm-init-done\r\nm-ready\r\n"


def test_boot_banner_performance_prints_one_lap() -> None:
    banner = _boot_banner("performance")
    assert re.fullmatch(
        rb"m-timestamp-mode-performance\r\nm-lap-us-\d+\r\nm-init-done\r\nm-ready\r\n", banner
    )


def test_boot_banner_ad01_has_initialized_line() -> None:
    assert _boot_banner("energy", "ad01") == (
        b"m-timestamp-mode-energy\r\nInitialized\r\nm-init-done\r\nm-ready\r\n"
    )


TRANSCRIPTS = [
    ("name", b"m-name-dut-[unspecified]\r\nm-ready\r\n"),
    ("name extra args", b"m-name-dut-[unspecified]\r\nm-ready\r\n"),
    (
        "profile",
        b"m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[kws01]\r\nm-ready\r\n",
    ),
    ("help", HELP),
    ("timestamp", b"m-ready\r\n"),  # energy build: a GPIO pulse only
    ("db", b"e-[Command 'db' requires a subcommand]\r\nm-ready\r\n"),
    ("db load", b"e-[Command 'db load' requires the # of bytes]\r\nm-ready\r\n"),
    ("db load 0", b"e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n"),
    ("db load abc", b"e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n"),
    ("db load 490", b"m-[Expecting 490 bytes]\r\nm-ready\r\n"),
    ("db   load   12", b"m-[Expecting 12 bytes]\r\nm-ready\r\n"),
    ("db load 491", b"Supplied buffer size 491 exceeds maximum of 490\nm-ready\r\n"),
    ("db load -5", b"Supplied buffer size -5 exceeds maximum of 490\nm-ready\r\n"),
    ("db abc", b"e-[Insufficent number of hex digits]\r\nm-ready\r\n"),
    ("db zz", b"e-[Invalid hex digit 'zz']\r\nm-ready\r\n"),
    ("db 000g", b"e-[Invalid hex digit '0g']\r\nm-ready\r\n"),
    ("infer 0", b"e-[Inference iterations must be >0]\r\nm-ready\r\n"),
    ("infer abc", b"e-[Inference iterations must be >0]\r\nm-ready\r\n"),
    ("infer 1 -1", b"e-[Inference warmup must be >=0]\r\nm-ready\r\n"),
    ("foo bar", b"e-[Unknown command: foo]\r\nm-ready\r\n"),
    ("NAME", b"e-[Unknown command: NAME]\r\nm-ready\r\n"),
    ("", b"e-[Unknown command: (null)]\r\nm-ready\r\n"),
    ("results", b"m-results-[" + b",".join([b"0.500"] * 12) + b"]\r\nm-ready\r\n"),
]


@pytest.mark.parametrize(
    ("text", "reply"), TRANSCRIPTS, ids=[t or "<empty>" for t, _ in TRANSCRIPTS]
)
def test_command_transcript(dut_port, text: str, reply: bytes) -> None:
    _, port = dut_port
    assert command(port, text) == reply


def test_vendor_name_is_configurable() -> None:
    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    dut = SimDut(timeline, load_profile("fast-m33"), vendor_name="ACME Tiny")
    with dut, serial.Serial(dut.port, dut.baud, timeout=0.05) as port:
        assert command(port, "name") == b"m-name-dut-[ACME Tiny]\r\nm-ready\r\n"


def test_db_load_hex_and_print(dut_port) -> None:
    _, port = dut_port
    assert command(port, "db load 10") == b"m-[Expecting 10 bytes]\r\nm-ready\r\n"
    assert command(port, "db 00112233") == READY  # nothing until the count is reached
    assert command(port, "db 44 55") == READY  # only the first token is data
    assert command(port, "db 6677AAbbCCddEEff") == b"m-load-done\r\nm-ready\r\n"  # rest ignored
    # 10 bytes: a full line, a partial line, then the reference's extra blank line
    assert command(port, "db print 4 2") == (
        b"m-buffer-00-11-22-33-44-66-77-aa\r\nm-buffer-bb-cc\r\n\r\nm-ready\r\n"
    )
    assert command(port, "db load 8") == b"m-[Expecting 8 bytes]\r\nm-ready\r\n"
    assert command(port, "db print") == b"m-buffer-00-11-22-33-44-66-77-aa\r\nm-ready\r\n"


def test_invalid_pair_keeps_the_bytes_before_it(dut_port) -> None:
    dut, port = dut_port
    command(port, "db load 4")
    assert command(port, "db 0102zz03") == b"e-[Invalid hex digit 'zz']\r\nm-ready\r\n"
    assert (dut.firmware.buff_pos, bytes(dut.firmware.buffer[:2])) == (2, b"\x01\x02")


def test_commands_are_truncated_to_80_characters(dut_port) -> None:
    _, port = dut_port
    command(port, "db load 38")
    # 78 hex digits (81 characters): truncated to 77 digits, an odd count
    reply = command(port, "db " + "ab" * 39)
    assert reply == b"e-[Insufficent number of hex digits]\r\nm-ready\r\n"
    # "db  " + 76 digits + "zz" (82 characters): "zz" is cut off, 38 of 40 bytes load
    dut, _ = dut_port
    command(port, "db load 40")
    assert command(port, "db  " + "cd" * 38 + "zz") == READY
    assert dut.firmware.buff_pos == 38


def test_cr_lf_become_part_of_the_next_command(dut_port) -> None:
    _, port = dut_port
    port.write(b"name%\r\n")
    assert read_until(port) == b"m-name-dut-[unspecified]\r\nm-ready\r\n"
    assert command(port, "name") == b"e-[Unknown command: \r\nname]\r\nm-ready\r\n"


def test_infer_transcript_energy_build(dut_port) -> None:
    _, port = dut_port
    command(port, "db load 490")
    for start in range(0, 490, 26):
        command(port, "db " + "01" * min(26, 490 - start))
    reply = command(port, "infer 3 2", timeout_s=10)
    assert re.fullmatch(
        rb"m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-3\r\nm-infer-done\r\n"
        rb"m-results-\[(0\.\d{3},){11}0\.\d{3}\]\r\nm-ready\r\n",
        reply,
    ), reply
    assert command(port, "results") == reply.split(b"\r\n")[4] + b"\r\n" + READY


def test_infer_default_warmup_is_10_and_wrong_size_warns(dut_port) -> None:
    _, port = dut_port
    command(port, "db load 4")
    command(port, "db 01020304")
    reply = command(port, "infer 1", timeout_s=10)
    assert reply.startswith(
        b"Input db has 4 elemented, expected 490\nm-warmup-start-10\r\nm-warmup-done\r\n"
        b"m-infer-start-1\r\nm-infer-done\r\n"
    )


def test_performance_build_prints_laps() -> None:
    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    dut = SimDut(timeline, load_profile("fast-m33"), mode="performance", idle_speed=0)
    with dut, serial.Serial(dut.port, dut.baud, timeout=0.05) as port:
        assert re.fullmatch(rb"m-lap-us-\d+\r\nm-ready\r\n", command(port, "timestamp"))
        reply = command(port, "infer 4 0")
        assert re.fullmatch(
            rb"Input db has 0 elemented, expected 490\n"
            rb"m-warmup-start-0\r\nm-warmup-done\r\nm-infer-start-4\r\nm-lap-us-(\d+)\r\n"
            rb"m-lap-us-(\d+)\r\nm-infer-done\r\nm-results-\[[0-9.,]+\]\r\nm-ready\r\n",
            reply,
        ), reply


def test_client_can_close_and_reopen_the_port(dut_port) -> None:
    dut, port = dut_port
    port.close()
    dut.execute("name")  # output while nobody listens is flushed when the port reopens
    for _ in range(3):
        with serial.Serial(dut.port, dut.baud, timeout=0.05) as again:
            assert read_for(again, 0.05) == b""
            assert command(again, "name") == b"m-name-dut-[unspecified]\r\nm-ready\r\n"


def test_idle_time_never_enters_the_timed_loop() -> None:
    """The model runs in wall time between the start pulse and the modelled loop; a meter that
    lets idle time pass meanwhile (here an aggressive idle clock) must not stretch the window:
    its truth is the profile's loop, exactly (it read 0.161 s for 0.061 s under load)."""
    import threading
    import time

    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    dut = SimDut(timeline, load_profile("fast-m33"), mode="energy", idle_speed=0).start()
    real_infer = dut.model.infer

    def slow_infer() -> None:  # a model that takes 30 ms of wall time
        time.sleep(0.03)
        real_infer()

    dut.model.infer = slow_infer
    stop = threading.Event()

    def idle_clock() -> None:  # 1 ms ticks of 1000x wall time, as the lab's idle clock does
        while not stop.wait(0.001):
            with timeline.hold():
                timeline.advance_to(timeline.now_s + 1.0)

    ticker = threading.Thread(target=idle_clock, daemon=True)
    ticker.start()
    try:
        dut.execute("infer 7 0")
    finally:
        stop.set()
        ticker.join(timeout=2)
        dut.stop()
    (window,) = dut.windows
    hold_s = dut.profile.timestamp_hold_s
    assert window.duration_s == pytest.approx(window.loop_s + hold_s, rel=1e-9)
