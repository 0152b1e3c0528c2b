"""Realtime pace: simulation time is wall time. Idle time and capture ends never run the
timeline past the wall clock (a DUT would then sleep to catch up and its replies stall), the
LPM01A streams each bin once the wall clock has passed it, and a DUT's reply waits (bounded) for
a streaming meter's data of the same instant."""

from __future__ import annotations

import math
import threading
import time

import serial

from energybench.sim.instruments.lpm01a.lpm01a import SimLpm01a
from energybench.sim.lab import VirtualLab
from energybench.sim.physics.idle_time import IdleTime
from energybench.sim.physics.timeline import Timeline


def test_idle_time_never_passes_the_wall_clock() -> None:
    tl = Timeline(pace="realtime")
    assert tl.pass_idle_time(1e6) <= tl.wall_time_s()
    idle = IdleTime(tl, speed=1000.0)  # the speed is for virtual pace only
    assert idle.advance_to(idle.target_s()) <= tl.wall_time_s()
    assert tl.catch_up() <= tl.wall_time_s() and tl.now_s > 0
    virtual = Timeline()
    assert virtual.pass_idle_time(1e6) == 1e6 and virtual.catch_up() == 1e6


def test_idle_until_waits_for_the_wall_clock_and_is_bounded() -> None:
    tl = Timeline(pace="realtime")
    target = tl.wall_time_s() + 0.15
    assert not tl.idle_until(target, timeout_s=0.01)
    assert tl.now_s < target
    assert tl.idle_until(target, timeout_s=2.0)
    assert tl.now_s >= target and tl.wall_time_s() >= target


def test_a_dut_reply_waits_for_the_meters_data_of_its_instant() -> None:
    tl = Timeline(pace="realtime")
    reported = [0.0]
    tl.add_reporter(lambda: reported[0])
    threading.Timer(0.1, lambda: reported.__setitem__(0, 5.0)).start()
    started = time.monotonic()
    assert tl.wait_reported(1.0, timeout_s=2.0)
    assert time.monotonic() - started >= 0.09
    assert not tl.wait_reported(10.0, timeout_s=0.05)  # bounded
    reported[0] = math.inf  # a meter that streams nothing holds nobody back
    assert tl.wait_reported(1e9, timeout_s=0.0)


def test_the_lpm01a_streams_in_real_time_and_answers_pwr_on_at_once() -> None:
    """After `pwr off`, `pwr on` reboots the DUT: the ack must not wait for the boot (the
    MLCommons runner hung there), and samples arrive at the configured rate, not faster."""
    with VirtualLab(realtime=True) as lab:
        sim = SimLpm01a(lab.timeline)
        lab.add_instrument("lpm01a", sim, role="meter")
        with serial.Serial(sim.resource, 3686400, timeout=2.0) as port:
            for command in ("htc", "pwr off", "freq 1k", "output energy", "pwr on nostatus"):
                started = time.monotonic()
                port.write(f"{command}\r\n".encode())
                assert port.read_until(b"\n").strip().endswith(f"ack {command}".encode())
                assert time.monotonic() - started < 0.5
            port.write(b"start\r\n")
            port.read_until(b"\n")
            started = time.monotonic()
            data = bytearray()
            while time.monotonic() - started < 1.0:
                data += port.read(max(1, port.in_waiting))
        elapsed_s = time.monotonic() - started
        lines = sum(1 for line in data.split(b"\r\n") if line[:4].isdigit())
    assert lines <= 1000 * elapsed_s + 50  # never ahead of the wall clock
    assert lines >= 1000 * elapsed_s - 300  # nor far behind it
