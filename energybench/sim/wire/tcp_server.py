"""The TCP plumbing the simulators share: listen on an OS-chosen port, one thread per client,
and a stop that closes the listener and every connection with bounded joins."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

ACCEPT_POLL_S = 0.2  # how often the accept loop checks for stop()
JOIN_TIMEOUT_S = 2.0


class TcpServer:
    """Calls ``serve(conn)`` on its own thread for every client; closes ``conn`` after it.

    ``stopping`` is set by :meth:`stop`; serve loops watch it (with a socket timeout) to end.
    """

    def __init__(
        self,
        serve: Callable[[socket.socket], None],
        *,
        name: str,
        host: str = "127.0.0.1",
        conn_timeout_s: float = 0.2,
        nodelay: bool = False,
    ) -> None:
        self._serve = serve
        self.name = name
        self.host = host
        self.conn_timeout_s = conn_timeout_s
        self.nodelay = nodelay
        self.stopping = threading.Event()
        self.accepted = 0  # connections accepted so far
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def listening(self) -> bool:
        return self._listener is not None

    @property
    def port(self) -> int:
        """The port (after :meth:`listen`)."""
        return self.listen()._listener.getsockname()[1]  # type: ignore[union-attr]

    @property
    def open_connections(self) -> int:
        """Client connections not yet closed (by either side)."""
        with self._lock:
            return len(self._conns)

    def listen(self) -> TcpServer:
        """Bind the listening socket (idempotent); the port is known from here on."""
        if self._listener is None:
            self._listener = socket.create_server((self.host, 0))
            self._listener.settimeout(ACCEPT_POLL_S)
        return self

    def start(self) -> TcpServer:
        """Listen and accept clients (idempotent)."""
        if self._threads:
            return self
        self.listen()
        self._spawn(self._accept_loop, f"{self.name}-accept")
        return self

    def stop(self) -> None:
        """Close the listener and every connection; each join is bounded."""
        self.stopping.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        for thread in list(self._threads):
            thread.join(timeout=JOIN_TIMEOUT_S)

    def _spawn(self, target: Callable, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()  # type: ignore[union-attr]
            except TimeoutError:
                continue
            except OSError:
                return
            if self.nodelay:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(self.conn_timeout_s)
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            self._spawn(self._run, f"{self.name}-conn", conn)

    def _run(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError as exc:  # the client went away or a send timed out
            log.debug("%s: connection ended: %s", self.name, exc)
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
