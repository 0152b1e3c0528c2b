"""Strict parsing of the LPM01A (PowerShield) ASCII stream and assembly into trace chunks.

Fixes the MLCommons runner's defects (docs/reference-runner.md#runner-defects:
last-two-events, 1ms-events, lpm-regex, timestamp-width): a value is any-width
mantissa + signed two-digit exponent (``6409-07``, ``33930-08``); a malformed token is a counted
drop that keeps its sample id (NaN, listed as missing), never summed; ``TimeStamp`` lines of any
second width check the cumulative sample count (a shortfall becomes a counted, NaN-filled
dropped range); ``event <n>`` counters must increase by one (a gap is a lost event); ``buff NN%``
is tracked. Events become a digital line ``d7`` that is LOW for exactly the event's bin.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from energybench.analysis.trace import TraceChunk
from energybench.errors import InstrumentError
from energybench.instruments.capabilities import StreamStats

log = logging.getLogger(__name__)

PROMPT = "PowerShield >"
_TOKEN = re.compile(r"^(\d+)([+-]\d{2})$")
_TIMESTAMP = re.compile(r"^TimeStamp:[ ><](\d+)s (\d+)ms, buff (\d+)%$")
_EVENT = re.compile(r"^event (\d+) (ris|fal)$")
_DATA_CHARS = set("0123456789+-")
MESSAGE_PREFIXES = ("ack ", "ack", "error ", "Error detail", "Acquisition completed")


def strip_prompt(line: str) -> str:
    """The line without its ``PowerShield > `` prompt(s) and surrounding blanks."""
    text = line.strip()
    while text.startswith(PROMPT):
        text = text[len(PROMPT) :].strip()
    return text


def parse_value(token: str) -> float | None:
    """``6409-07`` → 6.409e-4; any mantissa width; None if the token is malformed."""
    match = _TOKEN.match(token)
    if not match:
        return None
    return float(f"{match.group(1)}e{match.group(2)}")


def _looks_like_data(token: str) -> bool:
    """Mostly digits and signs: a (possibly garbled) value rather than a message word."""
    return sum(c in _DATA_CHARS for c in token) * 2 >= len(token) > 0


@dataclass
class Lpm01aStreamStats(StreamStats):
    """Continuity bookkeeping of one acquisition, beyond sample counts."""

    malformed_tokens: int = 0
    samples_excess: int = 0  # more samples than the TimeStamp lines account for
    events: list[tuple[int, int]] = field(default_factory=list)  # (counter, sample id)
    events_lost: int = 0
    events_unresolved: int = 0  # events in the same or adjacent bins: one d7 edge for both
    lost_event_counters: list[int] = field(default_factory=list)
    timestamps_checked: int = 0
    buffer_fill_pct: int = 0
    buffer_fill_max_pct: int = 0
    unknown_lines: list[str] = field(default_factory=list)


class StreamAssembler:
    """Turns classified stream lines into samples with continuous integer ids."""

    def __init__(self, sample_rate_hz: float, scale: float, voltage_v: float, events: bool):
        self.sample_rate_hz = sample_rate_hz
        self.scale = scale  # value → current in A (energy per bin: fs / V)
        self.voltage_v = voltage_v
        self.with_events = events
        self.stats = Lpm01aStreamStats()
        self._values: list[float] = []
        self._first_id = 0  # id of _values[0]
        self._event_ids: list[int] = []
        self._last_event: int | None = None
        self.ready = False  # a TimeStamp line closed a second: a chunk can be taken

    @property
    def next_id(self) -> int:
        return self._first_id + len(self._values)

    @property
    def pending_samples(self) -> int:
        return len(self._values)

    def feed(self, line: str) -> bool:
        """Consume one stream line; False if it is not a stream line (a reply or message)."""
        text = strip_prompt(line)
        if not text:
            return True
        if text.startswith(MESSAGE_PREFIXES):
            return False
        if text.startswith("TimeStamp"):
            self._timestamp(text)
            return True
        match = _EVENT.match(text)
        if match:
            self._event(int(match.group(1)))
            return True
        tokens = text.split()
        if not all(_looks_like_data(t) for t in tokens):
            if len(self.stats.unknown_lines) < 100:
                self.stats.unknown_lines.append(text)
            log.warning("unrecognised LPM01A line %r", text)
            return True
        for token in tokens:
            value = parse_value(token)
            if value is None:
                self.stats.malformed_tokens += 1
                self._drop(1, f"malformed token {token!r}")
            else:
                self._values.append(value * self.scale)
                self.stats.samples_received += 1
        return True

    def _drop(self, count: int, why: str) -> None:
        start = self.next_id
        self._values.extend([float("nan")] * count)
        self.stats.samples_dropped += count
        ranges = self.stats.dropped_ranges
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + count)
        else:
            ranges.append((start, start + count))
        log.warning("LPM01A: %d sample(s) dropped at id %d (%s)", count, start, why)

    def _timestamp(self, text: str) -> None:
        match = _TIMESTAMP.match(text)
        if not match:
            self.stats.unknown_lines.append(text)
            log.warning("malformed TimeStamp line %r", text)
            return
        seconds, millis, buff = (int(g) for g in match.groups())
        self.check_time(seconds + millis / 1000.0, buff)

    def check_time(self, elapsed_s: float, buff: int) -> None:
        """A time stamp: the samples so far must number ``elapsed_s × fs``; a shortfall is a
        counted drop (NaN-filled, placed before the stamp), an excess is counted."""
        self.stats.buffer_fill_pct = buff
        self.stats.buffer_fill_max_pct = max(self.stats.buffer_fill_max_pct, buff)
        if buff >= 100:
            log.warning("LPM01A buffer full (buff %d%%) at %g s: data lost", buff, elapsed_s)
        expected = round(elapsed_s * self.sample_rate_hz)
        self.stats.timestamps_checked += 1
        if self.next_id < expected:
            self._drop(expected - self.next_id, f"time stamp {elapsed_s:g} s expects {expected}")
        elif self.next_id > expected:
            self.stats.samples_excess += self.next_id - expected
            log.warning(
                "LPM01A: %d samples beyond time stamp %g s", self.next_id - expected, elapsed_s
            )
        self.ready = True

    def add_values(self, values: np.ndarray) -> None:
        """Decoded values (binary stream), scaled to current."""
        self._values.extend((values * self.scale).tolist())
        self.stats.samples_received += len(values)

    def _event(self, counter: int) -> None:
        if self._last_event is not None and counter != self._last_event + 1:
            missing = list(range(self._last_event + 1, counter))
            self.stats.events_lost += max(len(missing), 1)
            self.stats.lost_event_counters.extend(missing)
            log.warning("LPM01A event counter jumped %d -> %d", self._last_event, counter)
        self._last_event = counter
        previous = self.stats.events[-1][1] if self.stats.events else None
        if previous is not None and self.next_id - previous <= 1:
            self.stats.events_unresolved += 1
            log.warning("LPM01A events at ids %d and %d merge on d7", previous, self.next_id)
        self.stats.events.append((counter, self.next_id))
        self._event_ids.append(self.next_id)

    def take(self, final: bool = False) -> TraceChunk | None:
        """The samples gathered so far as one chunk (events still ahead are kept)."""
        self.ready = False
        if not self._values:
            return None
        current = np.asarray(self._values, dtype=np.float64)
        first, stop = self._first_id, self.next_id
        digital = {}
        if self.with_events:
            d7 = np.ones(current.shape, dtype=bool)
            keep = []
            for sample_id in self._event_ids:
                if first <= sample_id < stop:
                    d7[sample_id - first] = False
                elif sample_id >= stop and not final:
                    keep.append(sample_id)
            self._event_ids = keep
            digital["d7"] = d7
        self._values = []
        self._first_id = stop
        return TraceChunk(first, self.sample_rate_hz, current, self.voltage_v, digital)


class HexaParser:
    """Parses a ``bin_hexa`` byte stream: big-endian words ``e|mmm`` (m × 16^-e, firmware help
    [V]) and records starting with 0xF0: ``F0 F3 <u32 ms> <u8 buff> FF FF`` time stamps and
    ``F0 F4 FF FF`` end of acquisition, followed by ASCII text (framing [D], third-party reader)."""

    def __init__(self, assembler: StreamAssembler) -> None:
        self.assembler = assembler
        self._buffer = bytearray()
        self.ended = False  # the end record arrived
        self.completed = False  # ... and the "Acquisition completed" line after it

    def feed(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos = 0
        while not self.ended and len(buf) - pos >= 2:
            if buf[pos] != 0xF0:
                pos += self._words(buf, pos)
                continue
            kind = buf[pos + 1]
            size = {0xF3: 9, 0xF4: 4}.get(kind)
            if size is None:
                raise InstrumentError(f"unknown bin_hexa record type 0x{kind:02X}")
            if len(buf) - pos < size:
                break
            record = bytes(buf[pos : pos + size])
            if record[-2:] != b"\xff\xff":
                raise InstrumentError(f"bin_hexa record without its FF FF end tag: {record.hex()}")
            if kind == 0xF3:
                self.assembler.check_time(int.from_bytes(record[2:6], "big") / 1000.0, record[6])
            else:
                self.ended = True
            pos += size
        del buf[:pos]
        if self.ended and b"Acquisition completed" in buf:
            self.completed = True
            buf.clear()

    def _words(self, buf: bytearray, pos: int) -> int:
        """Decode the data words from ``pos`` up to the next record; bytes consumed."""
        count = (len(buf) - pos) // 2
        raw = np.frombuffer(bytes(buf[pos : pos + 2 * count]), dtype=">u2")
        records = np.flatnonzero((raw >> 8) == 0xF0)
        if records.size:
            raw = raw[: records[0]]
        words = raw.astype(np.int64)
        self.assembler.add_values((words & 0xFFF) * 16.0 ** -(words >> 12))
        return 2 * len(words)
