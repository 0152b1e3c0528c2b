"""Raw TCP socket transport (SCPI-over-socket, JSON APIs such as the Otii TCP server)."""

from __future__ import annotations

import contextlib
import select
import socket

from energybench.errors import TransportError
from energybench.transport.base import BufferedTransport


class SocketTransport(BufferedTransport):
    """A TCP connection to ``host:port`` with bounded connect, reads and writes."""

    def __init__(self, host: str, port: int, **kwargs) -> None:
        super().__init__(f"tcp://{host}:{port}", **kwargs)
        try:
            self._sock = socket.create_connection((host, port), timeout=self.timeout_s)
        except OSError as exc:
            raise TransportError(f"cannot connect: {exc}", context=self.resource) from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.settimeout(self.timeout_s)

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"send failed: {exc}", context=self.resource) from exc

    def _recv_some(self, timeout_s: float) -> bytes:
        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout_s))
            if not ready:
                return b""
            data = self._sock.recv(1 << 16)
        except OSError as exc:
            raise TransportError(f"receive failed: {exc}", context=self.resource) from exc
        if not data:
            raise TransportError("connection closed by the peer", context=self.resource)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
