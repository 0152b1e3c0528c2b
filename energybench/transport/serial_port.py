"""Serial-port transport (pyserial): USB CDC monitors, the DUT UART, interface boards.

A port is a local device path (``/dev/ttyACM0``, ``COM5``, a pseudo-terminal) or a pyserial URL
for a port served on another host: ``rfc2217://host:port`` (RFC 2217, e.g. ser2net's
``telnet`` mode with RFC 2217 enabled: baud rate changes reach the remote UART) or
``socket://host:port`` (a raw TCP byte stream, e.g. ser2net's ``raw`` mode: the remote side
keeps its own baud rate), opened through ``serial.serial_for_url``. A URL port is read by
polling what has arrived (``in_waiting``), never by changing the port's timeout: pyserial
renegotiates an RFC 2217 port's whole line setting on every timeout change.
"""

from __future__ import annotations

import contextlib
import os
import time

import serial

from energybench.errors import BenchBusyError, InstrumentTimeoutError, TransportError
from energybench.transport.base import BufferedTransport

URL_POLL_S = 0.002  # how often a URL port is checked for input while a read waits


def is_url(port: str) -> bool:
    """A pyserial URL (``rfc2217://``, ``socket://``, ``loop://`` ...), not a device path."""
    return "://" in port


class SerialTransport(BufferedTransport):
    """A serial port opened by path (``/dev/ttyACM0``, ``COM5``, a pseudo-terminal) or by pyserial
    URL (see the module docstring).

    A local port is opened exclusively: on POSIX with an ``flock`` on the port (pyserial
    ``exclusive=True``), which a second energybench (or any program that locks its port the same
    way) is refused; Windows opens COM ports exclusively by itself. A URL port is held by its
    server (ser2net, an RFC 2217 server), which decides who may connect."""

    def __init__(self, port: str, baud_rate: int = 115200, **kwargs) -> None:
        super().__init__(port, **kwargs)
        self.is_url = is_url(port)
        try:
            if self.is_url:
                # pyserial's RFC 2217 client refuses write_timeout; its socket's own 5 s timeout
                # bounds a write instead
                writes = {} if port.startswith("rfc2217://") else {"write_timeout": self.timeout_s}
                self._port = serial.serial_for_url(port, baud_rate, timeout=0, **writes)
            else:
                exclusive = {"exclusive": True} if os.name == "posix" else {}
                self._port = serial.Serial(
                    port, baud_rate, timeout=0, write_timeout=self.timeout_s, **exclusive
                )
        except (serial.SerialException, OSError, ValueError) as exc:
            if "exclusively lock" in str(exc):
                raise BenchBusyError(
                    "in use: another process holds the port's exclusive lock", context=port
                ) from exc
            raise TransportError(f"cannot open serial port: {exc}", context=port) from exc
        self._read_timeout_s = 0.0  # what the port has: pyserial reconfigures on every set
        self.baud_rate = baud_rate

    def _send(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            raise InstrumentTimeoutError(
                f"write not accepted within {self.timeout_s:g} s", context=self.resource
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write failed: {exc}", context=self.resource) from exc

    def _recv_some(self, timeout_s: float) -> bytes:
        if self.is_url:
            return self._poll_url(timeout_s)
        try:
            if timeout_s != self._read_timeout_s:
                self._port.timeout = timeout_s
                self._read_timeout_s = timeout_s
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"read failed: {exc}", context=self.resource) from exc

    def _poll_url(self, timeout_s: float) -> bytes:
        """What a URL port has received, waiting up to ``timeout_s`` for the first byte."""
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                waiting = self._port.in_waiting
                if waiting:
                    return self._port.read(waiting)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                time.sleep(min(URL_POLL_S, remaining))
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"read failed: {exc}", context=self.resource) from exc

    def set_baud_rate(self, baud_rate: int) -> None:
        self._port.baudrate = baud_rate
        self.baud_rate = baud_rate

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not raise
            self._port.close()
