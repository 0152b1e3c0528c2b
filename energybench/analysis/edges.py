"""Timestamp edges: digital-line transitions and analog-threshold crossings.

Edges are float64 fractional sample positions found chunk by chunk (memory O(chunk), state
carried across chunk boundaries). A digital transition between samples ``k`` and ``k+1`` is
placed at ``k + 0.5`` for point samples and at the bin boundary ``k + 1`` for bin samples; an
analog crossing is linearly interpolated where the signal crosses the threshold level.
A level change whose samples touch a missing-sample range (or NaN samples, listed or not) is
reported as unresolved, never placed; pulses shorter than the minimum pulse width are dropped
with both edges and counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import numpy as np

from energybench.analysis.trace import DEFAULT_CHUNK_SAMPLES, SampleRange, Trace, TraceChunk
from energybench.errors import AnalysisError

# the one polarity type: a timestamp pin's active edge (falling or rising), or both when scanning
Polarity = Literal["falling", "rising", "both"]
AnalogSignal = Literal["current", "voltage", "power"]
POLARITIES: tuple[Polarity, ...] = get_args(Polarity)


class Edge(NamedTuple):
    """One level change found by the scanner: its (fractional) sample position, direction, and
    whether it could be placed (False: samples around it are missing; a barrier, never kept)."""

    position: float
    rising: bool
    resolved: bool = True


def timestamp_line(configured: str, names: tuple[str, ...]) -> str | None:
    """The digital line carrying the timestamp among the recorded ``names``: the configured one
    (a bench's sync line), else the only line recorded (a driver may name its input, e.g. the
    N6705's ``BUS`` or the LPM01A's ``d7``, differently from the line it streams); None when
    several lines are recorded and none is the configured one, or none at all."""
    if configured in names:
        return configured
    return names[0] if len(names) == 1 else None


@dataclass(frozen=True)
class AnalogThreshold:
    """A threshold on current (A), voltage (V) or power (W) with optional hysteresis.

    The level is "high" once the signal reaches ``level + hysteresis/2`` and "low" once it falls
    to ``level - hysteresis/2``; the edge is placed where the signal last crossed ``level``.
    """

    level: float
    signal: AnalogSignal = "current"
    hysteresis: float = 0.0

    def __post_init__(self) -> None:
        if self.signal not in ("current", "voltage", "power"):
            raise AnalysisError(
                f"threshold signal must be current|voltage|power, not {self.signal}"
            )
        if not math.isfinite(self.level):
            raise AnalysisError(f"threshold level must be finite, got {self.level}")
        if not (math.isfinite(self.hysteresis) and self.hysteresis >= 0):
            raise AnalysisError(f"threshold hysteresis must be >= 0, got {self.hysteresis}")

    @property
    def upper(self) -> float:
        return self.level + self.hysteresis / 2

    @property
    def lower(self) -> float:
        return self.level - self.hysteresis / 2

    def describe(self) -> str:
        unit = {"current": "A", "voltage": "V", "power": "W"}[self.signal]
        text = f"{self.signal} {self.level:g} {unit}"
        return text + (f" ±{self.hysteresis / 2:g} {unit}" if self.hysteresis else "")


@dataclass(frozen=True)
class UnresolvedEdge:
    """A level change that cannot be placed because samples around it are missing: the level
    was ``not rising`` at sample ``last_id`` and ``rising`` at sample ``next_id``."""

    last_id: int
    next_id: int
    rising: bool


@dataclass(frozen=True, eq=False)
class EdgeScan:
    """The edges found on one timestamp source over ``[start_id, stop_id)``.

    ``positions``/``rising`` hold the kept edges of the requested polarity; ``glitches`` the
    start positions of the pulses dropped by the minimum-pulse-width filter.
    """

    source: str
    polarity: Polarity
    sample_rate_hz: float
    first_sample_id: int
    start_id: int
    stop_id: int
    positions: np.ndarray
    rising: np.ndarray
    glitches: np.ndarray = field(default_factory=lambda: np.zeros(0))
    min_pulse_s: float = 0.0
    unresolved: tuple[UnresolvedEdge, ...] = ()
    missing: tuple[SampleRange, ...] = ()

    @property
    def count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def glitch_count(self) -> int:
        return int(self.glitches.shape[0])

    def time_s(self, position: float) -> float:
        return (position - self.first_sample_id) / self.sample_rate_hz

    def times_s(self) -> np.ndarray:
        return (self.positions - self.first_sample_id) / self.sample_rate_hz

    def describe(self) -> str:
        """One line: what was found, for error messages."""
        times = ", ".join(f"{t:.6f}" for t in self.times_s()[:20])
        more = f" (+{self.count - 20} more)" if self.count > 20 else ""
        text = f"{self.count} {self.polarity} edge(s) on {self.source} at [{times}{more}] s"
        if self.glitch_count:
            text += f"; {self.glitch_count} pulse(s) shorter than {self.min_pulse_s:g} s dropped"
        if self.unresolved:
            spans = ", ".join(
                f"{self.time_s(u.last_id):.6f}..{self.time_s(u.next_id):.6f} s"
                for u in self.unresolved[:5]
            )
            text += f"; {len(self.unresolved)} level change(s) inside missing samples ({spans})"
        if self.missing:
            lost = sum(r.count for r in self.missing)
            text += (
                f"; {lost} sample(s) missing in {len(self.missing)} range(s) from "
                f"{self.time_s(self.missing[0].start_id):.6f} s (edges there cannot be seen)"
            )
        return text


def edge_line(trace: Trace, configured: str) -> str:
    """The digital line of ``trace`` carrying the timestamp (:func:`timestamp_line`)."""
    line = timestamp_line(configured, trace.digital_names)
    if line is not None:
        return line
    raise AnalysisError(
        f"sync line {configured!r} is not among the recorded lines {trace.digital_names}",
        context="sync.line",
    )


def scan_edges(
    trace: Trace,
    *,
    line: str | None = None,
    threshold: AnalogThreshold | None = None,
    polarity: Polarity = "falling",
    min_pulse_s: float = 0.0,
    start_id: int | None = None,
    stop_id: int | None = None,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
) -> EdgeScan:
    """Find the edges of a digital ``line`` or an analog ``threshold`` (exactly one of them)."""
    if (line is None) == (threshold is None):
        raise AnalysisError("give exactly one of a digital line or an analog threshold")
    if polarity not in POLARITIES:
        raise AnalysisError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    if not (math.isfinite(min_pulse_s) and min_pulse_s >= 0):
        raise AnalysisError(f"min_pulse_s must be >= 0, got {min_pulse_s}")
    if line is not None and line not in trace.digital_names:
        names = ", ".join(trace.digital_names) or "none"
        raise AnalysisError(f"trace has no digital line {line!r} (lines: {names})", context="line")
    start = trace.first_sample_id if start_id is None else max(start_id, trace.first_sample_id)
    stop = trace.stop_sample_id if stop_id is None else min(stop_id, trace.stop_sample_id)
    scanner = _Scanner(trace, line, threshold)
    for chunk in trace.chunks(chunk_samples, start, stop):
        scanner.feed(chunk)
    edges, unresolved = scanner.result()
    kept, glitches = _filter_glitches(edges, min_pulse_s * trace.sample_rate_hz)
    if polarity != "both":
        want = polarity == "rising"
        kept = [e for e in kept if e.rising == want]
    source = f"digital line {line!r}" if line is not None else f"threshold {threshold.describe()}"
    return EdgeScan(
        source=source,
        polarity=polarity,
        sample_rate_hz=trace.sample_rate_hz,
        first_sample_id=trace.first_sample_id,
        start_id=start,
        stop_id=stop,
        positions=np.array([e.position for e in kept], dtype=np.float64),
        rising=np.array([e.rising for e in kept], dtype=bool),
        glitches=np.array(glitches, dtype=np.float64),
        min_pulse_s=min_pulse_s,
        unresolved=tuple(unresolved),
        missing=trace.missing_in(start, stop),
    )


def _filter_glitches(edges: list[Edge], min_pulse_samples: float) -> tuple[list[Edge], list[float]]:
    """Drop pulses shorter than ``min_pulse_samples`` (both edges); unresolved level changes
    are barriers, never dropped, and never kept."""
    stack: list[Edge] = []
    glitches: list[float] = []
    for edge in edges:
        if (
            min_pulse_samples > 0
            and edge.resolved
            and stack
            and stack[-1].resolved
            and edge.position - stack[-1].position < min_pulse_samples
        ):
            glitches.append(stack.pop().position)
            continue
        stack.append(edge)
    return [e for e in stack if e.resolved], glitches


class _Scanner:
    """Chunk-wise level tracker; carries the last valid sample and the analog crossings."""

    def __init__(self, trace: Trace, line: str | None, threshold: AnalogThreshold | None) -> None:
        self.trace = trace
        self.line = line
        self.threshold = threshold
        self.offset = 1.0 if trace.sample_kind == "bin" else 0.5  # digital transition position
        self.analog_offset = 0.5 if trace.sample_kind == "bin" else 0.0  # bin centres
        self.last_id: int | None = None
        self.last_state = -1  # -1: not known yet
        self.last_value = math.nan
        self.last_cross = {True: (-math.inf, -1), False: (-math.inf, -1)}  # rising -> (pos, lo)
        self.last_gap = -math.inf  # last valid analog sample id followed by missing/NaN samples
        self.edges: list[Edge] = []
        self.unresolved: list[UnresolvedEdge] = []

    def feed(self, chunk: TraceChunk) -> None:
        n = chunk.n_samples
        if n == 0:
            return
        first = chunk.first_sample_id
        gaps = self.trace.missing_in(first, first + n)
        valid: np.ndarray | None = None
        if gaps:
            valid = np.ones(n, dtype=bool)
            for gap in gaps:
                valid[max(gap.start_id - first, 0) : max(gap.stop_id - first, 0)] = False
        if self.line is not None:
            self._feed_digital(chunk, valid)
        else:
            self._feed_analog(chunk, valid)

    def _feed_digital(self, chunk: TraceChunk, valid: np.ndarray | None) -> None:
        bits = chunk.digital[self.line]
        if valid is None:
            ids = None
            states = bits
        else:
            (index,) = np.nonzero(valid)
            if index.size == 0:
                return
            ids = index + chunk.first_sample_id
            states = bits[index]
        self._changes(states, ids, chunk.first_sample_id, None)

    def _feed_analog(self, chunk: TraceChunk, valid: np.ndarray | None) -> None:
        th = self.threshold
        if th.signal == "current":
            x = chunk.current_a
        elif th.signal == "voltage":
            x = chunk.voltage_array()
        else:
            x = chunk.power_w()
        finite = np.isfinite(x)
        if valid is not None or not finite.all():
            valid = finite if valid is None else valid & finite
            (index,) = np.nonzero(valid)
            if index.size == 0:
                return
            ids = index + chunk.first_sample_id
            x = x[index]
        else:
            ids = None
        x = np.asarray(x, dtype=np.float64)
        states = np.full(x.shape[0], -1, dtype=np.int8)
        states[x >= th.upper] = 1
        states[x <= th.lower] = 0
        if th.hysteresis > 0:  # in-band samples keep the previous level
            ext = np.concatenate(([np.int8(self.last_state)], states))
            fill = np.where(ext >= 0, np.arange(ext.shape[0]), 0)
            np.maximum.accumulate(fill, out=fill)
            states = ext[fill][1:]
        self._changes(states, ids, chunk.first_sample_id, x)

    def _changes(
        self, states: np.ndarray, ids: np.ndarray | None, first: int, x: np.ndarray | None
    ) -> None:
        """Record the level changes of ``states`` (at ``ids``, or consecutive from ``first``)."""
        n = states.shape[0]
        (change,) = np.nonzero(states[1:] != states[:-1])
        lo_ids = (first + change) if ids is None else ids[change]
        hi_ids = lo_ids + 1 if ids is None else ids[change + 1]
        rising = states[change + 1] == 1
        first_id = first if ids is None else int(ids[0])
        head = []
        if self.last_state >= 0 and int(states[0]) >= 0 and int(states[0]) != self.last_state:
            head = [(self.last_id, first_id, bool(states[0] == 1))]
        keep = states[change] >= 0  # a change out of "unknown" is the initial level, not an edge
        crossings, gaps = self._crossings(x, ids, first) if x is not None else (None, None)
        for lo, hi, up in head + list(
            zip(lo_ids[keep].tolist(), hi_ids[keep].tolist(), rising[keep].tolist(), strict=True)
        ):
            self._record(int(lo), int(hi), bool(up), crossings, gaps)
        last_state = int(states[n - 1])
        if last_state >= 0:
            self.last_state = last_state
        self.last_id = first + n - 1 if ids is None else int(ids[n - 1])
        if x is not None:
            self.last_value = float(x[n - 1])
            if gaps.size:
                self.last_gap = int(gaps[-1])
            if crossings is not None:
                for up in (True, False):
                    pos, lo = crossings[up]
                    if pos.size:
                        self.last_cross[up] = (float(pos[-1]), int(lo[-1]))

    def _record(self, lo: int, hi: int, up: bool, crossings, gaps: np.ndarray | None) -> None:
        if hi - lo > 1:
            self.unresolved.append(UnresolvedEdge(lo, hi, up))
            self.edges.append(Edge(float(hi), up, resolved=False))
            return
        if crossings is None:
            self.edges.append(Edge(lo + self.offset, up))
            return
        pos, los = crossings[up]
        k = int(np.searchsorted(los, hi, side="left")) - 1  # last crossing that starts before hi
        cross_pos, cross_lo = (float(pos[k]), int(los[k])) if k >= 0 else self.last_cross[up]
        j = int(np.searchsorted(gaps, hi, side="left")) - 1  # last gap opening before hi
        gap = int(gaps[j]) if j >= 0 else self.last_gap
        if cross_lo < 0 or gap > cross_lo:  # the level may have been crossed again in the gap
            self.unresolved.append(UnresolvedEdge(lo, hi, up))
            self.edges.append(Edge(float(hi), up, resolved=False))
            return
        self.edges.append(Edge(cross_pos, up))

    def _crossings(self, x: np.ndarray, ids: np.ndarray | None, first: int):
        """Interpolated crossings of the level between consecutive valid samples, by direction,
        and the ids of the valid samples followed by a gap (missing or NaN samples)."""
        level = self.threshold.level
        if ids is None:
            ids = np.arange(first, first + x.shape[0])
        if self.last_id is not None and math.isfinite(self.last_value):
            # The carried sample sits at its own id: the previous chunk may end in NaN samples.
            x = np.concatenate(([self.last_value], x))
            ids = np.concatenate(([self.last_id], ids))
        below = x < level
        consecutive = (ids[1:] - ids[:-1]) == 1
        (k,) = np.nonzero((below[:-1] != below[1:]) & consecutive)
        a, b = x[k], x[k + 1]
        pos = ids[k] + (level - a) / (b - a) + self.analog_offset
        up = below[k]
        crossings = {True: (pos[up], ids[k][up]), False: (pos[~up], ids[k][~up])}
        return crossings, ids[:-1][~consecutive]

    def result(self) -> tuple[list[Edge], list[UnresolvedEdge]]:
        return self.edges, self.unresolved
