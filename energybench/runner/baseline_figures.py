"""The idle baseline of each energy window and the energy above it, beside the MLPerf figure
(which stays the total between the edges).

Per window: the idle power in the quiet span after its end edge
(:func:`energybench.analysis.baseline.idle_baseline`) with its expanded uncertainty (the
span's scatter and the meter's accuracy at the idle current, in quadrature), and the energy
per inference above it, ``(E − P_idle·T)/N``, whose uncertainty adds the window's U and
T·U(P_idle) in quadrature (conservative: the meter's offset and gain errors are partly common
to both terms and would cancel in part). For the mode: the medians over the valid windows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from energybench.analysis.baseline import idle_baseline
from energybench.calibration.budget import (
    K,
    MeterBudget,
    median_expanded_uncertainty,
    window_budget,
)
from energybench.runner.measurer import Measured
from energybench.runner.results import (
    ENERGY_ABOVE_BASELINE,
    ENERGY_ABOVE_BASELINE_UNCERTAINTY,
    IDLE_BASELINE_POWER_UNCERTAINTY_W,
    IDLE_BASELINE_POWER_W,
    IDLE_BASELINE_UNKNOWN,
    WindowRecord,
)


def record_baseline(
    record: WindowRecord, measured: Measured, meter: MeterBudget, notes: list[str]
) -> None:
    """The idle baseline after the window and the energy per inference above it."""
    w, trace = measured.window, measured.trace
    if w is None or trace is None:
        return
    base = idle_baseline(trace, w.stop_position)
    record.idle_baseline_span_s = base.span_s
    if base.power_w is None or base.current_a is None:
        record.idle_baseline_unknown = base.unknown
        return
    budget = window_budget(
        meter,
        energy_j=base.power_w * base.span_s,
        duration_s=base.span_s,
        mean_current_a=base.current_a,
        mean_voltage_v=base.power_w / base.current_a if base.current_a else 0.0,
        current_range_a=measured.current_range_a,
        sample_rate_hz=trace.sample_rate_hz,
        notes=notes,
    )
    meter_u = K * math.hypot(budget.current_j, budget.voltage_j, budget.timebase_j) / base.span_s
    # a meter figure unknown: so is this U (never the scatter alone)
    power_u = (
        math.nan if budget.unknown else math.hypot(K * (base.power_standard_w or 0.0), meter_u)
    )
    record.idle_baseline_power_w = base.power_w
    record.idle_baseline_power_uncertainty_w = power_u if math.isfinite(power_u) else None
    n = record.inferences or 1
    above = base.energy_above_j(w.energy_j, w.duration_s)
    if above is None:
        return
    record.energy_above_baseline_per_inference_j = above / n
    window_u = record.energy_uncertainty_j
    if window_u is None or not math.isfinite(power_u):
        return  # unknown (the window's or the idle power's U is)
    record.energy_above_baseline_per_inference_uncertainty_j = (
        math.hypot(window_u, w.duration_s * power_u) / n
    )


def baseline_figures(valid: Sequence[WindowRecord]) -> dict[str, Any]:
    """The mode's idle baseline (median over the valid windows) and the median energy per
    inference above it with U (k=2); unknown, with the reasons, if any window has none."""
    if not valid:
        return {}
    missing = [w for w in valid if w.energy_above_baseline_per_inference_j is None]
    if missing:
        reasons = sorted({w.idle_baseline_unknown or "not measured" for w in missing})
        return {
            IDLE_BASELINE_POWER_W: None,
            IDLE_BASELINE_UNKNOWN: f"{len(missing)} of {len(valid)} window(s): "
            + "; ".join(reasons),
        }
    above = [_f(w.energy_above_baseline_per_inference_j) for w in valid]
    power = [_f(w.idle_baseline_power_w) for w in valid]
    return {
        IDLE_BASELINE_POWER_W: statistics.median(power),
        IDLE_BASELINE_POWER_UNCERTAINTY_W: median_expanded_uncertainty(
            power, [_f(w.idle_baseline_power_uncertainty_w) / K for w in valid]
        ),
        ENERGY_ABOVE_BASELINE: statistics.median(above),
        ENERGY_ABOVE_BASELINE_UNCERTAINTY: median_expanded_uncertainty(
            above, [_f(w.energy_above_baseline_per_inference_uncertainty_j) / K for w in valid]
        ),
        "idle_baseline_span_s": min(_f(w.idle_baseline_span_s) for w in valid),
    }


def _f(value: float | None) -> float:
    return math.nan if value is None else value
