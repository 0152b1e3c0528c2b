"""The analysis pipeline: edges → windows → integrals → statistics, as one report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from energybench.analysis.edges import AnalogThreshold, EdgeScan, Polarity, scan_edges
from energybench.analysis.integrate import (
    Baseline,
    ChunkSums,
    WindowResult,
    integrate_windows,
    measure_baseline,
)
from energybench.analysis.stats import DEFAULT_RESAMPLES, Summary, nan_to_none, summarize
from energybench.analysis.trace import DEFAULT_CHUNK_SAMPLES, Trace
from energybench.analysis.windows import Window, pair_edges, pair_edges_in_intervals
from energybench.errors import AnalysisError


@dataclass(frozen=True, eq=False)
class AnalysisReport:
    """Per-window results and the statistics across them."""

    windows: tuple[WindowResult, ...]
    energy_j: Summary | None
    energy_per_inference_j: Summary | None
    latency_s: Summary | None
    sample_rate_hz: float
    sample_kind: str
    n_samples: int
    missing_samples: int
    edges: EdgeScan | None = None
    baseline: Baseline | None = None

    @property
    def median_energy_per_inference_j(self) -> float | None:
        s = self.energy_per_inference_j
        return s.median if s is not None else None

    def to_dict(self) -> dict:
        """Plain JSON-ready data: per-window results, then the summary statistics."""
        out: dict = {
            "windows": [nan_to_none(w.to_dict()) for w in self.windows],
            "median_energy_per_inference_j": self.median_energy_per_inference_j,
            "energy_per_inference_j": _summary(self.energy_per_inference_j),
            "energy_j": _summary(self.energy_j),
            "latency_s": _summary(self.latency_s),
            "trace": {
                "sample_rate_hz": self.sample_rate_hz,
                "sample_kind": self.sample_kind,
                "n_samples": self.n_samples,
                "duration_s": self.n_samples / self.sample_rate_hz,
                "missing_samples": self.missing_samples,
            },
        }
        if self.edges is not None:
            out["edges"] = {
                "source": self.edges.source,
                "polarity": self.edges.polarity,
                "count": self.edges.count,
                "times_s": [float(t) for t in self.edges.times_s()],
                "glitches_dropped": self.edges.glitch_count,
                "min_pulse_s": self.edges.min_pulse_s,
            }
        if self.baseline is not None:
            out["baseline"] = {
                "power_w": self.baseline.power_w,
                "current_a": self.baseline.current_a,
                "duration_s": self.baseline.duration_s,
                "intervals_s": [list(iv) for iv in self.baseline.intervals_s],
            }
        return out


def _summary(s: Summary | None) -> dict | None:
    return s.to_dict() if s is not None else None


def summaries(
    results: Sequence[WindowResult], *, seed: int = 0, n_resamples: int = DEFAULT_RESAMPLES
) -> dict[str, Summary | None]:
    """Statistics of window energy, energy per inference and latency over ``results``."""
    stats = {"seed": seed, "n_resamples": n_resamples}
    per_inf = [r.energy_per_inference_j for r in results if r.energy_per_inference_j is not None]
    latency = [r.latency_s for r in results if r.latency_s is not None]
    return {
        "energy_j": summarize([r.energy_j for r in results], **stats) if results else None,
        "energy_per_inference_j": summarize(per_inf, **stats) if per_inf else None,
        "latency_s": summarize(latency, **stats) if latency else None,
    }


def analyze_windows(
    trace: Trace,
    windows: Sequence[Window],
    *,
    allow_missing: bool = False,
    baseline_intervals_s: Sequence[tuple[float, float]] | None = None,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
    edges: EdgeScan | None = None,
    chunk_sums: ChunkSums | None = None,
) -> AnalysisReport:
    """Integrate given windows and summarise them (windows known from elsewhere)."""
    if not windows:
        raise AnalysisError("no windows to analyse")
    baseline = None
    if baseline_intervals_s:
        baseline = measure_baseline(
            trace, baseline_intervals_s, allow_missing=allow_missing, chunk_samples=chunk_samples
        )
    results = integrate_windows(
        trace,
        windows,
        allow_missing=allow_missing,
        baseline=baseline,
        chunk_samples=chunk_samples,
        chunk_sums=chunk_sums,
    )
    return AnalysisReport(
        windows=results,
        **summaries(results, seed=seed, n_resamples=n_resamples),
        sample_rate_hz=trace.sample_rate_hz,
        sample_kind=trace.sample_kind,
        n_samples=trace.n_samples,
        missing_samples=trace.missing_count,
        edges=edges,
        baseline=baseline,
    )


def analyze_trace(
    trace: Trace,
    *,
    sync_line: str | None = None,
    polarity: Polarity = "falling",
    inferences: int | Sequence[int] = 0,
    expected_windows: int | None = None,
    skip_leading_edges: int = 0,
    min_pulse_s: float = 0.0,
    threshold: AnalogThreshold | None = None,
    intervals_s: Sequence[tuple[float, float]] | None = None,
    allow_missing: bool = False,
    baseline_intervals_s: Sequence[tuple[float, float]] | None = None,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
    drop_unpaired_last: bool = False,
) -> AnalysisReport:
    """Find the timestamp edges, pair them into windows and integrate them.

    The edges come from ``sync_line`` (default: the trace's only digital line) or from an
    analog ``threshold``. With ``intervals_s`` each interval must hold exactly two edges;
    otherwise consecutive edges pair up after ``skip_leading_edges``.
    """
    if sync_line is None and threshold is None:
        if len(trace.digital_names) != 1:
            raise AnalysisError(
                "name the timestamp line: the trace has digital lines "
                f"[{', '.join(trace.digital_names) or 'none'}]",
                context="sync_line",
            )
        sync_line = trace.digital_names[0]
    sums = ChunkSums(trace, chunk_samples)  # the scan's pass also sums the chunks it reads
    scan = scan_edges(
        sums.observe(),
        line=sync_line,
        threshold=threshold,
        polarity=polarity,
        min_pulse_s=min_pulse_s,
        chunk_samples=chunk_samples,
    )
    if intervals_s is not None:
        if skip_leading_edges or expected_windows is not None:
            raise AnalysisError(
                "intervals_s already fixes the windows; do not combine it with "
                "skip_leading_edges or expected_windows"
            )
        windows = pair_edges_in_intervals(scan, intervals_s, inferences=inferences)
    else:
        windows = pair_edges(
            scan,
            skip_leading_edges=skip_leading_edges,
            expected_windows=expected_windows,
            inferences=inferences,
            drop_unpaired_last=drop_unpaired_last,
        )
    return analyze_windows(
        trace,
        windows,
        allow_missing=allow_missing,
        baseline_intervals_s=baseline_intervals_s,
        seed=seed,
        n_resamples=n_resamples,
        chunk_samples=chunk_samples,
        edges=scan,
        chunk_sums=sums,
    )
