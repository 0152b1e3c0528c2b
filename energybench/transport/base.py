"""The transport contract and the logic every transport shares.

A transport moves bytes to and from one instrument: write a command, read a reply line, read
exactly N bytes, read an IEEE 488.2 binary block. Reads are bounded: a read that misses its
terminator or its byte count by the deadline raises :class:`InstrumentTimeoutError`; a partial
reply is never returned. Seconds at the API. Every exchange is logged at debug level.

Concrete transports implement two primitives, ``_read_until(terminator, deadline)`` and
``_read_exact(count, deadline)``, plus ``_send(data)``; this base class builds lines, queries and
binary blocks on top of them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol, runtime_checkable

import numpy as np

from energybench.errors import InstrumentError, InstrumentTimeoutError, TransportError
from energybench.transport.interrupts import deferred_interrupt

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
CLEAR_LIMIT_S = 1.0  # clear() stops discarding a device that never stops sending


@runtime_checkable
class Transport(Protocol):
    """What drivers need from a connection (see :class:`BaseTransport`)."""

    resource: str
    timeout_s: float

    def write(self, message: str) -> None: ...
    def write_raw(self, data: bytes) -> None: ...
    def read_line(self, timeout_s: float | None = None) -> str: ...
    def read_bytes(self, count: int, timeout_s: float | None = None) -> bytes: ...
    def query(self, message: str, timeout_s: float | None = None) -> str: ...
    def read_block(
        self,
        dtype: str,
        *,
        big_endian: bool,
        count: int | None = None,
        timeout_s: float | None = None,
    ) -> np.ndarray: ...
    def query_block(
        self,
        message: str,
        dtype: str,
        *,
        big_endian: bool,
        count: int | None = None,
        timeout_s: float | None = None,
    ) -> np.ndarray: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


class BaseTransport:
    """Lines, queries and binary blocks over the primitives a concrete transport provides."""

    def __init__(
        self,
        resource: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        write_termination: str = "\n",
        read_termination: str = "\n",
        encoding: str = "ascii",
    ) -> None:
        if timeout_s <= 0:
            raise TransportError("timeout_s must be > 0", context=resource)
        self.resource = resource
        self.timeout_s = float(timeout_s)
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.encoding = encoding
        self._lock = threading.RLock()

    # ---- primitives (concrete transports override) -------------------------------------
    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _read_until(self, terminator: bytes, deadline: float) -> bytes:
        """Bytes up to and including ``terminator``; raise InstrumentTimeoutError at deadline."""
        raise NotImplementedError

    def _read_exact(self, count: int, deadline: float) -> bytes:
        raise NotImplementedError

    def clear(self) -> None:
        """Discard any pending input."""

    def close(self) -> None:
        """Release the connection; idempotent."""

    # ---- shared behaviour --------------------------------------------------------------
    def _deadline(self, timeout_s: float | None) -> float:
        return time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)

    def write(self, message: str) -> None:
        with deferred_interrupt():  # a stop signal never cuts a command in half
            log.debug("%s << %r", self.resource, message)
            self._send((message + self.write_termination).encode(self.encoding))

    def write_raw(self, data: bytes) -> None:
        with deferred_interrupt():
            log.debug("%s << %d raw bytes", self.resource, len(data))
            self._send(data)

    def read_line(self, timeout_s: float | None = None) -> str:
        with self._lock:
            raw = self._read_until(
                self.read_termination.encode(self.encoding), self._deadline(timeout_s)
            )
        text = raw.decode(self.encoding, errors="replace").rstrip("\r\n")
        log.debug("%s >> %r", self.resource, text)
        return text

    def read_bytes(self, count: int, timeout_s: float | None = None) -> bytes:
        if count < 0:
            raise TransportError(f"cannot read {count} bytes", context=self.resource)
        with self._lock:
            data = self._read_exact(count, self._deadline(timeout_s))
        log.debug("%s >> %d raw bytes", self.resource, len(data))
        return data

    def query(self, message: str, timeout_s: float | None = None) -> str:
        with self._lock, deferred_interrupt():
            self.write(message)
            return self.read_line(timeout_s)

    def read_block(
        self,
        dtype: str,
        *,
        big_endian: bool,
        count: int | None = None,
        timeout_s: float | None = None,
    ) -> np.ndarray:
        """An IEEE 488.2 block: definite ``#<n><len><data>`` or indefinite ``#0<data>``.

        The indefinite form needs ``count`` (the number of values), since a 0x0A byte may occur
        inside the data. The trailing terminator is consumed.
        """
        item = np.dtype(dtype).newbyteorder(">" if big_endian else "<")
        with self._lock:
            deadline = self._deadline(timeout_s)
            head = self._read_exact(2, deadline)
            while head[:1] in (b"\r", b"\n", b" "):  # tolerate a stray terminator before '#'
                head = head[1:] + self._read_exact(1, deadline)
            if head[:1] != b"#" or not head[1:2].isdigit():
                raise InstrumentError(
                    f"expected a binary block '#', got {head!r}", context=self.resource
                )
            digits = int(head[1:2])
            if digits == 0:
                if count is None:
                    raise InstrumentError(
                        "indefinite-length block (#0) needs the value count", context=self.resource
                    )
                nbytes = count * item.itemsize
            else:
                length_text = self._read_exact(digits, deadline)
                if not length_text.isdigit():
                    raise InstrumentError(
                        f"bad block length field {length_text!r}", context=self.resource
                    )
                nbytes = int(length_text)
            payload = self._read_exact(nbytes, deadline)
            self._read_until(self.read_termination.encode(self.encoding), deadline)
        if nbytes % item.itemsize:
            raise InstrumentError(
                f"block of {nbytes} bytes is not a whole number of {item} values",
                context=self.resource,
            )
        values = np.frombuffer(payload, dtype=item)
        if count is not None and values.size != count:
            raise InstrumentError(
                f"block holds {values.size} values, expected {count}", context=self.resource
            )
        log.debug("%s >> block of %d %s", self.resource, values.size, item)
        return values.astype(item.newbyteorder("="))

    def query_block(
        self,
        message: str,
        dtype: str,
        *,
        big_endian: bool,
        count: int | None = None,
        timeout_s: float | None = None,
    ) -> np.ndarray:
        with self._lock, deferred_interrupt():
            self.write(message)
            return self.read_block(dtype, big_endian=big_endian, count=count, timeout_s=timeout_s)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BufferedTransport(BaseTransport):
    """A transport over a byte stream: concrete classes provide ``_recv_some``."""

    def __init__(self, resource: str, **kwargs) -> None:
        super().__init__(resource, **kwargs)
        self._buffer = bytearray()

    def _recv_some(self, timeout_s: float) -> bytes:
        """What arrives within ``timeout_s`` (b"" if nothing); TransportError if closed."""
        raise NotImplementedError

    def _fill(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InstrumentTimeoutError(
                f"no complete {what} before the deadline", context=self.resource
            )
        self._buffer += self._recv_some(min(remaining, 0.25))

    def _read_until(self, terminator: bytes, deadline: float) -> bytes:
        while True:
            at = self._buffer.find(terminator)
            if at >= 0:
                end = at + len(terminator)
                data = bytes(self._buffer[:end])
                del self._buffer[:end]
                return data
            self._fill(deadline, f"reply ending in {terminator!r}")

    def _read_exact(self, count: int, deadline: float) -> bytes:
        while len(self._buffer) < count:
            self._fill(deadline, f"{count}-byte read")
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def read_some(self, max_bytes: int, timeout_s: float | None = None) -> bytes:
        """Up to ``max_bytes`` already received or arriving within ``timeout_s`` (binary
        streams of unknown length); InstrumentTimeoutError if nothing arrives."""
        with self._lock:
            if not self._buffer:
                deadline = self._deadline(timeout_s)
                while not self._buffer:
                    self._fill(deadline, "byte")
            data = bytes(self._buffer[:max_bytes])
            del self._buffer[:max_bytes]
        return data

    def clear(self) -> None:
        """Discard what is buffered and pending; bounded even if the device keeps sending."""
        deadline = time.monotonic() + CLEAR_LIMIT_S
        with self._lock:
            self._buffer.clear()
            while self._recv_some(0.0):
                if time.monotonic() > deadline:
                    log.warning("%s: input still arriving after %g s of clearing; left it",
                                self.resource, CLEAR_LIMIT_S)  # fmt: skip
                    return
