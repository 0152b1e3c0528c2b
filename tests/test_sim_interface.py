"""The simulated interface board relaying to the simulated DUT (docs/interface-board.md)."""

from __future__ import annotations

import re

import pytest
import serial
from sim_helpers import command, read_for, read_until

from energybench.sim.lab import VirtualLab

PASS_READY = b"[dut]: m-ready\r\n"


@pytest.fixture
def board():
    with VirtualLab("stm32l4r5-reference", mode="energy", idle_speed=0.0) as lab:
        port = serial.Serial(lab.interface.port, 115200, timeout=0.05)
        try:
            yield lab, port
        finally:
            port.close()


def test_profile_relay_transcript(board) -> None:
    _, port = board
    assert command(port, "dut profile", marker=PASS_READY) == (
        b"m-dut-passthrough(profile)\r\n"
        b"m-ready\r\n"
        b"[dut]: m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\n"
        b"[dut]: m-model-[kws01]\r\n"
        b"[dut]: m-ready\r\n"
    )


def test_board_commands(board) -> None:
    _, port = board
    assert command(port, "name") == b"tinyML Enhanced Interface Board\r\nm-ready\r\n"
    assert command(port, "checkbaud") == b"baud is: 9600\nm-ready\r\n"
    assert command(port, "bogus") == b"m-ready\r\n"  # unknown: bare m-ready
    assert command(port, "") == b"m-ready\r\n"
    port.write(b"names%")  # a table prefix with no space: the reference answers nothing
    assert read_for(port, 0.2) == b""
    assert command(port, "ls") == b"m-ready\r\n"
    # no SD card: nothing recorded, the lists are empty
    assert command(port, "print_detections") == b"Detection Timestamps (ms)\r\nm-ready\r\n"
    assert command(port, "print_dutycycle") == (
        b"Duty cycle start times (s)\r\n\r\nDuty cycle stop times (s)\r\nm-ready\r\n"
    )


def test_newline_only_lines_merge_with_the_next(board) -> None:
    _, port = board
    command(port, "dut db load 4", marker=PASS_READY)
    command(port, "dut db 00010203", marker=PASS_READY)
    reply = command(port, "dut infer 1 0", marker=PASS_READY)
    assert reply.startswith(
        b"m-dut-passthrough(infer 1 0)\r\nm-ready\r\n"
        b"[dut]: Input db has 4 elemented, expected 490\nm-warmup-start-0\r\n"
    )


def test_oversize_db_load_hangs_the_board(board) -> None:
    """The unprefixed warning merges with m-ready: the board never sees a bare m-ready."""
    _, port = board
    expected = (
        b"m-dut-passthrough(db load 600)\r\nm-ready\r\n"
        b"[dut]: Supplied buffer size 600 exceeds maximum of 490\nm-ready\r\n"
    )
    assert command(port, "dut db load 600", marker=expected) == expected
    assert read_for(port, 0.2) == b""
    port.write(b"name%")
    assert read_for(port, 0.2) == b""  # the board waits for a bare m-ready forever


def test_energy_run_through_the_board(board) -> None:
    lab, port = board
    command(port, "dut db load 490", marker=PASS_READY)
    for k in range(0, 490, 26):
        reply = command(port, "dut db " + "7f" * min(26, 490 - k), marker=PASS_READY)
    assert reply.endswith(b"[dut]: m-load-done\r\n[dut]: m-ready\r\n")
    before = lab.timeline.now_s
    reply = command(port, "dut infer 10 1", marker=PASS_READY)
    assert re.fullmatch(
        rb"m-dut-passthrough\(infer 10 1\)\r\nm-ready\r\n\[dut\]: m-warmup-start-1\r\n"
        rb"\[dut\]: m-warmup-done\r\n\[dut\]: m-infer-start-10\r\n\[dut\]: m-infer-done\r\n"
        rb"\[dut\]: m-results-\[[0-9.,]+\]\r\n\[dut\]: m-ready\r\n",
        reply,
    ), reply
    edges = lab.timeline.edges("timestamp", "falling", before, lab.timeline.now_s)
    win = lab.dut.windows[-1]
    assert list(edges) == [win.start_s, win.end_s]


def test_setbaud_resets_the_board_and_a_mismatch_hangs_the_relay(board) -> None:
    lab, port = board
    assert command(port, "setbaud 115200") == b"set baud to: 115200\nm-ready\r\n"
    assert lab.interface.resets == 1
    assert command(port, "checkbaud") == b"baud is: 115200\nm-ready\r\n"
    # the DUT's energy build talks at 9600: it sees garbage, the board waits forever
    assert command(port, "dut name") == b"m-dut-passthrough(name)\r\nm-ready\r\n"
    assert read_for(port, 0.3) == b""
    port.write(b"name%")
    assert read_for(port, 0.2) == b""  # stuck
    lab.interface.reset()  # power-cycle the board: flash still says 115200
    assert command(port, "setbaud 9600") == b"set baud to: 9600\nm-ready\r\n"
    assert command(port, "dut name", marker=PASS_READY).endswith(
        b"[dut]: m-name-dut-[unspecified]\r\n[dut]: m-ready\r\n"
    )


def test_withheld_dut_reply_leaves_the_board_waiting(board) -> None:
    lab, port = board
    lab.dut.faults.withhold_replies = 1
    assert command(port, "dut name") == b"m-dut-passthrough(name)\r\nm-ready\r\n"
    assert read_for(port, 0.2) == b""
    port.write(b"name%")
    assert read_for(port, 0.2) == b""
    lab.interface.reset()
    assert command(port, "name") == b"tinyML Enhanced Interface Board\r\nm-ready\r\n"


def _power_cycle(lab: VirtualLab) -> None:
    t = lab.timeline.now_s
    lab.timeline.set_supply(t, output_on=False)
    lab.timeline.set_supply(t + 0.01, output_on=True)


def test_a_dut_reboot_completes_a_waiting_relay_with_its_banner(board) -> None:
    lab, port = board
    lab.dut.faults.withhold_replies = 1
    assert command(port, "dut name") == b"m-dut-passthrough(name)\r\nm-ready\r\n"
    assert read_for(port, 0.2) == b""
    _power_cycle(lab)
    assert read_until(port, PASS_READY, 5.0) == (
        b"[dut]: m-timestamp-mode-energy\r\n[dut]: m-init-done\r\n" + PASS_READY
    )
    assert command(port, "name") == b"tinyML Enhanced Interface Board\r\nm-ready\r\n"


def test_an_sww_dut_reboot_leaves_the_board_waiting() -> None:
    """The SWW firmware prints nothing at boot: a relay stuck on it stays stuck until reset."""
    lab = VirtualLab("stm32l4r5-reference", mode="energy", workload="sww01", idle_speed=0.0)
    with lab, serial.Serial(lab.interface.port, 115200, timeout=0.05) as port:
        lab.dut.faults.withhold_replies = 1
        assert command(port, "dut name") == b"m-dut-passthrough(name)\r\nm-ready\r\n"
        _power_cycle(lab)
        assert read_for(port, 0.3) == b""
        port.write(b"name%")
        assert read_for(port, 0.2) == b""  # still waiting for the DUT's m-ready
        lab.interface.reset()
        assert command(port, "name") == b"tinyML Enhanced Interface Board\r\nm-ready\r\n"
