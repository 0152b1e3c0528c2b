"""A scripted transport for driver tests: the exact commands expected and the replies given.

Each exchange is ``(command, reply)``: ``command`` is the exact text the driver must write
(without termination); ``reply`` is ``None`` (a write), a ``str`` (one reply line) or ``bytes``
(raw reply bytes, e.g. a binary block with its terminator). :meth:`assert_done` checks that every
exchange was used and no reply is left unread. Raw-byte protocols (no terminator) use
``write_termination=""`` and ``encoding="latin-1"``, so each command byte is one character.
"""

from __future__ import annotations

from collections.abc import Iterable

from energybench.errors import InstrumentTimeoutError, TransportError
from energybench.transport.base import BaseTransport

Exchange = tuple[str, "str | bytes | None"]


class ScriptedTransport(BaseTransport):
    def __init__(self, exchanges: Iterable[Exchange], resource: str = "scripted", **kwargs) -> None:
        super().__init__(resource, **kwargs)
        self._script = list(exchanges)
        self._position = 0
        self._pending = bytearray()
        self.sent: list[str] = []
        self.closed = False

    def _send(self, data: bytes) -> None:
        text = data.decode(self.encoding)
        if self.write_termination and text.endswith(self.write_termination):
            text = text[: -len(self.write_termination)]
        self.sent.append(text)
        if self._position >= len(self._script):
            raise TransportError(
                f"unexpected command {text!r}: the script is exhausted", context=self.resource
            )
        expected, reply = self._script[self._position]
        if text != expected:
            raise TransportError(
                f"command #{self._position + 1} was {text!r}, the script expects {expected!r}",
                context=self.resource,
            )
        self._position += 1
        if isinstance(reply, str):
            self._pending += (reply + self.read_termination).encode(self.encoding)
        elif isinstance(reply, bytes):
            self._pending += reply

    def _take(self, end: int, what: str, deadline: float) -> bytes:
        if end > len(self._pending):
            raise InstrumentTimeoutError(
                f"no complete {what}: the script has no more reply", context=self.resource
            )
        data = bytes(self._pending[:end])
        del self._pending[:end]
        return data

    def _read_until(self, terminator: bytes, deadline: float) -> bytes:
        at = self._pending.find(terminator)
        return self._take(
            len(self._pending) + 1 if at < 0 else at + len(terminator),
            f"reply ending in {terminator!r}",
            deadline,
        )

    def _read_exact(self, count: int, deadline: float) -> bytes:
        return self._take(count, f"{count}-byte read", deadline)

    def read_some(self, max_bytes: int, timeout_s: float | None = None) -> bytes:
        """Up to ``max_bytes`` of the reply bytes given so far (binary streams)."""
        if not self._pending:
            raise InstrumentTimeoutError("no reply bytes left in the script", context=self.resource)
        data = bytes(self._pending[:max_bytes])
        del self._pending[:max_bytes]
        return data

    def clear(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        self.closed = True

    def assert_done(self) -> None:
        """Every scripted exchange was used and every reply read."""
        left = self._script[self._position :]
        if left:
            raise AssertionError(f"{len(left)} scripted exchanges unused, next: {left[0]!r}")
        if self._pending:
            raise AssertionError(f"unread reply bytes left: {bytes(self._pending)!r}")
