"""A local RFC 2217 server for the tests: serves one local serial port (a lab pseudo-terminal)
on 127.0.0.1 the way ser2net does for a remote bench, built on pyserial's own
``serial.rfc2217.PortManager`` (telnet option negotiation, baud-rate and line-control requests,
IAC escaping). One client at a time; the port is opened per connection and closed after it."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

import serial
import serial.rfc2217

log = logging.getLogger(__name__)


class _PtySerial(serial.Serial):
    """A pseudo-terminal has no modem lines: RTS/DTR/break requests from the client (which
    ser2net applies to a real UART) are accepted and ignored, and the lines read as inactive,
    instead of failing the ioctl."""

    def _update_rts_state(self) -> None:
        with contextlib.suppress(OSError):
            super()._update_rts_state()

    def _update_dtr_state(self) -> None:
        with contextlib.suppress(OSError):
            super()._update_dtr_state()

    def _update_break_state(self) -> None:
        with contextlib.suppress(OSError):
            super()._update_break_state()

    def _line(self, name: str) -> bool:
        try:
            return getattr(serial.Serial, name).fget(self)
        except OSError:
            return False

    cts = property(lambda self: self._line("cts"))
    dsr = property(lambda self: self._line("dsr"))
    ri = property(lambda self: self._line("ri"))
    cd = property(lambda self: self._line("cd"))


class Rfc2217Server:
    """``rfc2217://127.0.0.1:<port>`` for the local serial port ``device``."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"rfc2217://127.0.0.1:{self.port}"
        self.connections = 0
        self.baud_rates: list[int] = []  # what clients asked the remote UART for
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="rfc2217", daemon=True)

    def __enter__(self) -> Rfc2217Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn, _PtySerial(self.device, 115200, timeout=0.02) as port:
                _Redirector(self, port, conn).run()

    def record_baud(self, baud: int) -> None:
        self.baud_rates.append(baud)


class _Redirector:
    """Bytes between one TCP client and the serial port, through a PortManager."""

    def __init__(self, server: Rfc2217Server, port: serial.Serial, conn: socket.socket) -> None:
        self.server = server
        self.port = port
        self.conn = conn
        self.alive = True
        self._lock = threading.Lock()
        self.manager = serial.rfc2217.PortManager(port, self)

    def write(self, data: bytes) -> None:  # PortManager's connection interface
        with self._lock:
            self.conn.sendall(data)

    def run(self) -> None:
        reader = threading.Thread(target=self._port_to_client, daemon=True)
        reader.start()
        self.conn.settimeout(0.2)
        baud = None
        try:
            while self.alive and not self.server._stop.is_set():
                try:
                    data = self.conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                self.port.write(b"".join(self.manager.filter(data)))
                if self.port.baudrate != baud:
                    baud = self.port.baudrate
                    self.server.record_baud(baud)
        except OSError as exc:
            log.debug("rfc2217 client gone: %s", exc)
        finally:
            self.alive = False
            reader.join(timeout=2)

    def _port_to_client(self) -> None:
        while self.alive:
            try:
                data = self.port.read(self.port.in_waiting or 1)
                if data:
                    self.write(b"".join(self.manager.escape(data)))
            except (OSError, serial.SerialException):
                with contextlib.suppress(OSError):
                    self.conn.shutdown(socket.SHUT_RDWR)
                self.alive = False
