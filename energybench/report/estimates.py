"""One side's estimate of each figure from its run folders (report.statistics.Estimate):
energy per inference (or a stream's mean power), latency and accuracy, and the instrument
setup that decides whether a systematic error cancels between two sides."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from energybench.report.runs import RunRecord
from energybench.report.statistics import Estimate, auc_estimate, proportion_estimate
from energybench.runner.results import LABEL_COUNTS, MEASUREMENT_SETUP, UNCERTAINTY_COMPONENTS


@dataclass(frozen=True)
class Metric:
    key: str  # energy_per_inference / mean_power / latency / top1 / auc
    title: str
    unit: str  # SI unit of the value ("" for a ratio)
    higher_is_worse: bool
    gate: str  # the --gate name it belongs to


METRICS = {
    m.key: m
    for m in (
        Metric("energy_per_inference", "energy per inference", "J", True, "energy"),
        Metric("mean_power", "mean power (stream)", "W", True, "energy"),
        Metric("latency", "latency", "s", True, "latency"),
        Metric("top1", "top-1 accuracy", "", False, "accuracy"),
        Metric("auc", "AUC", "", False, "accuracy"),
    )
}
GATES = ("energy", "latency", "accuracy")


def is_stream(run: RunRecord) -> bool:
    return run.figures.get("metric") == "f1" or "mean_power_uncertainty_w" in run.figures


def _mean_estimate(values: list[float]) -> tuple[float, float, float]:
    """Mean of the windows, its standard error s/√n (NaN for one value) and n − 1 degrees of
    freedom: Welch's t on the windows' means is the test that suits five windows (the median
    of five, which MLPerf reports, moves in whole steps when the edges sit on a sample grid)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, math.nan, 0.0
    return mean, statistics.stdev(values) / math.sqrt(n), float(n - 1)


def energy_estimate(run: RunRecord, notes: list[str]) -> Estimate | None:
    """The run's energy per inference (a stream's mean power) from its valid windows: their
    scatter, and its budget's systematic and edge-placement terms (as relative terms, so they
    carry over to a stream's power). The edge term is a floor under the scatter of five
    windows, whose s can come out 0 when whole-sample edges make the windows identical."""
    stream = is_stream(run)
    values = run.window_values("mean_power_w" if stream else "energy_per_inference_j")
    per_inf = run.window_values("energy_per_inference_j")
    if not values or not per_inf:
        return None
    value, random_u, dof = _mean_estimate(values)
    n = len(values)
    reference = statistics.fmean(per_inf)
    comps = run.figures.get(UNCERTAINTY_COMPONENTS)
    status = str(run.figures.get("uncertainty_status", "known"))
    if status != "known":  # a figure of the meter is unknown: so is this run's systematic part
        rel_sys = math.nan
        edges = float((comps or {}).get("edges_standard_per_window") or 0.0)
        rel_edges = edges / math.sqrt(n) / abs(reference) if reference else 0.0
        _note(notes, f"{run.name}: energy uncertainty {status}")
    elif isinstance(comps, dict) and reference:
        rel_sys = float(comps.get("systematic_standard") or 0.0) / abs(reference)
        edges = float(comps.get("edges_standard_per_window") or 0.0)
        rel_edges = edges / math.sqrt(n) / abs(reference)
    else:
        total = run.figures.get(
            "mean_power_uncertainty_w" if stream else "energy_per_inference_uncertainty_j"
        )
        rel_sys = float(total) / 2 / abs(value) if total and value else math.nan
        rel_edges = 0.0
        _note(
            notes,
            f"{run.name}: results.json does not split its uncertainty: all of it "
            "taken as systematic",
        )
    if n < 2:
        _note(
            notes, f"{run.name}: one window: its scatter is unknown (repeat the run to compare it)"
        )
    figure = run.figures.get("mean_power_w" if stream else "median_energy_per_inference_j")
    return Estimate(
        value,
        random_u,
        dof,
        abs(value) * rel_sys,
        abs(value) * rel_edges,
        n,
        f"mean of {n} window{'s' if n != 1 else ''} of 1 run",
        float(figure) if figure is not None else math.nan,
    )


def latency_estimate(run: RunRecord, notes: list[str]) -> Estimate | None:
    """Mean window latency: DUT-timed (performance mode) or meter-timed (energy mode)."""
    values = run.window_values("latency_s")
    if not values:
        return None
    value, random_u, dof = _mean_estimate(values)
    n = len(values)
    figure = run.figures.get("latency_s")
    return Estimate(
        value,
        random_u,
        dof,
        0.0,
        0.0,
        n,
        f"mean of {n} windows of 1 run ({run.mode} mode)",
        float(figure) if figure is not None else math.nan,
    )


def accuracy_estimate(run: RunRecord, notes: list[str]) -> tuple[str, Estimate] | None:
    f = run.figures
    metric = f.get("metric")
    if metric == "top1" and f.get("top1") is not None and f.get("files"):
        return "top1", proportion_estimate(float(f["top1"]), int(f["files"]))
    if metric == "auc" and f.get("auc") is not None:
        counts = f.get(LABEL_COUNTS) or {}
        if len(counts) == 2:
            negatives, positives = (int(counts[k]) for k in sorted(counts))
            if positives and negatives:
                return "auc", auc_estimate(float(f["auc"]), positives, negatives)
        _note(
            notes, f"{run.name}: no class counts in results.json: the AUC's uncertainty is unknown"
        )
        return "auc", Estimate(float(f["auc"]), math.nan, 0.0, 0.0, 0.0, 0, "class counts unknown")
    return None


def combine(estimates: Sequence[Estimate]) -> Estimate:
    """Several runs of one build: the mean of their figures; the random part from the runs'
    scatter (every source of run-to-run variation included, k − 1 degrees of freedom), never
    below what their own window scatter propagates; the largest systematic part."""
    if len(estimates) == 1:
        return estimates[0]
    k = len(estimates)
    values = [e.value for e in estimates]
    between = statistics.stdev(values) / math.sqrt(k)
    within = math.sqrt(sum(e.random_u**2 for e in estimates if math.isfinite(e.random_u))) / k
    return Estimate(
        value=statistics.fmean(values),
        random_u=max(between, within),
        random_dof=float(k - 1),
        systematic_u=math.nan  # one run's unknown systematic part makes the pool's unknown
        if any(math.isnan(e.systematic_u) for e in estimates)
        else max(e.systematic_u for e in estimates),
        budget_random_u=math.sqrt(sum(e.budget_random_u**2 for e in estimates)) / k,
        replicates=k,
        basis=f"mean of {k} runs",
        figure=statistics.fmean(e.figure for e in estimates),
    )


# ---- instrument setup ----------------------------------------------------------------------


def setup_of(run: RunRecord) -> dict[str, object]:
    """What decides whether two runs share a systematic error: the meter's identity, the
    current range(s) in use and the calibration record(s)."""
    meter = run.meter
    setup = run.figures.get(MEASUREMENT_SETUP)
    return {
        "driver": (run.provenance.get("bench") or {}).get("meter_driver"),
        "meter": " ".join(str(meter.get(k) or "") for k in ("vendor", "model")).strip(),
        "serial_number": str(meter.get("serial_number") or ""),
        "current_ranges_a": None
        if setup is None
        else tuple(r for r in setup.get("current_ranges_a") or ()),
        "calibration_ids": None
        if setup is None
        else tuple(c for c in setup.get("calibration_ids") or ()),
        "profile": None if setup is None else setup.get("profile"),
    }


def _ranges_text(ranges) -> str:
    return ", ".join("widest" if r is None else f"{r:g} A" for r in ranges) or "unknown"


def same_setup(a_runs: Sequence[RunRecord], b_runs: Sequence[RunRecord]) -> tuple[bool, str]:
    """(correlated, why): one meter (model and serial number), one current range and one
    calibration record (none on both: the same datasheet, and one physical instrument)."""
    setups = [setup_of(r) for r in (*a_runs, *b_runs)]
    first = setups[0]
    meter = f"{first['meter']} #{first['serial_number']}"
    if any(
        s["meter"] != first["meter"]
        or s["serial_number"] != first["serial_number"]
        or s["driver"] != first["driver"]
        for s in setups
    ):
        names = sorted({f"{s['meter']} #{s['serial_number'] or '?'}" for s in setups})
        return False, f"different meters ({', '.join(names)})"
    if not first["serial_number"]:
        return (
            False,
            f"the meter ({first['meter']}) reports no serial number: nothing shows "
            "that both sides used the same physical instrument",
        )
    if any(s["current_ranges_a"] is None for s in setups):
        return (
            False,
            "the current range in use is not recorded (results.json from an older energybench)",
        )
    ranges = {s["current_ranges_a"] for s in setups}
    if len(ranges) != 1 or len(first["current_ranges_a"]) != 1:  # type: ignore[arg-type]
        return False, f"different current ranges ({'; '.join(_ranges_text(r) for r in ranges)})"
    cals = {s["calibration_ids"] for s in setups}
    if len(cals) != 1 or len(first["calibration_ids"]) != 1:  # type: ignore[arg-type]
        shown = sorted({c or "none" for s in setups for c in s["calibration_ids"]})  # type: ignore[union-attr]
        return False, f"different calibration records ({', '.join(shown)})"
    (cal,) = first["calibration_ids"]  # type: ignore[misc]
    calibration = (
        f"calibration record {cal}"
        if cal
        else f"no calibration record on either side (both rely on the datasheet figures of "
        f"{first['profile'] or 'the profile'}; one physical instrument errs the same way in both)"
    )
    return True, (
        f"same meter {meter}, same range ({_ranges_text(first['current_ranges_a'])}), {calibration}"
    )


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)
