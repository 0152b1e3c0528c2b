"""``compare(A, B)``: per workload, B − A of energy per inference (a stream's mean power),
latency and accuracy, each with its interval, minimum detectable difference and verdict, and
the regression decision a CI job gates on (exit status 4)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.errors import ResultsError, UsageError
from energybench.report.estimates import (
    GATES,
    METRICS,
    Metric,
    accuracy_estimate,
    combine,
    energy_estimate,
    is_stream,
    latency_estimate,
    same_setup,
)
from energybench.report.runs import RunRecord, find_runs
from energybench.report.statistics import POWER, UNKNOWN, WORSE, Difference, Estimate, compare

EXIT_REGRESSION = 4
NO_INSTRUMENT = {
    "latency": "no instrument term: the DUT's clock error is in no budget (common to both "
    "builds on one board)",
    "accuracy": "no instrument term: A and B are scored as independent samples of files "
    "(conservative when both scored the same files)",
}


@dataclass
class MetricComparison:
    workload: str
    metric: Metric
    a: Estimate
    b: Estimate
    diff: Difference
    setup: str  # how the instrument's systematic error was treated, in words
    gated: bool
    regression: bool
    a_runs: list[str]
    b_runs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "metric": self.metric.key,
            "unit": self.metric.unit,
            "higher_is_worse": self.metric.higher_is_worse,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            **self.diff.to_dict(),
            "relative_ci_low": _rel(self.diff.ci_low, self.a.value),
            "relative_ci_high": _rel(self.diff.ci_high, self.a.value),
            "relative_mdd": _rel(self.diff.mdd, self.a.value),
            "systematic_relative_expanded_a": _rel(2 * self.a.systematic_u, self.a.value),
            "systematic_relative_expanded_b": _rel(2 * self.b.systematic_u, self.b.value),
            "setup": self.setup,
            "gated": self.gated,
            "regression": self.regression,
            "a_runs": self.a_runs,
            "b_runs": self.b_runs,
        }


@dataclass
class Comparison:
    a_path: str
    b_path: str
    confidence: float
    threshold_pct: float
    gate: tuple[str, ...]
    metrics: list[MetricComparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # validity problems of the runs used
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.regression]

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.regressions else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "energybench comparison",
            "a": self.a_path,
            "b": self.b_path,
            "confidence": self.confidence,
            "power_of_mdd": POWER,
            "threshold_pct": self.threshold_pct,
            "gate": list(self.gate),
            "exit_code": self.exit_code,
            "metrics": [m.to_dict() for m in self.metrics],
            "problems": self.problems,
            "notes": self.notes,
        }


def _rel(value: float, reference: float) -> float | None:
    if not reference or not math.isfinite(value):
        return None
    return value / abs(reference)


def check_options(confidence: float, threshold_pct: float, gate: Sequence[str]) -> tuple[str, ...]:
    if not 0.5 <= confidence < 1:
        raise UsageError(f"must be in [0.5, 1), got {confidence}", context="--confidence")
    if not math.isfinite(threshold_pct) or threshold_pct < 0:
        raise UsageError(f"must be a number >= 0, got {threshold_pct}", context="--threshold-pct")
    gates = tuple(GATES) if "all" in gate else tuple(gate)
    unknown = [g for g in gates if g not in GATES]
    if unknown or not gates:
        raise UsageError(
            f"unknown gate(s) {unknown}; choose from {', '.join(GATES)} or all", context="--gate"
        )
    return gates


def _by_workload_mode(runs: Sequence[RunRecord]) -> dict[tuple[str, str], list[RunRecord]]:
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in runs:
        groups[(r.workload, r.mode)].append(r)
    return groups


Extractor = Callable[[RunRecord, list[str]], Estimate | None]


def side_estimate(
    runs: Sequence[RunRecord], extract: Extractor, notes: list[str]
) -> tuple[Estimate | None, list[RunRecord]]:
    """One side's estimate over its runs (those that yield the figure) and the runs used."""
    used, estimates = [], []
    for r in runs:
        e = extract(r, notes)
        if e is not None:
            used.append(r)
            estimates.append(e)
    return (combine(estimates) if estimates else None), used


def compare_runs(
    a_runs: Sequence[RunRecord],
    b_runs: Sequence[RunRecord],
    *,
    a_path: str = "A",
    b_path: str = "B",
    confidence: float = 0.95,
    threshold_pct: float = 0.0,
    gate: Sequence[str] = ("energy",),
) -> Comparison:
    gates = check_options(confidence, threshold_pct, gate)
    out = Comparison(a_path, b_path, confidence, threshold_pct, gates)
    a_groups, b_groups = _by_workload_mode(a_runs), _by_workload_mode(b_runs)
    workloads = sorted({w for w, _ in a_groups} | {w for w, _ in b_groups})
    for workload in workloads:
        only = [
            side
            for side, groups in (("A", a_groups), ("B", b_groups))
            if not any(w == workload for w, _ in groups)
        ]
        if only:
            out.notes.append(f"{workload}: no runs in {only[0]}: not compared")
            continue
        _energy(out, workload, a_groups, b_groups)
        _latency(out, workload, a_groups, b_groups)
        _accuracy(out, workload, a_groups, b_groups)
    for r in {r.folder: r for r in (*a_runs, *b_runs)}.values():  # A and B may share runs
        if not r.valid:
            out.problems.append(f"{r.folder}: not valid: " + "; ".join(r.validity))
    if not out.metrics:
        raise ResultsError(
            "A and B have no workload and mode in common with a figure to compare",
            context=f"{a_path} vs {b_path}",
        )
    return out


def _add(
    out: Comparison,
    workload: str,
    key: str,
    a_runs: list[RunRecord],
    b_runs: list[RunRecord],
    extract: Extractor,
    *,
    instrument: bool,
) -> None:
    a, a_used = side_estimate(a_runs, extract, out.notes)
    b, b_used = side_estimate(b_runs, extract, out.notes)
    if a is None or b is None:
        return
    metric = METRICS[key]
    if instrument:
        correlated, why = same_setup(a_used, b_used)
    else:
        correlated, why = False, NO_INSTRUMENT[metric.gate]
    diff = compare(
        a,
        b,
        correlated=correlated,
        confidence=out.confidence,
        higher_is_worse=metric.higher_is_worse,
    )
    gated = metric.gate in out.gate
    rel = abs(diff.relative) * 100 if math.isfinite(diff.relative) else math.inf
    regression = gated and diff.verdict == WORSE and rel > out.threshold_pct
    if gated and diff.verdict == UNKNOWN:
        missing = "scatter unknown"
        if not (math.isfinite(a.systematic_u) and math.isfinite(b.systematic_u)):
            missing = "uncertainty unknown: a figure of the meter is"
        out.notes.append(f"{workload} {metric.title}: no verdict ({missing}): not gated")
    out.metrics.append(
        MetricComparison(
            workload,
            metric,
            a,
            b,
            diff,
            why,
            gated,
            regression,
            [str(r.folder) for r in a_used],
            [str(r.folder) for r in b_used],
        )
    )


def _energy(out, workload, a_groups, b_groups) -> None:
    a, b = a_groups.get((workload, "energy"), []), b_groups.get((workload, "energy"), [])
    if a and b:
        key = "mean_power" if is_stream(a[0]) else "energy_per_inference"
        _add(out, workload, key, a, b, energy_estimate, instrument=True)


def _latency(out, workload, a_groups, b_groups) -> None:
    for mode in ("performance", "energy"):  # DUT-timed first; meter-timed when that is all
        a, b = a_groups.get((workload, mode), []), b_groups.get((workload, mode), [])
        if a and b and not is_stream(a[0]):
            _add(out, workload, "latency", a, b, latency_estimate, instrument=False)
            return


def _accuracy(out, workload, a_groups, b_groups) -> None:
    a, b = a_groups.get((workload, "accuracy"), []), b_groups.get((workload, "accuracy"), [])
    if not (a and b):
        return
    probe = accuracy_estimate(a[0], out.notes)
    if probe is None:
        return
    key = probe[0]

    def extract(run: RunRecord, notes: list[str]) -> Estimate | None:
        found = accuracy_estimate(run, notes)
        return found[1] if found and found[0] == key else None

    _add(out, workload, key, a, b, extract, instrument=False)


def compare_paths(a: Path | str, b: Path | str, **options) -> Comparison:
    """Compare everything found under ``a`` and ``b`` (run folders, folders of runs, trees)."""
    return compare_runs(find_runs(a), find_runs(b), a_path=str(a), b_path=str(b), **options)
