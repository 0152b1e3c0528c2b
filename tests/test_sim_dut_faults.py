"""Fault knobs of the simulated DUT, as a host on the pty sees them."""

from __future__ import annotations

import pytest
import serial
from sim_helpers import command, read_for, read_until

from energybench.sim.dut.profiles import load_profile
from energybench.sim.dut.sim_dut import SimDut
from energybench.sim.physics.timeline import Timeline

NAME_REPLY = b"m-name-dut-[unspecified]\r\nm-ready\r\n"


@pytest.fixture
def dut_port():
    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    dut = SimDut(timeline, load_profile("fast-m33"), idle_speed=0).start()
    port = serial.Serial(dut.port, dut.baud, timeout=0.05)
    try:
        yield dut, port
    finally:
        port.close()
        dut.stop()


def test_hang_during_infer_until_reset(dut_port) -> None:
    dut, port = dut_port
    dut.faults.hang_on_infer = True
    port.write(b"infer 5 1%")
    got = read_until(port, b"m-infer-start-5\r\n")
    assert got.endswith(b"m-warmup-done\r\nm-infer-start-5\r\n")
    assert read_for(port, 0.3) == b""  # no m-infer-done, no m-ready
    port.write(b"name%")
    assert read_for(port, 0.3) == b""  # input ignored while hung
    hung_at = dut.timeline.now_s
    assert dut.timeline.current_at(hung_at) == dut.profile.active_current_a["kws01"]
    assert dut.windows == []
    dut.reset()  # the host's only way out: reset the board
    assert read_until(port) == b"m-timestamp-mode-energy\r\nm-init-done\r\nm-ready\r\n"
    dut.faults.hang_on_infer = False
    assert command(port, "name") == NAME_REPLY


def test_clearing_the_hang_knob_makes_the_dut_answer_again(dut_port) -> None:
    dut, port = dut_port
    dut.faults.hang_on_infer = True
    command(port, "infer 1 0", marker=b"m-infer-start-1\r\n")
    dut.faults.hang_on_infer = False
    assert command(port, "name") == NAME_REPLY


def test_reply_delay(dut_port) -> None:
    dut, port = dut_port
    dut.faults.reply_delay_s = 0.6
    before = dut.timeline.now_s
    port.write(b"name%")
    assert read_for(port, 0.1) == b""  # not yet
    assert read_until(port, timeout_s=5) == NAME_REPLY
    assert dut.timeline.now_s - before >= 0.6  # the delay also passes in simulation time
    dut.faults.reply_delay_s = 0.0
    assert command(port, "name", timeout_s=1) == NAME_REPLY


def test_withheld_reply(dut_port) -> None:
    dut, port = dut_port
    dut.faults.withhold_replies = 1
    port.write(b"db load 8%")
    assert read_for(port, 0.3) == b""
    # the command still ran: the next db bytes complete the load
    assert command(port, "db 0001020304050607") == b"m-load-done\r\nm-ready\r\n"
    assert dut.faults.withhold_replies == 0


def test_garbled_line_is_seeded_and_one_shot(dut_port) -> None:
    dut, port = dut_port
    garbled = []
    for _ in range(2):
        dut.faults.garble_line = 2  # the 2nd next line: "m-ready"
        garbled.append(read_for_reply(port))
    assert garbled[0] == garbled[1] != NAME_REPLY  # same seed, same corruption
    assert garbled[0].startswith(b"m-name-dut-[unspecified]\r\n")
    diff = [a ^ b for a, b in zip(garbled[0], NAME_REPLY, strict=True) if a != b]
    assert len(diff) == 1 and bin(diff[0]).count("1") in (1, 2)
    assert command(port, "name") == NAME_REPLY  # one-shot
    dut.faults.seed = 99
    dut.faults.garble_line = 1
    assert read_for_reply(port) not in (NAME_REPLY, garbled[0])


def read_for_reply(port: serial.Serial) -> bytes:
    """The reply to ``name`` (two lines, possibly garbled, so no marker to wait for)."""
    port.write(b"name%")
    data = read_until(port, b"\r\n", timeout_s=5)
    while data.count(b"\r\n") < 2:
        data += read_until(port, b"\r\n", timeout_s=5)
    return data
