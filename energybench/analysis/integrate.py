"""Window energy: ∫ v·i dt at the native sample rate in float64, chunk by chunk.

Each window ``[a, b)`` in fractional sample positions becomes a run of whole samples summed
with weight 1 plus a few weighted end samples, so one pass over the chunks serves windows of
any length:
- point samples (instantaneous values): the trapezoid rule on the whole samples inside
  ``[ceil(a), floor(b)]`` (identical to ``scipy.integrate.trapezoid``) plus the partial end
  segments under linear interpolation;
- bin samples (averages over ``[k, k+1)``): rectangle sums with the two fractional bins
  weighted by their overlap.
Products are formed per block after a float32 → float64 conversion and reduced with ``np.dot``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from energybench.analysis.trace import DEFAULT_CHUNK_SAMPLES, Trace, TraceChunk
from energybench.analysis.windows import Window
from energybench.errors import AnalysisError, ImplausibleDataError, MissingSamplesError

BLOCK_SAMPLES = 1 << 16  # per-block working set stays in the CPU cache


@dataclass(frozen=True)
class Baseline:
    """Idle power measured over given intervals (seconds after the trace's first sample)."""

    power_w: float
    current_a: float
    duration_s: float
    intervals_s: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class WindowResult:
    """The integral over one window and what derives from it (SI units)."""

    index: int
    start_position: float
    stop_position: float
    start_s: float
    duration_s: float
    inferences: int
    energy_j: float
    charge_c: float
    mean_power_w: float
    mean_current_a: float
    energy_per_inference_j: float | None
    latency_s: float | None
    missing_samples: int = 0
    incomplete: bool = False
    baseline_power_w: float | None = None
    energy_above_baseline_j: float | None = None
    energy_per_inference_above_baseline_j: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Plan:
    """Weights of one window: whole samples ``[run_start, run_stop)`` plus ``(id, weight)``."""

    window: Window
    run_start: int
    run_stop: int
    ends: list[tuple[int, float]]
    power_sum: float = 0.0
    current_sum: float = 0.0

    @property
    def first_id(self) -> int:
        return min([self.run_start] + [k for k, _ in self.ends])

    @property
    def stop_id(self) -> int:
        return max([self.run_stop] + [k + 1 for k, _ in self.ends])


def _plan(window: Window, kind: str) -> _Plan:
    a, b = window.start_position, window.stop_position
    if kind == "bin":
        fa, fb = math.floor(a), math.floor(b)
        if fa == fb:
            return _Plan(window, fa, fa, [(fa, b - a)])
        ends = [(fa, math.ceil(a) - a)] if a != fa else []
        if b != fb:
            ends.append((fb, b - fb))
        return _Plan(window, math.ceil(a), fb, ends)
    k0, k1 = math.ceil(a), math.floor(b)
    if k0 > k1:  # both ends between the same two samples
        j = k1
        u, w = a - j, b - j
        half = (b - a) / 2
        return _Plan(window, j, j, [(j, half * (2 - u - w)), (j + 1, half * (u + w))])
    ends = [(k0, -0.5), (k1, -0.5)]
    fa, fb = k0 - a, b - k1
    if fa > 0:
        ends += [(k0 - 1, fa * fa / 2), (k0, fa * (2 - fa) / 2)]
    if fb > 0:
        ends += [(k1, fb * (2 - fb) / 2), (k1 + 1, fb * fb / 2)]
    return _Plan(window, k0, k1 + 1, ends)


def integrate_windows(
    trace: Trace,
    windows: Sequence[Window],
    *,
    allow_missing: bool = False,
    baseline: Baseline | None = None,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
    chunk_sums: ChunkSums | None = None,
) -> tuple[WindowResult, ...]:
    """Energy, charge, mean power and per-inference figures of each window.

    A window overlapping missing samples raises :class:`MissingSamplesError`; with
    ``allow_missing`` the observed samples are integrated (missing ones contribute nothing),
    the result is marked ``incomplete`` and the missing count reported. ``chunk_sums`` from an
    earlier pass over the same trace and chunk size spares re-reading whole inner chunks.
    """
    plans = [_plan(w, trace.sample_kind) for w in windows]
    missing_counts = []
    for p in plans:
        first, stop = p.first_id, p.stop_id
        if first < trace.first_sample_id or stop > trace.stop_sample_id:
            raise AnalysisError(
                f"window {p.window.index} [{trace.time_s(p.window.start_position):.6f}, "
                f"{trace.time_s(p.window.stop_position):.6f}] s needs samples "
                f"[{first}, {stop}) outside the trace [{trace.first_sample_id}, "
                f"{trace.stop_sample_id})"
            )
        gaps = trace.missing_in(first, stop)
        count = sum(min(g.stop_id, stop) - max(g.start_id, first) for g in gaps)
        if gaps and not allow_missing:
            spans = ", ".join(f"{trace.time_s(g.start_id):.6f}+{g.count}" for g in gaps[:5])
            raise MissingSamplesError(
                f"window {p.window.index} overlaps {count} missing sample(s) "
                f"(at s+count: {spans}); allowing missing samples integrates the rest, flagged",
                context=f"window {p.window.index}",
                remedy="allow_missing",
            )
        missing_counts.append(count)
    _accumulate(trace, plans, chunk_samples, allow_missing, chunk_sums)
    dt = 1.0 / trace.sample_rate_hz
    results = []
    for p, missing in zip(plans, missing_counts, strict=True):
        w = p.window
        duration = w.length_samples * dt
        energy, charge = p.power_sum * dt, p.current_sum * dt
        if math.isnan(energy) or math.isnan(charge):
            raise MissingSamplesError(
                f"window {w.index} contains NaN samples not listed as missing",
                context=f"window {w.index}",
            )
        if not (math.isfinite(energy) and math.isfinite(charge)):
            raise ImplausibleDataError(
                f"window {w.index}: the energy is infinite (infinite samples, or values too large "
                "to sum)",
                context=f"window {w.index}",
            )
        n = w.inferences
        extra = {}
        if baseline is not None:
            above = energy - baseline.power_w * duration
            extra = {
                "baseline_power_w": baseline.power_w,
                "energy_above_baseline_j": above,
                "energy_per_inference_above_baseline_j": above / n if n else None,
            }
        results.append(
            WindowResult(
                index=w.index,
                start_position=w.start_position,
                stop_position=w.stop_position,
                start_s=trace.time_s(w.start_position),
                duration_s=duration,
                inferences=n,
                energy_j=energy,
                charge_c=charge,
                mean_power_w=energy / duration,
                mean_current_a=charge / duration,
                energy_per_inference_j=energy / n if n else None,
                latency_s=duration / n if n else None,
                missing_samples=missing,
                incomplete=missing > 0,
                **extra,
            )
        )
    return tuple(results)


def measure_baseline(
    trace: Trace,
    intervals_s: Sequence[tuple[float, float]],
    *,
    allow_missing: bool = False,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
) -> Baseline:
    """Mean idle power and current over ``intervals_s`` (seconds after the first sample)."""
    if not intervals_s:
        raise AnalysisError("baseline needs at least one idle interval")
    windows = [
        Window(i, trace.sample_position(a), trace.sample_position(b))
        for i, (a, b) in enumerate(intervals_s)
    ]
    parts = integrate_windows(
        trace, windows, allow_missing=allow_missing, chunk_samples=chunk_samples
    )
    duration = sum(r.duration_s for r in parts)
    return Baseline(
        power_w=sum(r.energy_j for r in parts) / duration,
        current_a=sum(r.charge_c for r in parts) / duration,
        duration_s=duration,
        intervals_s=tuple((float(a), float(b)) for a, b in intervals_s),
    )


class ChunkSums:
    """Σ i·v and Σ i of the whole chunks an earlier pass read (the edge scan), so integration
    re-reads only the chunks that hold window ends: one pass over a file instead of two.

    Chunks are cached when they lie on the grid ``first_sample_id + m * chunk_samples``;
    use :meth:`observe` as the trace for the first pass.
    """

    def __init__(self, trace: Trace, chunk_samples: int = DEFAULT_CHUNK_SAMPLES) -> None:
        self.trace = trace
        self.chunk_samples = chunk_samples
        self.sums: dict[int, tuple[float, float]] = {}

    def observe(self) -> Trace:
        """The same trace; its reader records the sums of every whole grid chunk it returns."""
        inner, first, size = self.trace.reader, self.trace.first_sample_id, self.chunk_samples
        end = self.trace.stop_sample_id

        def reader(start_id: int, stop_id: int) -> TraceChunk:
            chunk = inner(start_id, stop_id)
            if (start_id - first) % size == 0 and stop_id == min(start_id + size, end):
                power, charge = _sums(chunk, False)
                if math.isfinite(power) and math.isfinite(charge):
                    self.sums[start_id] = (power, charge)
            return chunk

        return replace(self.trace, reader=reader)


def _accumulate(
    trace: Trace,
    plans: list[_Plan],
    chunk_samples: int,
    allow_missing: bool,
    cache: ChunkSums | None = None,
) -> None:
    """One pass over the grid chunks covering every window, adding each plan's weighted sums;
    a chunk wholly inside one window's run, with no end sample, comes from ``cache`` if there."""
    if not plans:
        return
    if cache is not None and (cache.trace is not trace or cache.chunk_samples != chunk_samples):
        cache = None
    first, end = trace.first_sample_id, trace.stop_sample_id
    spans = sorted((p.first_id, p.stop_id) for p in plans)
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    for a, b in merged:
        g0 = first + (a - first) // chunk_samples * chunk_samples
        for g in range(g0, b, chunk_samples):
            g1 = min(g + chunk_samples, end)
            lo, hi = max(a, g), min(b, g1)
            touching = [p for p in plans if p.first_id < g1 and g < p.stop_id]
            cached = cache.sums.get(g) if cache is not None and (lo, hi) == (g, g1) else None
            if cached is not None and all(
                p.run_start <= g and g1 <= p.run_stop and not any(g <= k < g1 for k, _ in p.ends)
                for p in touching
            ):
                for p in touching:
                    p.power_sum += cached[0]
                    p.current_sum += cached[1]
                continue
            _add_chunk(trace.read(lo, hi), touching, allow_missing)


def _add_chunk(chunk: TraceChunk, plans: list[_Plan], allow_missing: bool) -> None:
    c0, c1 = chunk.first_sample_id, chunk.stop_sample_id
    for p in plans:
        lo, hi = max(p.run_start, c0), min(p.run_stop, c1)
        if lo < hi:
            ps, cs = _sums(chunk.slice(lo, hi), allow_missing)
            p.power_sum += ps
            p.current_sum += cs
        for k, weight in p.ends:
            if c0 <= k < c1:
                i = float(chunk.current_a[k - c0])
                v = (
                    float(chunk.voltage_v[k - c0])
                    if isinstance(chunk.voltage_v, np.ndarray)
                    else chunk.voltage_v
                )
                if allow_missing and math.isnan(i * v):
                    continue
                p.power_sum += weight * i * v
                p.current_sum += weight * i


def _sums(chunk: TraceChunk, allow_missing: bool) -> tuple[float, float]:
    """Σ i·v and Σ i over a chunk in float64, block by block (a non-finite sum is returned as
    it is, without numpy's overflow warning: the callers check it).

    ``np.einsum(..., dtype=float64)`` multiplies float32 samples exactly in float64 without a
    converted copy and without BLAS (whose thread start-up dominates ``np.dot`` on busy hosts).
    """
    current = chunk.current_a
    voltage = chunk.voltage_v
    constant_v = not isinstance(voltage, np.ndarray)
    power = charge = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for a in range(0, chunk.n_samples, BLOCK_SAMPLES):
            i = current[a : a + BLOCK_SAMPLES]
            v = voltage if constant_v else voltage[a : a + BLOCK_SAMPLES]
            if allow_missing:  # missing samples contribute nothing
                i = np.nan_to_num(i.astype(np.float64), nan=0.0)
                if not constant_v:
                    v = v.astype(np.float64)
                    v[np.isnan(v)] = 0.0
            s = float(i.sum(dtype=np.float64))
            charge += s
            if constant_v:
                power += voltage * s
            else:
                power += float(np.einsum("i,i->", i, v, dtype=np.float64))
    return power, charge
