"""The figures of an energy mode: one window attempt's record from what the meter measured
(energy, power, latency, missing samples, minimum duration, the expanded uncertainty of its
energy from the budget, its plot), and the summary of the valid windows (median per inference
with its expanded uncertainty), which a window plan then names."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energybench.analysis.window_steps import window_steps
from energybench.calibration.budget import (
    MeterBudget,
    WindowBudget,
    latency_uncertainty_s,
    median_expanded_uncertainty,
    uncertainty_components,
    uncertainty_status,
    window_budget,
)
from energybench.calibration.correction import Correction
from energybench.runner.context import RunOptions
from energybench.runner.measurer import Measured
from energybench.runner.mlc_format import EnergyWindow
from energybench.runner.plots import plot_window
from energybench.runner.results import WindowRecord


def record_window(record: WindowRecord, measured: Measured, options: RunOptions) -> None:
    """The meter's figures of one attempt into its record, and what makes it invalid."""
    for problem in measured.problems:
        record.invalidate(problem)
    record.edge_source = measured.edge_source
    record.raw_file = measured.raw_file
    if measured.interval_ids is not None:
        record.interval_ids = list(measured.interval_ids)
    w = measured.window
    if w is None:
        if record.valid:
            record.invalidate("no window was measured")
        return
    record.start_position, record.stop_position = w.start_position, w.stop_position
    record.duration_s = w.duration_s
    record.energy_j = w.energy_j
    record.energy_per_inference_j = w.energy_per_inference_j
    record.mean_power_w = w.mean_power_w
    record.mean_current_a = w.mean_current_a
    record.latency_s = w.latency_s
    record.missing_samples = w.missing_samples
    record.start_s = measured.start_s
    record.stop_s = (measured.start_s or 0.0) + w.duration_s
    if w.missing_samples > options.max_dropped_samples:
        record.invalidate(f"{w.missing_samples} samples missing in the window")
    if w.duration_s < options.min_window_s:
        record.invalidate(f"window lasted {w.duration_s:.3f} s < {options.min_window_s:g} s")


def record_uncertainty(
    record: WindowRecord,
    measured: Measured,
    meter: MeterBudget,
    notes: list[str],
    correction: Correction | None = None,
) -> WindowBudget | None:
    """The expanded uncertainty (k=2) of the window energy into the record (None when a figure
    it needs is unknown); its budget, None when no window was measured."""
    w, trace = measured.window, measured.trace
    if w is None or trace is None:
        return None
    steps = window_steps(trace, w.start_position, w.stop_position)
    point = trace.sample_kind == "point"
    budget = window_budget(
        meter,
        energy_j=w.energy_j,
        duration_s=w.duration_s,
        mean_current_a=w.mean_current_a,
        mean_voltage_v=w.mean_power_w / w.mean_current_a if w.mean_current_a else 0.0,
        current_range_a=measured.current_range_a,
        sample_rate_hz=trace.sample_rate_hz,
        notes=notes,
        sample_kind=trace.sample_kind,
        edge_power_step_w=steps.edge_step_w,
        sampling_j=steps.sampling_standard_j(trace.sample_rate_hz) if point else 0.0,
        correction=correction,
    )
    if measured.ranges is not None:  # the settling samples' energy rests on no measurement
        budget.range_switch_j = measured.ranges.range_switch_energy_j / math.sqrt(3)
    record.energy_uncertainty_j = None if budget.unknown else budget.expanded_j
    return budget


def record_ranges(record: WindowRecord, measured: Measured) -> None:
    """The current ranges inside the window (a stream's), into its record."""
    use = measured.ranges
    if use is None:
        return
    record.current_ranges_used_a = list(use.current_ranges_used_a)
    record.range_switches = use.range_switches
    record.range_switch_samples = use.range_switch_samples
    record.range_switch_energy_j = use.range_switch_energy_j


def budget_terms(budget: WindowBudget, meter: MeterBudget) -> dict[str, Any]:
    """A window budget's terms (J) as results.json lists them."""
    return {**budget.terms(), "profile": meter.source}


def window_latency_standard_s(
    record: WindowRecord, measured: Measured, meter: MeterBudget
) -> float | None:
    """Standard uncertainty of the window's latency (None: unknown timebase, or no window)."""
    trace = measured.trace
    if trace is None or record.latency_s is None or not record.inferences:
        return None
    return latency_uncertainty_s(
        meter,
        latency_s=record.latency_s,
        inferences=record.inferences,
        sample_rate_hz=trace.sample_rate_hz,
        sample_kind=trace.sample_kind,
    )


def record_plot(record: WindowRecord, measured: Measured, path: Path, title: str) -> None:
    """A PNG of the window (its verdict in the title) beside the results."""
    trace, w = measured.trace, measured.window
    if trace is None or trace.n_samples <= 1:
        return
    verdict = "valid" if record.valid else "INVALID"
    png = plot_window(
        path,
        trace,
        w.start_position if w else None,
        w.stop_position if w else None,
        f"{title} — {verdict}",
    )
    record.plot = png.name if png else None


@dataclass(frozen=True)
class WindowSetup:
    """What a window's uncertainty rests on: its budget, the current range in use (None: the
    widest) and the calibration record applied (None: none)."""

    budget: WindowBudget
    current_range_a: float | None
    calibration_id: str | None
    latency_standard_s: float | None = None  # None: the meter's timebase is unknown


@dataclass(frozen=True)
class EnergySummary:
    """The valid windows' energy figures, before a window plan names them."""

    windows: tuple[WindowRecord, ...]
    per_inference_j: tuple[float, ...]  # per window
    median_per_inference_j: float
    uncertainty_j: float  # expanded (k=2), of the median per inference; NaN: unknown
    components: dict[str, float | int]  # its standard terms kept apart (compare needs them)
    mean_power_w: float  # median over the windows
    latency_s: float  # median over the windows
    uncertainty_status: str = "known"  # or "unknown: <entry> in <file>"
    latency_uncertainty_s: float = math.nan  # expanded (k=2); NaN: unknown

    def results_windows(self) -> list[EnergyWindow]:
        """The windows as results.txt lists them."""
        return [
            EnergyWindow(_f(w.duration_s), w.inferences, _f(w.energy_j), w.energy_uncertainty_j)
            for w in self.windows
        ]


def summarize(
    valid: Sequence[WindowRecord],
    budgets: Sequence[WindowBudget],
    latency_standard_s: Sequence[float | None] = (),
) -> EnergySummary | None:
    """Median figures of the valid windows (``budgets``: theirs, in order); the uncertainty
    combines their budgets (per inference) with the spread of the windows; likewise the
    latency's from each window's ``latency_standard_s`` (None: unknown timebase)."""
    if not valid:
        return None
    per_inf = tuple(_f(w.energy_per_inference_j) for w in valid)
    n = [w.inferences for w in valid]
    latencies = [_f(w.latency_s) for w in valid]
    latency_u = math.nan
    if latency_standard_s and all(u is not None for u in latency_standard_s):
        latency_u = median_expanded_uncertainty(latencies, [u or 0.0 for u in latency_standard_s])
    return EnergySummary(
        windows=tuple(valid),
        per_inference_j=per_inf,
        median_per_inference_j=statistics.median(per_inf),
        uncertainty_j=median_expanded_uncertainty(
            list(per_inf), [b.standard_j / k for b, k in zip(budgets, n, strict=True)]
        ),
        components=uncertainty_components(
            list(per_inf),
            [b.systematic_j / k for b, k in zip(budgets, n, strict=True)],
            [b.random_j / k for b, k in zip(budgets, n, strict=True)],
        ),
        mean_power_w=statistics.median(_f(w.mean_power_w) for w in valid),
        latency_s=statistics.median(latencies),
        uncertainty_status=uncertainty_status(budgets),
        latency_uncertainty_s=latency_u,
    )


def _f(value: float | None) -> float:
    """A figure every valid window has (NaN if one ever did not)."""
    return math.nan if value is None else value
