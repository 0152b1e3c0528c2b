"""The figures of several rails (docs/rails.md): each further rail's window figures with its
own uncertainty budget, and the run's per-rail and total energy per inference with U (k=2).

How the rails' uncertainties combine into the total's: per window, the systematic terms
(current, voltage, timebase) of rails measured by the same instrument are added linearly
(taken as fully correlated: one timebase, one calibration) and those of different instruments
in quadrature (independent); so are the edge-placement terms (the same instrument places the
same edges for all its rails; another meter places its own). The window-to-window scatter of
the total itself gives the statistical term of its median, as for one rail.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from energybench.calibration.budget import (
    MeterBudget,
    WindowBudget,
    median_expanded_uncertainty,
    window_budget,
)
from energybench.runner.bench import Bench
from energybench.runner.measurer import Measured
from energybench.runner.results import WindowRecord

COMBINATION = (
    "total = sum of the rails per window; systematic (current, voltage, timebase) and edge "
    "terms added linearly for rails on the same instrument (fully correlated), in quadrature "
    "across instruments (independent); the statistical term from the total's window scatter"
)
MLPERF_RAIL_WHY = (
    "the MLPerf Tiny rules name no rail; the official runner and the EEMBC EnergyRunner "
    "integrate the one supply their energy monitor gives the DUT, so the MLPerf figure "
    "(results.txt, median_energy_per_inference_j) is the rail the bench's [meter] measures; "
    "the other rails and the total are reported beside it (docs/rails.md)"
)


@dataclass(frozen=True)
class RailSource:
    """Which instrument measures a rail (rails sharing one are correlated) and its budget."""

    instrument: str  # "driver resource"
    budget: MeterBudget


def rail_sources(bench: Bench, main: MeterBudget, infos: dict[str, dict]) -> dict[str, RailSource]:
    """Every rail's instrument and budget, the bench meter's rail first."""
    meter = f"{bench.meter.driver} {bench.meter.resource}"
    sources = {bench.rail: RailSource(meter, main)}
    for rail in bench.rails:
        if rail.same_instrument:
            sources[rail.name] = RailSource(meter, main)
        else:
            own = MeterBudget.for_meter(rail.driver or "", infos.get(rail.name), rail.accuracy)
            sources[rail.name] = RailSource(f"{rail.driver} {rail.resource}", own)
    return sources


def record_rails(
    record: WindowRecord,
    measured: Measured,
    sources: dict[str, RailSource],
    notes: list[str],
) -> dict[str, WindowBudget]:
    """Each further rail's figures of this window into ``record.rails`` (a rail's problem makes
    the window invalid: the total needs every rail); their budgets."""
    budgets = {}
    for name, rail in measured.rails.items():
        for problem in rail.problems:
            if problem not in record.problems:
                record.invalidate(f"rail {name}: {problem}")
        w, trace = rail.window, rail.trace
        figures: dict[str, Any] = {"raw_file": rail.raw_file, "problems": list(rail.problems)}
        record.rails[name] = figures
        if w is None or trace is None:
            if not rail.problems:
                record.invalidate(f"rail {name}: no window was measured")
            continue
        budget = window_budget(
            sources[name].budget,
            energy_j=w.energy_j,
            duration_s=w.duration_s,
            mean_current_a=w.mean_current_a,
            mean_voltage_v=w.mean_power_w / w.mean_current_a if w.mean_current_a else 0.0,
            current_range_a=rail.current_range_a,
            sample_rate_hz=trace.sample_rate_hz,
            notes=notes,
        )
        budgets[name] = budget
        figures.update(
            energy_j=w.energy_j,
            energy_per_inference_j=w.energy_per_inference_j,
            energy_uncertainty_j=None if budget.unknown else budget.expanded_j,
            mean_power_w=w.mean_power_w,
            mean_current_a=w.mean_current_a,
            duration_s=w.duration_s,
            start_position=w.start_position,
            stop_position=w.stop_position,
            missing_samples=w.missing_samples,
            edge_source=rail.edge_source,
        )
    return budgets


def _rail_summary(values: list[float], standard: list[float], power: list[float]) -> dict:
    return {
        "energy_per_inference_j": statistics.median(values),
        "energy_per_inference_uncertainty_j": median_expanded_uncertainty(values, standard),
        "mean_power_w": statistics.median(power),
        "window_energy_per_inference_j": values,
    }


def rails_summary(
    valid: Sequence[WindowRecord],
    budgets: Sequence[dict[str, WindowBudget]],
    sources: dict[str, RailSource],
    main_rail: str,
) -> dict[str, Any]:
    """``figures.rails``: per rail, the total, how they combine, which rail is MLPerf's.
    ``budgets``: per valid window, every rail's budget (the main rail's under its name)."""
    per_rail: dict[str, Any] = {}
    totals = [0.0] * len(valid)
    total_standard = []
    for k, w in enumerate(valid):
        n = w.inferences
        systematic: dict[str, float] = defaultdict(float)
        edges: dict[str, float] = defaultdict(float)
        for name, budget in budgets[k].items():
            systematic[sources[name].instrument] += budget.systematic_j / n
            edges[sources[name].instrument] += budget.edges_j / n
        total_standard.append(
            math.sqrt(sum(s**2 for s in systematic.values()) + sum(e**2 for e in edges.values()))
        )
    for name, source in sources.items():
        values, standard, power = [], [], []
        for k, w in enumerate(valid):
            if name == main_rail:
                value, mean_power = w.energy_per_inference_j, w.mean_power_w
            else:
                value = w.rails.get(name, {}).get("energy_per_inference_j")
                mean_power = w.rails.get(name, {}).get("mean_power_w")
            values.append(math.nan if value is None else value)
            power.append(math.nan if mean_power is None else mean_power)
            totals[k] += values[-1]
            budget = budgets[k].get(name)
            standard.append(math.nan if budget is None else budget.standard_j / w.inferences)
        per_rail[name] = {
            "instrument": source.instrument,
            "profile": source.budget.source,
            **_rail_summary(values, standard, power),
        }
    total = {
        "energy_per_inference_j": statistics.median(totals),
        "energy_per_inference_uncertainty_j": median_expanded_uncertainty(totals, total_standard),
        "mean_power_w": sum(r["mean_power_w"] for r in per_rail.values()),
        "window_energy_per_inference_j": totals,
    }
    return {
        "per_rail": per_rail,
        "total": total,
        "combination": COMBINATION,
        "coverage_factor": 2,
        "mlperf_rail": {"rail": main_rail, "why": MLPERF_RAIL_WHY},
    }
