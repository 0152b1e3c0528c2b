"""A min/max envelope of a trace for drawing: a fixed number of bins, whatever the length, so
hours of 2 MS/s data draw in seconds. JLS files give it from their summary levels without
reading the samples; any other trace is reduced chunk by chunk (memory O(chunk))."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energybench.analysis.trace import Trace

DEFAULT_BINS = 4000
CHUNK_SAMPLES = 1 << 22


@dataclass(frozen=True)
class Envelope:
    """Per bin: start time (s, on the trace's sample-id time base: sample id / rate), current
    min/mean/max (A) and each digital line's min/max (0/1). Bins of one sample are samples."""

    sample_rate_hz: float
    samples_per_bin: int
    time_s: np.ndarray
    current_min_a: np.ndarray
    current_mean_a: np.ndarray
    current_max_a: np.ndarray
    digital_min: dict[str, np.ndarray]
    digital_max: dict[str, np.ndarray]
    from_summaries: bool  # True: the file's summary levels (JLS), False: every sample read


def trace_envelope(trace: Trace, bins: int = DEFAULT_BINS) -> Envelope:
    """The envelope of ``trace`` in at most ``bins`` bins."""
    n = trace.n_samples
    per_bin = max(1, math.ceil(n / max(1, bins)))
    count = math.ceil(n / per_bin) if n else 0
    first = trace.first_sample_id
    times = (first + np.arange(count, dtype=np.float64) * per_bin) / trace.sample_rate_hz
    stats = getattr(trace.reader, "statistics", None)
    if stats is not None and per_bin > 1 and count > 1:
        tail = first + (count - 1) * per_bin  # the last bin may be short: read it on its own

        def summary(name: str) -> np.ndarray:
            body = stats(name, first, per_bin, count - 1)
            return np.vstack([body, stats(name, tail, trace.stop_sample_id - tail, 1)])

        cur = summary("current")
        dmin, dmax = {}, {}
        for name in trace.digital_names:
            d = summary(name)
            dmin[name], dmax[name] = d[:, 2] > 0.5, d[:, 3] > 0.5
        return Envelope(
            trace.sample_rate_hz, per_bin, times, cur[:, 2], cur[:, 0], cur[:, 3], dmin, dmax, True
        )
    return _reduce(trace, per_bin, count, times)


def _reduce(trace: Trace, per_bin: int, count: int, times: np.ndarray) -> Envelope:
    cmin = np.full(count, np.nan, dtype=np.float32)
    cmax = np.full(count, np.nan, dtype=np.float32)
    cmean = np.full(count, np.nan, dtype=np.float32)
    dmin = {k: np.zeros(count, dtype=bool) for k in trace.digital_names}
    dmax = {k: np.zeros(count, dtype=bool) for k in trace.digital_names}
    step = max(per_bin, (CHUNK_SAMPLES // per_bin) * per_bin)
    for chunk in trace.chunks(step):
        b0 = (chunk.first_sample_id - trace.first_sample_id) // per_bin
        starts = np.arange(0, chunk.n_samples, per_bin)
        b = slice(b0, b0 + starts.size)
        current = np.asarray(chunk.current_a, dtype=np.float32)
        finite = np.where(np.isfinite(current), current, np.nan)
        with np.errstate(invalid="ignore"):
            cmin[b] = np.fmin.reduceat(finite, starts)
            cmax[b] = np.fmax.reduceat(finite, starts)
            sums = np.add.reduceat(np.nan_to_num(finite), starts)
            counts = np.add.reduceat(np.isfinite(finite).astype(np.int64), starts)
            cmean[b] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        for name, bits in chunk.digital.items():
            bits = np.asarray(bits, dtype=bool)
            dmin[name][b] = np.logical_and.reduceat(bits, starts)
            dmax[name][b] = np.logical_or.reduceat(bits, starts)
    return Envelope(trace.sample_rate_hz, per_bin, times, cmin, cmean, cmax, dmin, dmax, False)


def edge_detail(trace: Trace, position: float, half_span_samples: int) -> tuple[np.ndarray, ...]:
    """The samples around a (fractional) sample position at the native rate: time (s, on the
    sample-id time base), current (A) and the digital lines (name order of the trace)."""
    start = max(trace.first_sample_id, math.floor(position) - half_span_samples)
    stop = min(trace.stop_sample_id, math.ceil(position) + half_span_samples)
    chunk = trace.read(start, stop)
    times = np.arange(start, stop, dtype=np.float64) / trace.sample_rate_hz
    lines = tuple(np.asarray(chunk.digital[k], dtype=np.int8) for k in trace.digital_names)
    return (times, np.asarray(chunk.current_a, dtype=np.float32), *lines)
