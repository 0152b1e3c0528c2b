"""Physical plausibility of a recording: samples an instrument could not have measured.

A :class:`SampleCheck` wraps a trace's reader and looks at every chunk the analysis reads (no
extra pass): a current or voltage beyond the :class:`Bounds` (the source instrument's widest
range times an over-range allowance, or generic bounds when the instrument is unknown), an
infinite value, or a negative current where the source only measures energy drawn (a runner's
energy bins). NaN samples are not findings: they are missing samples, listed and handled as
such. :func:`window_findings` checks the results: a negative or non-finite window energy.

What happens to findings (an error, or flagged when the user allows them) is the caller's
decision; each finding names the first offending sample and how many there are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from energybench.analysis.integrate import WindowResult
from energybench.analysis.trace import SampleRange, Trace, TraceChunk, true_ranges

# No instrument energybench knows of measures beyond these (the widest profiles: Keithley 2461,
# 10 A pulsed; Keithley 2450, 210 V): bounds for recordings whose instrument is unknown.
GENERIC_MAX_CURRENT_A = 100.0
GENERIC_MAX_VOLTAGE_V = 1000.0
# Instruments read somewhat beyond their nominal range before reporting overflow (e.g. the
# Keithley SMUs' 105 % ranges); 1.2 keeps every reading a working instrument returns.
OVER_RANGE_FACTOR = 1.2


@dataclass(frozen=True)
class Bounds:
    """What the source could have measured: ``min_current_a <= i <= max_current_a``,
    ``|v| <= max_voltage_v``; ``source`` says where the figures come from."""

    max_current_a: float
    max_voltage_v: float
    min_current_a: float
    source: str

    @classmethod
    def generic(cls, *, unipolar: bool = False, why: str = "instrument unknown") -> Bounds:
        return cls(
            GENERIC_MAX_CURRENT_A,
            GENERIC_MAX_VOLTAGE_V,
            0.0 if unipolar else -GENERIC_MAX_CURRENT_A,
            f"generic bounds ({why}): current {'0' if unipolar else '±'}"
            f"{'..' if unipolar else ''}{GENERIC_MAX_CURRENT_A:g} A, voltage "
            f"±{GENERIC_MAX_VOLTAGE_V:g} V",
        )

    def describe(self) -> str:
        return self.source


@dataclass
class Finding:
    """One kind of implausible value: the first occurrence and how many there are."""

    what: str  # "current above the bounds", "infinite voltage", "negative window energy", ...
    value: float
    limit: str
    sample_id: int | None = None
    time_s: float | None = None
    window: int | None = None
    count: int = 1

    def describe(self) -> str:
        where = []
        if self.sample_id is not None:
            where.append(f"sample {self.sample_id} (t = {self.time_s:.6f} s)")
        if self.window is not None:
            where.append(f"window {self.window}")
        more = f"; {self.count} such value(s) in all" if self.count > 1 else ""
        return f"{self.what}: {self.value:.6g} at {', '.join(where) or '?'} ({self.limit}){more}"

    def to_dict(self) -> dict:
        return {
            "what": self.what,
            "value": self.value if math.isfinite(self.value) else str(self.value),
            "limit": self.limit,
            "sample_id": self.sample_id,
            "time_s": self.time_s,
            "window": self.window,
            "count": self.count,
        }


@dataclass
class SampleCheck:
    """Checks every chunk read through :meth:`observe`; findings accumulate in ``findings``
    (first occurrence of each kind, with counts) and the infinite samples in ``infinite``."""

    trace: Trace
    bounds: Bounds
    findings: dict[str, Finding] = field(default_factory=dict)
    infinite: list[SampleRange] = field(default_factory=list)
    _covered: list[SampleRange] = field(default_factory=list)  # checked already, merged

    def observe(self) -> Trace:
        """The same trace; every sample its reader returns is checked once (a sample read
        again, e.g. a window end after the edge scan, is not counted twice)."""
        inner = self.trace.reader

        def reader(start_id: int, stop_id: int) -> TraceChunk:
            chunk = inner(start_id, stop_id)
            for a, b in self._uncovered(start_id, stop_id):
                self.check(chunk if (a, b) == (start_id, stop_id) else chunk.slice(a, b))
            self._covered = list(_merge([*self._covered, SampleRange(start_id, stop_id)]))
            return chunk

        return replace(self.trace, reader=reader)

    def _uncovered(self, start_id: int, stop_id: int) -> list[tuple[int, int]]:
        out, at = [], start_id
        for r in self._covered:
            if r.stop_id <= at or r.start_id >= stop_id:
                continue
            if r.start_id > at:
                out.append((at, r.start_id))
            at = max(at, r.stop_id)
        if at < stop_id:
            out.append((at, stop_id))
        return out

    def check(self, chunk: TraceChunk) -> None:
        """Check one chunk: two reductions per signal when it is within the bounds (the common
        case), the element-wise masks only when it is not."""
        b = self.bounds
        current, voltage = chunk.current_a, chunk.voltage_v
        if not isinstance(voltage, np.ndarray):
            voltage = np.full(1, float(voltage))
        if _within(current, b.min_current_a, b.max_current_a) and _within(
            voltage, -b.max_voltage_v, b.max_voltage_v
        ):
            return  # NaN (missing) samples take the slow path: they are no finding there
        current = np.asarray(current, dtype=np.float64)
        voltage = np.asarray(voltage, dtype=np.float64)
        self._flag(chunk, np.isinf(current), current, "infinite current", "no instrument")
        finite = np.where(np.isfinite(current), current, 0.0)
        limit = f"at most {b.max_current_a:g} A: {b.source}"
        self._flag(chunk, finite > b.max_current_a, current, "current above the bounds", limit)
        below = "negative current (energy bin)" if b.min_current_a == 0 else "current below"
        limit = f"at least {b.min_current_a:g} A: {b.source}"
        self._flag(chunk, finite < b.min_current_a, current, below, limit)
        self._flag(chunk, np.isinf(voltage), voltage, "infinite voltage", "no instrument")
        finite_v = np.where(np.isfinite(voltage), voltage, 0.0)
        limit = f"at most ±{b.max_voltage_v:g} V: {b.source}"
        self._flag(chunk, np.abs(finite_v) > b.max_voltage_v, voltage, "voltage beyond the bounds",
                   limit)  # fmt: skip
        bad = np.isinf(current)
        if voltage.shape == current.shape:
            bad |= np.isinf(voltage)
        elif voltage.size and math.isinf(voltage[0]):
            bad[:] = True
        self.infinite.extend(true_ranges(bad, chunk.first_sample_id))

    def _flag(
        self, chunk: TraceChunk, mask: np.ndarray, values: np.ndarray, what: str, limit: str
    ) -> None:
        hits = np.flatnonzero(mask)
        if not hits.size:
            return
        k = int(hits[0])
        found = self.findings.get(what)
        if found is None:
            sample = chunk.first_sample_id + k
            self.findings[what] = Finding(
                what, float(values[k]), limit, sample, self.trace.time_s(sample), count=hits.size
            )
        else:
            found.count += int(hits.size)
            if chunk.first_sample_id + k < (found.sample_id or 0):  # chunks read out of order
                found.sample_id = chunk.first_sample_id + k
                found.value = float(values[k])
                found.time_s = self.trace.time_s(found.sample_id)

    def place(self, windows: Sequence[tuple[int, float, float]]) -> None:
        """Name the window (index, start, stop position) each first finding falls in."""
        for f in self.findings.values():
            for index, start, stop in windows:
                if f.sample_id is not None and start - 1 <= f.sample_id < stop + 1:
                    f.window = index
                    break

    def with_infinite_as_missing(self) -> Trace:
        """The trace with its infinite samples read as NaN and listed as missing (they carry
        no measurement), for an analysis the user allows despite them."""
        if not self.infinite:
            return self.trace
        inner = self.trace.reader

        def reader(start_id: int, stop_id: int) -> TraceChunk:
            chunk = inner(start_id, stop_id)
            current = np.where(np.isinf(chunk.current_a), np.nan, chunk.current_a)
            voltage = chunk.voltage_v
            if isinstance(voltage, np.ndarray):
                voltage = np.where(np.isinf(voltage), np.nan, voltage)
                current = np.where(np.isnan(voltage), np.nan, current)
            return replace(chunk, current_a=current, voltage_v=voltage)

        merged = sorted({(r.start_id, r.stop_id) for r in self.infinite})
        missing = [*self.trace.missing, *(SampleRange(a, b) for a, b in merged)]
        return replace(self.trace, reader=reader, missing=_merge(missing))


def _within(values: np.ndarray, low: float, high: float) -> bool:
    """All values in [low, high] (False for NaN or infinite ones: min/max propagate them)."""
    if values.size == 0:
        return True
    lo, hi = float(values.min()), float(values.max())
    return math.isfinite(lo) and math.isfinite(hi) and low <= lo and hi <= high


def _merge(ranges: list[SampleRange]) -> tuple[SampleRange, ...]:
    out: list[SampleRange] = []
    for r in sorted(ranges, key=lambda r: r.start_id):
        if out and r.start_id <= out[-1].stop_id:
            out[-1] = SampleRange(out[-1].start_id, max(out[-1].stop_id, r.stop_id))
        else:
            out.append(r)
    return tuple(out)


def window_findings(results: Sequence[WindowResult]) -> list[Finding]:
    """Negative or non-finite window energies (a DUT drawing power gives neither)."""
    found: list[Finding] = []
    for r in results:
        if not math.isfinite(r.energy_j):
            found.append(Finding("non-finite window energy", r.energy_j, "finite", window=r.index))
        elif r.energy_j < 0:
            found.append(Finding("negative window energy", r.energy_j, ">= 0 J", window=r.index))
    return found
