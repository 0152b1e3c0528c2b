"""The uncertainty of re-analysed windows (``energybench analyze``): the meter's profile found
from the recording (the identity energybench writes into its files, or the file's instrument
name), the figures the run's bench file stated (recorded beside the identity), and each
window's budget as a run computes it (:func:`~energybench.calibration.budget.window_budget`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from energybench.analysis.trace import Trace
from energybench.analysis.window_steps import window_steps
from energybench.calibration.budget import (
    KNOWN,
    MeterBudget,
    median_expanded_uncertainty,
    uncertainty_status,
    window_budget,
)
from energybench.calibration.correction import Correction
from energybench.calibration.meter_figures import MeterFigures
from energybench.errors import ConfigError, EnergybenchError
from energybench.instruments.profiles import profile_for_trace


@dataclass
class TraceUncertainty:
    """Per-window expanded uncertainties (None: unknown) and the median's, with the status."""

    meter: str | None  # the profile file (None: no instrument known)
    windows_j: list[float | None] = field(default_factory=list)
    median_per_inference_j: float | None = None
    status: str = KNOWN
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uncertainty_profile": self.meter,
            "uncertainty_status": self.status,
            "energy_per_inference_uncertainty_j": self.median_per_inference_j,
            "window_energy_uncertainty_j": list(self.windows_j),
            "uncertainty_notes": list(self.notes),
        }


def meter_budget_for_trace(trace: Trace) -> MeterBudget | None:
    """The budget source of the meter that recorded ``trace``; None when no profile matches
    and the recording states no figures."""
    run = trace.metadata.get("run") if trace.metadata else None
    stated = run.get("meter_accuracy") if isinstance(run, Mapping) else None
    figures = None
    if isinstance(stated, Mapping):
        try:
            figures = MeterFigures.from_table(stated, "recording: meter_accuracy")
        except ConfigError:
            figures = None
    profile = profile_for_trace(trace)
    if profile is None and figures is None:
        return None
    return MeterBudget(profile, figures)


def trace_uncertainty(
    traces: Sequence[Trace],
    rows: Sequence[Mapping[str, Any]],
    *,
    correction: Correction | None = None,
    current_range_a: float | None = None,
) -> TraceUncertainty:
    """The budget of every row (a window of ``analyze``) from the trace(s) it was read from:
    one trace holds every window, or one capture per window (in order); ``correction``: the
    calibration the re-analysis applied (on ``current_range_a``; None: the widest range)."""
    if not traces:
        return TraceUncertainty(None, status="unknown: no recording read")
    meter = meter_budget_for_trace(traces[0])
    if meter is None:
        instrument = traces[0].source.instrument or "not named in the file"
        return TraceUncertainty(
            None,
            [None] * len(rows),
            status=f"unknown: no instrument profile matches the recording's meter ({instrument})",
        )
    out = TraceUncertainty(meter.source)
    budgets, per_inference, standard = [], [], []
    for k, row in enumerate(rows):
        trace = traces[k] if len(traces) == len(rows) else traces[0]
        budget = _row_budget(meter, trace, row, out.notes, correction, current_range_a)
        if budget is None:
            out.windows_j.append(None)
            continue
        budgets.append(budget)
        out.windows_j.append(None if budget.unknown else budget.expanded_j)
        n = row.get("inferences") or 0
        if n and row.get("energy_per_inference_j") is not None:
            per_inference.append(float(row["energy_per_inference_j"]))
            standard.append(budget.standard_j / n)
    out.status = uncertainty_status(budgets)
    if per_inference and out.status == KNOWN:
        u = median_expanded_uncertainty(per_inference, standard)
        out.median_per_inference_j = None if math.isnan(u) else u
    return out


def _row_budget(
    meter: MeterBudget,
    trace: Trace,
    row: Mapping[str, Any],
    notes: list[str],
    correction: Correction | None,
    current_range_a: float | None,
):
    energy, duration = row.get("energy_j"), row.get("duration_s")
    current, power = row.get("mean_current_a"), row.get("mean_power_w")
    if None in (energy, duration, current, power) or not duration:
        return None
    start, stop = row.get("start_position"), row.get("stop_position")
    step, sampling = None, 0.0
    if start is not None and stop is not None:
        try:
            steps = window_steps(trace, float(start), float(stop))
        except EnergybenchError:  # a window outside this trace: the mean power stands
            steps = None
        if steps is not None:
            step = steps.edge_step_w
            if trace.sample_kind == "point":
                sampling = steps.sampling_standard_j(trace.sample_rate_hz)
    return window_budget(
        meter,
        energy_j=float(energy),
        duration_s=float(duration),
        mean_current_a=float(current),
        mean_voltage_v=float(power) / float(current) if current else 0.0,
        current_range_a=current_range_a,
        sample_rate_hz=trace.sample_rate_hz,
        notes=notes,
        sample_kind=trace.sample_kind,
        edge_power_step_w=step,
        sampling_j=sampling,
        correction=correction,
    )
