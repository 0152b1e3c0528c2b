"""A history: many runs of a workload, grouped into builds by their ``--label`` (a run without
one is its own build), ordered by time or by label, each build's energy per inference with its
uncertainty, and every step between consecutive builds tested as ``compare`` tests A and B."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from energybench.errors import ResultsError, UsageError
from energybench.report.compare import EXIT_REGRESSION, check_options, side_estimate
from energybench.report.estimates import METRICS, Metric, energy_estimate, is_stream, same_setup
from energybench.report.runs import RunRecord
from energybench.report.statistics import WORSE, Difference, Estimate, compare

ORDERS = ("time", "label")


@dataclass
class Build:
    label: str
    runs: list[RunRecord]
    estimate: Estimate

    @property
    def started_utc(self) -> str:
        return min(r.started_utc for r in self.runs)


@dataclass
class Step:
    before: Build
    after: Build
    diff: Difference
    setup: str
    regression: bool

    @property
    def significant(self) -> bool:
        return self.diff.verdict in ("worse", "better")


@dataclass
class History:
    workload: str
    metric: Metric
    confidence: float
    threshold_pct: float
    builds: list[Build] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """4 when the newest step is a regression beyond the threshold (a CI gate on main)."""
        return EXIT_REGRESSION if self.steps and self.steps[-1].regression else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "energybench history",
            "workload": self.workload,
            "metric": self.metric.key,
            "unit": self.metric.unit,
            "confidence": self.confidence,
            "threshold_pct": self.threshold_pct,
            "builds": [
                {
                    "label": b.label,
                    "started_utc": b.started_utc,
                    "runs": [str(r.folder) for r in b.runs],
                    **b.estimate.to_dict(),
                }
                for b in self.builds
            ],
            "steps": [
                {
                    "from": s.before.label,
                    "to": s.after.label,
                    **s.diff.to_dict(),
                    "significant": s.significant,
                    "regression": s.regression,
                    "setup": s.setup,
                }
                for s in self.steps
            ],
            "notes": self.notes,
            "exit_code": self.exit_code,
        }


def _natural(text: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def histories(
    runs: Sequence[RunRecord],
    *,
    order: str = "time",
    confidence: float = 0.95,
    threshold_pct: float = 0.0,
) -> list[History]:
    """One history per workload with energy runs among ``runs``."""
    check_options(confidence, threshold_pct, ("energy",))
    if order not in ORDERS:
        raise UsageError(f"must be one of {', '.join(ORDERS)}, got {order!r}", context="--order")
    by_workload: dict[str, list[RunRecord]] = defaultdict(list)
    for r in runs:
        if r.mode == "energy":
            by_workload[r.workload].append(r)
    if not by_workload:
        raise ResultsError("no energy runs to draw a history of", context="history")
    return [
        _history(w, rs, order, confidence, threshold_pct) for w, rs in sorted(by_workload.items())
    ]


def _history(
    workload: str, runs: list[RunRecord], order: str, confidence: float, threshold_pct: float
) -> History:
    metric = METRICS["mean_power" if is_stream(runs[0]) else "energy_per_inference"]
    out = History(workload, metric, confidence, threshold_pct)
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in runs:
        groups[r.label or r.name].append(r)
    for label, group in groups.items():
        estimate, used = side_estimate(group, energy_estimate, out.notes)
        if estimate is not None:
            out.builds.append(Build(label, used, estimate))
    if order == "label":
        out.builds.sort(key=lambda b: _natural(b.label))
    else:
        out.builds.sort(key=lambda b: b.started_utc)
    for before, after in zip(out.builds, out.builds[1:], strict=False):
        correlated, why = same_setup(before.runs, after.runs)
        diff = compare(
            before.estimate,
            after.estimate,
            correlated=correlated,
            confidence=confidence,
            higher_is_worse=True,
        )
        rel = abs(diff.relative) * 100 if math.isfinite(diff.relative) else math.inf
        regression = diff.verdict == WORSE and rel > threshold_pct
        out.steps.append(Step(before, after, diff, why, regression))
    return out
