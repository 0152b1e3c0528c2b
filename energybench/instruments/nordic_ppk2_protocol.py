"""The Nordic PPK2's serial protocol: command bytes, the metadata text and its calibration, and the
4-byte sample words (docs/instruments/ppk2.md gives every fact with its source).

Commands are raw bytes, an opcode and fixed arguments, with no terminator and no reply, except
GetMetadata, answered by ``Key: value`` lines ending ``END``. After AverageStart the device
streams one little-endian 32-bit word per sample (100 kS/s): bits 0-13 the ADC value, 14-16 the
range (0-4), 18-23 a counter incremented per sample (mod 64), 24-31 the logic inputs D0-D7.
The current of a word in range r follows the vendor app's conversion with the device's own
per-range calibration (:meth:`Calibration.current_a`).
"""

from __future__ import annotations

import logging
import math
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from energybench.errors import ConfigError, InstrumentError

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 100_000  # adcSamplingTimeUs = 10
WORD_BYTES = 4
N_RANGES = 5
COUNTER_MODULO = 64
ADC_MAX = (1 << 14) - 1
ADC_VOLTS_PER_COUNT = 1.8 / 163840  # applied to the 14-bit ADC field times 4
MIN_SOURCE_MV, MAX_SOURCE_MV = 800, 5000
METADATA_END = b"END"
DIGITAL_NAMES = tuple(f"d{n}" for n in range(8))

# opcodes (the vendor app's command table)
AVERAGE_START = 0x06
AVERAGE_STOP = 0x07
DEVICE_RUNNING_SET = 0x0C
REGULATOR_SET = 0x0D
SET_POWER_MODE = 0x11
SPIKE_FILTERING_ON = 0x15
SPIKE_FILTERING_OFF = 0x16
GET_METADATA = 0x19
RESET = 0x20
SET_USER_GAINS = 0x25
POWER_MODE_AMPERE, POWER_MODE_SOURCE = 1, 2

# the calibration keys of the metadata, each with one value per range, and the app's defaults
DEFAULTS: dict[str, tuple[float, ...]] = {
    "R": (1031.64, 101.65, 10.15, 0.94, 0.043),
    "GS": (1.0,) * N_RANGES,
    "GI": (1.0,) * N_RANGES,
    "O": (0.0,) * N_RANGES,
    "S": (0.0,) * N_RANGES,
    "I": (0.0,) * N_RANGES,
    "UG": (1.0,) * N_RANGES,
}
_LINE = re.compile(r"^(?P<key>[A-Za-z]+)(?P<index>[0-4])?: (?P<value>\S+)$")


def regulator_set(voltage_mv: int) -> bytes:
    """RegulatorSet: the source voltage in mV, big-endian (800-5000 mV)."""
    if not MIN_SOURCE_MV <= voltage_mv <= MAX_SOURCE_MV:
        raise ConfigError(f"{voltage_mv} mV is outside 800..5000 mV", context="voltage")
    return bytes((REGULATOR_SET, voltage_mv >> 8, voltage_mv & 0xFF))


def set_power_mode(source: bool) -> bytes:
    return bytes((SET_POWER_MODE, POWER_MODE_SOURCE if source else POWER_MODE_AMPERE))


def device_running(on: bool) -> bytes:
    return bytes((DEVICE_RUNNING_SET, 1 if on else 0))


def set_user_gain(range_index: int, gain: float) -> bytes:
    """SetUserGains: the range, then the gain as a little-endian float32."""
    if not 0 <= range_index < N_RANGES:
        raise ConfigError(f"range {range_index} is not 0..4", context="range")
    return bytes((SET_USER_GAINS, range_index)) + struct.pack("<f", gain)


@dataclass(frozen=True)
class Calibration:
    """The per-range modifiers of one device (``R`` Ω, ``GS``, ``GI``, ``O`` counts, ``S``,
    ``I``, ``UG``), with the metadata's other fields kept as text."""

    modifiers: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULTS))
    fields: dict[str, str] = field(default_factory=dict)
    defaulted: tuple[str, ...] = ()  # keys the device did not give (the app's default used)

    def __post_init__(self) -> None:
        for key, values in self.modifiers.items():
            if len(values) != N_RANGES or not all(math.isfinite(v) for v in values):
                raise InstrumentError(f"calibration {key} must be 5 finite values, got {values}")
        if any(r <= 0 for r in self.modifiers["R"]):
            raise InstrumentError(f"calibration R must be > 0 Ω, got {self.modifiers['R']}")

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.modifiers.items()}

    def current_a(self, adc: np.ndarray, range_index: np.ndarray, vdd_v: float) -> np.ndarray:
        """Current (A) of ADC fields in their ranges: x = (4·adc − O)·k/R, then
        UG·(x·(GS·x + GI) + S·VDD + I), with k the ADC's volts per count."""
        m = {key: values[range_index] for key, values in self._arrays().items()}
        x = (adc.astype(np.float64) * 4.0 - m["O"]) * (ADC_VOLTS_PER_COUNT / m["R"])
        return m["UG"] * (x * (m["GS"] * x + m["GI"]) + (m["S"] * vdd_v + m["I"]))

    def full_scale_a(self) -> tuple[float, ...]:
        """The current at the top ADC count of each range (nominal, at VDD 0)."""
        top = np.full(N_RANGES, ADC_MAX)
        return tuple(float(v) for v in self.current_a(top, np.arange(N_RANGES), 0.0))

    def resolution_a(self) -> tuple[float, ...]:
        """One ADC count in each range, in A (at mid-scale)."""
        mid = np.full(N_RANGES, ADC_MAX // 2)
        rng = np.arange(N_RANGES)
        step = self.current_a(mid + 1, rng, 0.0) - self.current_a(mid, rng, 0.0)
        return tuple(float(v) for v in step)

    @property
    def vdd_mv(self) -> int | None:
        value = self.fields.get("VDD")
        return int(float(value)) if value is not None and _number(value) is not None else None

    @property
    def power_mode(self) -> int | None:
        value = self.fields.get("mode")
        return int(float(value)) if value is not None and _number(value) is not None else None


def is_metadata_line(line: str) -> bool:
    """Whether ``line`` has the metadata's ``Key: value`` shape."""
    return _LINE.match(line.strip()) is not None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_metadata(text: str) -> Calibration:
    """The GetMetadata reply (``Key: value`` lines, then ``END``) as a :class:`Calibration`.

    A calibration value the device does not give, or gives as ``nan``/``-nan`` (or an R of 0,
    seen on some devices), keeps the vendor app's default and is listed in ``defaulted``."""
    body, found, _ = text.partition("END")
    if not found:
        raise InstrumentError("metadata without its END line", context="GetMetadata")
    values: dict[str, dict[int, str]] = {}
    fields: dict[str, str] = {}
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            raise InstrumentError(f"unrecognised metadata line {line!r}", context="GetMetadata")
        key, index, value = match["key"], match["index"], match["value"]
        if index is not None and key in DEFAULTS:
            values.setdefault(key, {})[int(index)] = value
        else:
            fields[key + (index or "")] = value
    modifiers: dict[str, tuple[float, ...]] = {}
    defaulted = []
    for key, default in DEFAULTS.items():
        row = []
        for k in range(N_RANGES):
            number = _number(values.get(key, {}).get(k, "nan"))
            if number is None or (key == "R" and number == 0):
                defaulted.append(f"{key}{k}")
                number = default[k]
            row.append(number)
        modifiers[key] = tuple(row)
    if defaulted:
        log.warning("PPK2 metadata lacks %s: the vendor app's defaults apply", ", ".join(defaulted))
    return Calibration(modifiers, fields, tuple(defaulted))


@dataclass
class DecodedWords:
    """Samples decoded from one stretch of the stream: contiguous from ``first_id``."""

    first_id: int
    adc: np.ndarray
    range_index: np.ndarray
    logic: np.ndarray


@dataclass
class WordStats:
    """What the counter told about the stream."""

    samples_received: int = 0
    samples_lost: int = 0
    lost_ranges: list[tuple[int, int]] = field(default_factory=list)
    bytes_skipped: int = 0  # fragments discarded to find the word boundary again
    resyncs: int = 0
    ambiguous_losses: int = 0  # a loss whose size the 6-bit counter cannot tell (mod 64)


LOOKAHEAD_WORDS = 4  # consecutive counters that confirm a word boundary
MAX_SEARCH_BYTES = 4 * 64


class WordDecoder:
    """Splits the byte stream into words, follows the counter and records losses.

    A counter that jumps while the following words count on is a loss of that many samples
    (modulo 64: the 6-bit counter cannot see a loss of 64 samples or a multiple). Words that do
    not count on mean lost bytes: the decoder searches the byte offset where
    :data:`LOOKAHEAD_WORDS` words count on again and records the fragments as lost samples."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._expected: int | None = None
        self.next_id = 0
        self.stats = WordStats()

    def feed(self, data: bytes, final: bool = False) -> list[DecodedWords]:
        """Decode what ``data`` completes; with ``final`` nothing is held back for lookahead."""
        buf = bytes(self._buffer) + data  # numpy views below must not pin a resizable buffer
        out: list[DecodedWords] = []
        pos = 0
        while True:
            n = (len(buf) - pos) // WORD_BYTES
            if n == 0:
                break
            words = np.frombuffer(buf, dtype="<u4", count=n, offset=pos)
            counters = (words >> 18) & (COUNTER_MODULO - 1)
            if self._expected is None:  # the stream's first word: two in a row confirm it
                if n < 2 and not final:
                    break
                if not _counts_on(counters[:2]):
                    skip = self._boundary(buf, pos)
                    if skip is None:
                        break
                    self.stats.bytes_skipped += skip  # a fragment before the first whole word
                    pos += skip
                    continue
                self._expected = int(counters[0])
            want = (self._expected + np.arange(n)) & (COUNTER_MODULO - 1)
            bad = np.flatnonzero(counters != want)
            good = int(bad[0]) if bad.size else n
            if good:
                out.append(self._emit(words[:good]))
                pos += good * WORD_BYTES
            if good == n:
                break
            if (len(buf) - pos) // WORD_BYTES < LOOKAHEAD_WORDS and not final:
                break  # decide once the words after the jump are here
            count = min(LOOKAHEAD_WORDS, n - good)
            ahead = np.frombuffer(buf, dtype="<u4", count=count, offset=pos)
            if _counts_on((ahead >> 18) & (COUNTER_MODULO - 1)):
                self._lose(int((ahead[0] >> 18) & 63), 0)
                continue
            skip = self._boundary(buf, pos)
            if skip is None:
                break
            first = np.frombuffer(buf, dtype="<u4", count=1, offset=pos + skip)[0]
            self._lose(int((first >> 18) & 63), skip)
            pos += skip
        self._buffer = bytearray(buf[pos:])
        if final and self._buffer:  # a fragment at the very end: nothing follows it
            self.stats.bytes_skipped += len(self._buffer)
            self._buffer.clear()
        return out

    def _emit(self, words: np.ndarray) -> DecodedWords:
        decoded = DecodedWords(
            self.next_id,
            (words & ADC_MAX).astype(np.uint16),
            np.minimum((words >> 14) & 0x7, N_RANGES - 1).astype(np.uint8),
            (words >> 24).astype(np.uint8),
        )
        self.next_id += len(words)
        self._expected = (self._expected + len(words)) & (COUNTER_MODULO - 1)
        self.stats.samples_received += len(words)
        return decoded

    def _lose(self, counter: int, fragment_bytes: int) -> None:
        """Samples lost before the word whose counter is ``counter``."""
        lost = (counter - self._expected) & (COUNTER_MODULO - 1)
        if fragment_bytes:
            self.stats.resyncs += 1
            self.stats.bytes_skipped += fragment_bytes
            minimum = -(-fragment_bytes // WORD_BYTES)
            if lost == 0 or lost < minimum:
                self.stats.ambiguous_losses += 1
            while lost < minimum:
                lost += COUNTER_MODULO
        start = self.next_id
        self.next_id += lost
        self._expected = counter
        self.stats.samples_lost += lost
        ranges = self.stats.lost_ranges
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], self.next_id)
        else:
            ranges.append((start, self.next_id))
        log.warning("PPK2: %d sample(s) lost at sample %d (counter jump)", lost, start)

    def _boundary(self, buf: bytes, pos: int) -> int | None:
        """Bytes to skip from ``pos`` to the next offset where words count on; None: wait."""
        limit = min(MAX_SEARCH_BYTES, len(buf) - pos - LOOKAHEAD_WORDS * WORD_BYTES)
        for skip in range(1, limit + 1):
            words = np.frombuffer(buf, dtype="<u4", count=LOOKAHEAD_WORDS, offset=pos + skip)
            if _counts_on((words >> 18) & (COUNTER_MODULO - 1)):
                return skip
        if limit >= MAX_SEARCH_BYTES:
            raise InstrumentError(
                "the sample stream lost its word boundary and no counter sequence follows "
                f"within {MAX_SEARCH_BYTES} bytes",
                context="PPK2 stream",
            )
        return None


def _counts_on(counters: np.ndarray) -> bool:
    """Whether consecutive counters increase by one (mod 64)."""
    steps = np.diff(counters.astype(np.int64)) % COUNTER_MODULO
    return bool(np.all(steps == 1))
