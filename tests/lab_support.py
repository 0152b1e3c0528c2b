"""Shared helpers for the instrument tests on the virtual lab: the MLPerf Tiny energy window
(timestamp pulses around a span of active current), a bounded wait for a condition the
simulator reaches on its own thread, a bounded line read from a subprocess pipe, and
`energybench lab up` as a subprocess."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO

from energybench.sim.physics.timeline import Timeline

POLL_S = 0.005


def add_mlperf_window(
    tl: Timeline,
    start_s: float,
    duration_s: float,
    active_a: float,
    idle_a: float,
    *,
    pulse_s: float,
    idle_lead_s: float | None = None,
    active_delay_s: float = 0.0,
    active_tail_s: float = 0.0,
    burst: bool = False,
    grid_hz: float | None = None,
    settle_s: float | None = None,
) -> tuple[float, float]:
    """A window as the MLPerf Tiny DUT makes it: a falling-edge timestamp pulse (``pulse_s``
    low) at the start and at the end, ``active_a`` in between, ``idle_a`` after.

    ``idle_lead_s``: draw ``idle_a`` from that long before the start (never before now).
    ``active_delay_s``/``active_tail_s``: the active current starts that much after the start
    edge and ends that much before the end edge. ``burst``: 1.5 × ``active_a`` over the middle
    fifth. ``grid_hz``: edges and current steps on that sample grid. ``settle_s``: advance the
    timeline that far past the end edge. Returns the (start, end) edge times in seconds.
    """

    def at(t_s: float) -> float:
        return t_s if grid_hz is None else round(t_s * grid_hz) / grid_hz

    start, end = at(start_s), at(start_s + duration_s)
    if idle_lead_s is not None:
        tl.set_load_current(max(tl.now_s, start - idle_lead_s), idle_a)
    tl.set_pin("timestamp", start, False)
    tl.set_load_current(start + active_delay_s, active_a)
    tl.set_pin("timestamp", start + pulse_s, True)
    if burst:
        tl.set_load_current(at(start_s + 0.4 * duration_s), active_a * 1.5)
        tl.set_load_current(at(start_s + 0.6 * duration_s), active_a)
    tl.set_pin("timestamp", end, False)
    tl.set_load_current(end - active_tail_s, idle_a)
    tl.set_pin("timestamp", end + pulse_s, True)
    if settle_s is not None:
        tl.advance_to(end + settle_s)
    return start, end


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(POLL_S)


def read_line(stream: IO, timeout_s: float, what: str) -> str:
    """One line from a subprocess pipe ("" at end of file), read byte by byte from its file
    descriptor so nothing past the newline is buffered away from later reads of ``stream``;
    AssertionError naming ``what`` if no whole line arrives within ``timeout_s``."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no line from {what} within {timeout_s} s; got {bytes(data)!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            byte = os.read(fd, 1)
            if not byte:
                break
            data += byte
    return data.decode("utf-8", errors="replace")


@contextlib.contextmanager
def lab_up(*options: str, timeout_s: float = 30.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """``energybench lab up OPTIONS`` as a subprocess, read (bounded) up to the end of the bench
    file it prints; yields the process and that text. A process still running at exit is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "energybench", "lab", "up", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = read_line(proc.stdout, max(0.0, deadline - time.monotonic()), "lab up")
            if not line:
                break
            lines.append(line)
            if line.startswith("baud = 115200"):  # the [interface] table ends the bench file
                break
        yield proc, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
