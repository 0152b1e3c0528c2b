"""Serial-port transport (pyserial): USB CDC monitors, the DUT UART, interface boards."""

from __future__ import annotations

import contextlib
import os

import serial

from energybench.errors import BenchBusyError, InstrumentTimeoutError, TransportError
from energybench.transport.base import BufferedTransport


class SerialTransport(BufferedTransport):
    """A serial port opened by path (``/dev/ttyACM0``, ``COM5``, a pseudo-terminal).

    Opened exclusively: on POSIX with an ``flock`` on the port (pyserial ``exclusive=True``),
    which a second energybench (or any program that locks its port the same way) is refused;
    Windows opens COM ports exclusively by itself."""

    def __init__(self, port: str, baud_rate: int = 115200, **kwargs) -> None:
        super().__init__(port, **kwargs)
        exclusive = {"exclusive": True} if os.name == "posix" else {}
        try:
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

    def set_baud_rate(self, baud_rate: int) -> None:
        self._port.baudrate = baud_rate
        self.baud_rate = baud_rate

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not raise
            self._port.close()
