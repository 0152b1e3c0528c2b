"""Strict parsing of the LPM01A (PowerShield) ASCII stream and assembly into trace chunks.

Fixes the MLCommons runner's defects (dut-protocol.md §7.2 items 11-14): a value is any-width
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
        self.stats.buffer_fill_pct = buff
        self.stats.buffer_fill_max_pct = max(self.stats.buffer_fill_max_pct, buff)
        if buff >= 100:
            log.warning("LPM01A buffer full (buff %d%%) at %d s: data lost", buff, seconds)
        expected = round((seconds + millis / 1000.0) * self.sample_rate_hz)
        self.stats.timestamps_checked += 1
        if self.next_id < expected:
            self._drop(expected - self.next_id, f"TimeStamp {seconds}s expects {expected}")
        elif self.next_id > expected:
            self.stats.samples_excess += self.next_id - expected
            log.warning(
                "LPM01A: %d samples beyond TimeStamp %d s", self.next_id - expected, seconds
            )
        self.ready = True

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
