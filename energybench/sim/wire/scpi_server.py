"""A SCPI-over-TCP server for simulated instruments (``TCPIP::127.0.0.1::<port>::SOCKET``).

It does what real socket instruments do: newline-terminated messages, compound messages split on
``;``, headers matched in short or long form (``SENS:SWE:POIN`` = ``SENSe:SWEep:POINts``) with
optional nodes and numeric suffixes, an error queue read with ``SYST:ERR?``, the IEEE 488.2
common commands, and binary blocks in both byte orders. Fault knobs let tests see what a client
sees when an instrument misbehaves.

A simulator subclasses :class:`ScpiInstrument`, registers its commands with :meth:`command`, and
is served by :class:`ScpiServer` on an OS-chosen port.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from energybench.sim.wire.tcp_server import TcpServer

log = logging.getLogger(__name__)

MAX_ERROR_QUEUE = 10
SEND_TIMEOUT_S = 10.0  # a reply (a block can be megabytes) must make progress within this
NO_ERROR = '0,"No error"'


class ScpiError(Exception):
    """Raised by a handler: pushed to the error queue as ``<code>,"<message>"``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f'{code},"{message}"')
        self.code = code
        self.message = message


UNDEFINED_HEADER = -113
DATA_OUT_OF_RANGE = -222
ILLEGAL_PARAMETER = -224
MISSING_PARAMETER = -109
QUERY_INTERRUPTED = -410
SETTINGS_CONFLICT = -221


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool


def _parse_pattern(pattern: str) -> tuple[_Node, ...]:
    """``[SOURce]:VOLTage[:LEVel]`` → nodes; the short form is the uppercase letters."""
    nodes = []
    for match in re.finditer(r"(\[)?:?([A-Za-z*]+\??)(\])?", pattern.lstrip(":")):
        word = match.group(2).rstrip("?")
        short = "".join(c for c in word if c.isupper() or c == "*") or word.upper()
        nodes.append(_Node(short.upper(), word.upper(), bool(match.group(1))))
    return tuple(nodes)


def _matches(nodes: tuple[_Node, ...], words: list[str]) -> bool:
    if not nodes:
        return not words
    node, rest = nodes[0], nodes[1:]
    if words and words[0] in (node.short, node.long) and _matches(rest, words[1:]):
        return True
    return node.optional and _matches(rest, words)


Handler = Callable[["Request"], "str | bytes | None"]


@dataclass
class Request:
    """One parsed message unit: header words, numeric suffixes, arguments, query flag."""

    header: str
    suffixes: list[int]
    args: list[str]
    query: bool

    def suffix(self, position: int = -1, default: int = 1) -> int:
        """The numeric suffix of a header word (``OUTP2`` → 2), ``default`` if absent."""
        try:
            value = self.suffixes[position]
        except IndexError:
            return default
        return default if value < 0 else value

    def arg(self, index: int = 0) -> str:
        if index >= len(self.args):
            raise ScpiError(MISSING_PARAMETER, "Missing parameter")
        return self.args[index]

    def float_arg(self, index: int = 0, low: float = -np.inf, high: float = np.inf) -> float:
        text = self.arg(index).upper()
        specials = {"MIN": low, "MINIMUM": low, "MAX": high, "MAXIMUM": high}
        try:
            value = specials[text] if text in specials else float(text)
        except ValueError:
            raise ScpiError(-104, "Data type error") from None
        if not low <= value <= high:
            raise ScpiError(DATA_OUT_OF_RANGE, "Data out of range")
        return value

    def bool_arg(self, index: int = 0) -> bool:
        text = self.arg(index).upper()
        if text in ("1", "ON"):
            return True
        if text in ("0", "OFF"):
            return False
        raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")

    def channels(self) -> list[int]:
        """Channels from a ``(@1,2)``/``(@1:3)`` argument, else []."""
        for a in self.args:
            m = re.fullmatch(r"\(@([\d,:]+)\)", a.replace(" ", ""))
            if m:
                out: list[int] = []
                for part in m.group(1).split(","):
                    lo, _, hi = part.partition(":")
                    out.extend(range(int(lo), int(hi or lo) + 1))
                return out
        return []


def binary_block(
    values: np.ndarray, dtype: str, *, big_endian: bool, definite: bool = True
) -> bytes:
    """IEEE 488.2 block of ``values`` (definite ``#<n><len>`` or indefinite ``#0``)."""
    payload = np.asarray(values, dtype=np.dtype(dtype).newbyteorder(">" if big_endian else "<"))
    data = payload.tobytes()
    if not definite:
        return b"#0" + data
    length = str(len(data)).encode()
    return b"#" + str(len(length)).encode() + length + data


@dataclass
class ScpiFaults:
    """Fault knobs: what a client sees when an instrument misbehaves."""

    reply_delay_s: float = 0.0
    withhold_replies: int = 0  # swallow the next N query replies
    close_on: str | None = None  # close the connection when a header containing this arrives
    push_errors: list[str] = field(default_factory=list)  # extra '<code>,"msg"' entries
    delayed_replies_sent: int = 0  # observed, not set: lets a test wait for a late reply


class ScpiInstrument:
    """Command table, error queue and common commands of one simulated instrument."""

    identity = "energybench,SimInstrument,0,0.1"

    def __init__(self) -> None:
        self._commands: list[tuple[tuple[_Node, ...], bool, Handler]] = []
        self.errors: deque[tuple[int, str]] = deque()  # (code, message), oldest first
        self.faults = ScpiFaults()
        self.lock = threading.RLock()
        self.log: list[str] = []
        self.command("*IDN?", self._idn)
        self.command("*RST", lambda r: self.reset())
        self.command("*CLS", lambda r: self.errors.clear())
        self.command("*OPC?", lambda r: "1")
        self.command("*OPC", lambda r: None)
        self.command("*WAI", lambda r: None)
        self.command("*TST?", lambda r: "0")
        self.command("SYSTem:ERRor[:NEXT]?", self._next_error)
        self.command("SYSTem:ERRor:COUNt?", lambda r: str(len(self.errors)))

    # ---- the lab's view of a simulator that serves itself (sets ``self.server``) -----------
    @property
    def resource(self) -> str:
        """``TCPIP::127.0.0.1::<port>::SOCKET`` of this instrument's own server."""
        return self.server.resource

    def start(self):
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self, pattern: str, handler: Handler) -> None:
        """Register a handler; a pattern ending in ``?`` handles the query form only."""
        query = pattern.endswith("?")
        self._commands.append((_parse_pattern(pattern), query, handler))

    def reset(self) -> None:
        """``*RST``: subclasses restore their defaults (call super)."""

    def register_byte_order(self) -> None:
        """``FORMat:BORDer NORMal|SWAPped`` and its query, kept in ``self.big_endian``."""
        self.command("FORMat:BORDer", self._set_byte_order)
        self.command("FORMat:BORDer?", lambda r: "NORM" if self.big_endian else "SWAP")

    def _set_byte_order(self, request: Request) -> None:
        word = request.arg().upper()
        if word not in ("NORM", "NORMAL", "SWAP", "SWAPPED"):
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
        self.big_endian = word.startswith("NORM")

    def push_error(self, code: int, message: str) -> None:
        """Queue an error; a full queue's last entry becomes ``-350,"Queue overflow"``."""
        if len(self.errors) >= MAX_ERROR_QUEUE:
            self.errors[-1] = (-350, "Queue overflow")
        else:
            self.errors.append((code, message))

    def _idn(self, request: Request) -> str:
        return self.identity

    def _next_error(self, request: Request) -> str:
        if self.faults.push_errors:
            return self.faults.push_errors.pop(0)
        if not self.errors:
            return NO_ERROR
        code, message = self.errors.popleft()
        return f'{code},"{message}"'

    def handle(self, message: str) -> list[bytes]:
        """Execute one message (possibly compound); the replies to send, in order."""
        replies: list[bytes] = []
        previous_path: list[str] = []
        for unit in _split_units(message):
            header, _, rest = unit.strip().partition(" ")
            if not header:
                continue
            query = header.endswith("?")
            words, suffixes = [], []
            relative = not header.startswith(":") and not header.startswith("*")
            for word in header.lstrip(":").rstrip("?").split(":"):
                m = re.fullmatch(r"([A-Za-z*]+?)(\d*)", word)
                if not m:
                    words = []
                    break
                words.append(m.group(1).upper())
                suffixes.append(int(m.group(2)) if m.group(2) else -1)
            args = [a.strip() for a in _split_args(rest)] if rest.strip() else []
            request = Request(header.upper(), suffixes, args, query)
            handler = self._find(words, query)
            if handler is None and relative and previous_path:
                handler = self._find(previous_path + words, query)
            if handler is None:
                self.push_error(UNDEFINED_HEADER, "Undefined header")
                log.debug("undefined header %r", unit)
                continue
            previous_path = words[:-1]
            self.log.append(unit.strip())
            try:
                with self.lock:
                    reply = handler(request)
            except ScpiError as exc:
                self.push_error(exc.code, exc.message)
                continue
            if query and reply is not None:
                replies.append(reply if isinstance(reply, bytes) else reply.encode())
        return replies

    def _find(self, words: list[str], query: bool) -> Handler | None:
        for nodes, is_query, handler in self._commands:
            if is_query == query and _matches(nodes, words):
                return handler
        return None


def _split_units(message: str) -> list[str]:
    """Split on ``;`` outside quotes."""
    return [u for u in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', message) if u.strip()]


def _split_args(text: str) -> list[str]:
    """Split arguments on commas outside parentheses and quotes."""
    out, depth, quoted, current = [], 0, False, []
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted:
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


class ScpiServer:
    """Serves one :class:`ScpiInstrument` on 127.0.0.1 at an OS-chosen port."""

    def __init__(self, instrument: ScpiInstrument, host: str = "127.0.0.1") -> None:
        self.instrument = instrument
        self.tcp = TcpServer(
            self._serve, name="scpi", host=host, conn_timeout_s=SEND_TIMEOUT_S
        ).listen()
        self.host = host
        self.port = self.tcp.port

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        return self.tcp.accepted

    @property
    def open_connections(self) -> int:
        """Client connections not yet closed (by either side)."""
        return self.tcp.open_connections

    @property
    def resource(self) -> str:
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> ScpiServer:
        self.tcp.start()
        return self

    def stop(self) -> None:
        self.tcp.stop()

    def __enter__(self) -> ScpiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        while not self.tcp.stopping.is_set():
            try:
                data = conn.recv(1 << 16)
            except TimeoutError:
                continue
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not self._respond(conn, line.decode("ascii", "replace").rstrip("\r")):
                    return

    def _respond(self, conn: socket.socket, message: str) -> bool:
        faults = self.instrument.faults
        if faults.close_on and faults.close_on.upper() in message.upper():
            faults.close_on = None
            return False
        replies = self.instrument.handle(message)
        if not replies:
            return True
        if faults.withhold_replies > 0:
            faults.withhold_replies -= 1
            return True
        delay_s = faults.reply_delay_s
        if delay_s > 0:
            time.sleep(delay_s)
        conn.sendall(b";".join(replies) + b"\n")  # a compound query answers on one line
        if delay_s > 0:
            faults.delayed_replies_sent += 1
        return True
