"""A pseudo-terminal a simulated device serves on; pyserial opens its slave path like a port.

The server keeps its own slave descriptor open, so a client may close and reopen the port at
will (the master never sees EIO). Bytes written while no client listens stay in the kernel
buffer; pyserial flushes its input buffer when it opens a port, as on a real serial port.
Writes are non-blocking with a bounded wait; when the buffer stays full, bytes are dropped
(a UART with nobody listening) and counted.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Callable

from energybench.errors import TransportError

log = logging.getLogger(__name__)

_POLL_S = 0.05


def open_raw_pty() -> tuple[int, int, str]:
    """A pseudo-terminal in raw mode (no echo, no CR/LF translation) with a non-blocking
    master: (master fd, slave fd, slave path). The caller keeps the slave open, so clients
    may close and reopen the path."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


def close_fds(*fds: int) -> None:
    """Close descriptors, ignoring ones already closed."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class PtyServer:
    """Serve a byte stream on a pty: ``on_bytes`` is called (reader thread) for input."""

    def __init__(self, on_bytes: Callable[[bytes], None], *, name: str = "pty") -> None:
        self._on_bytes = on_bytes
        self.name = name
        self._master, self._slave, self.path = open_raw_pty()
        self.dropped_bytes = 0
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> PtyServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"{self.name}-reader", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], _POLL_S)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # no slave open (cannot happen while we hold one)
                    time.sleep(_POLL_S)
                    continue
                return
            if not data:
                continue
            try:
                self._on_bytes(data)
            except Exception:  # a device bug must not kill the port
                log.exception("%s: handler failed on %r", self.name, data[:40])

    def write(self, data: bytes, timeout_s: float = 2.0) -> int:
        """Send ``data`` to the client; bytes that cannot be sent in ``timeout_s`` are dropped."""
        if self._stop.is_set():
            return 0
        view = memoryview(data)
        deadline = time.monotonic() + timeout_s
        sent = 0
        with self._write_lock:
            while sent < len(view):
                try:
                    sent += os.write(self._master, view[sent:])
                    continue
                except BlockingIOError:
                    pass
                except OSError as exc:
                    raise TransportError(str(exc), context=self.path) from exc
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    self.dropped_bytes += len(view) - sent
                    log.warning(
                        "%s: dropped %d bytes (nobody reading)", self.name, len(view) - sent
                    )
                    break
                with contextlib.suppress(OSError, ValueError):
                    select.select([], [self._master], [], min(remaining, _POLL_S))
        return sent

    def close(self) -> None:
        """Stop the reader and close both ends (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        close_fds(self._master, self._slave)
        self._master = self._slave = -1

    def __enter__(self) -> PtyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
