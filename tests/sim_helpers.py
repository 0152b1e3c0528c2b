"""Helpers for the virtual-lab tests: a bounded pyserial reader."""

from __future__ import annotations

import time

import serial

READY = b"m-ready\r\n"


def read_until(port: serial.Serial, marker: bytes = READY, timeout_s: float = 5.0) -> bytes:
    """Read until ``marker`` ends the data; fail (AssertionError) after ``timeout_s``."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while not data.endswith(marker):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} within {timeout_s} s; got {data!r}")
        data += port.read(max(1, port.in_waiting))
    return data


def read_for(port: serial.Serial, duration_s: float) -> bytes:
    """Everything that arrives within ``duration_s`` (for 'nothing arrives' checks)."""
    data = b""
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        data += port.read(max(1, port.in_waiting))
    return data


def command(port: serial.Serial, text: str, marker: bytes = READY, timeout_s: float = 5.0) -> bytes:
    port.write(text.encode("latin-1") + b"%")
    return read_until(port, marker, timeout_s)
