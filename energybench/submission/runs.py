"""An energybench run folder as the submission layer reads it (results.json, results.txt, the
raw files), and the reasons a run cannot be submitted under a round's rules."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energybench.errors import SubmissionError, WorkloadError
from energybench.submission.rules import (
    ENERGY_WINDOWS,
    MIN_WINDOW_S,
    SWW,
    SWW_ENERGY_WINDOWS,
    SWW_WAKEWORDS,
    Rules,
)
from energybench.traces.energybench_run import is_energybench_results
from energybench.workloads.definitions import Workload, load_workload

RESULTS_JSON = "results.json"


@dataclass(frozen=True)
class RunFolder:
    """One mode of one workload, as written by ``energybench run`` (or read back from a tree)."""

    path: Path
    data: dict[str, Any]
    workload: Workload
    origin: str | None = None  # the run folder's own name, for a run read back from a tree

    @property
    def name(self) -> str:
        return self.origin or self.path.name

    @property
    def mode(self) -> str:
        return str(self.data.get("mode", ""))

    @property
    def benchmark(self) -> str:
        return self.workload.benchmark

    @property
    def valid(self) -> bool:
        return bool(self.data.get("valid"))

    @property
    def figures(self) -> dict[str, Any]:
        return self.data.get("figures") or {}

    @property
    def provenance(self) -> dict[str, Any]:
        return self.data.get("provenance") or {}

    @property
    def windows(self) -> list[dict[str, Any]]:
        return list(self.data.get("windows") or [])

    @property
    def valid_windows(self) -> list[dict[str, Any]]:
        return sorted((w for w in self.windows if w.get("valid")), key=lambda w: w["index"])

    @property
    def streaming(self) -> bool:
        return self.workload.streaming

    @property
    def label(self) -> str:
        return f"{self.name} ({self.workload.name} {self.mode})"


def _is_run_results(data: object) -> bool:
    return is_energybench_results(data) and {"workload", "mode", "windows"} <= data.keys()  # type: ignore[union-attr]


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds an energybench run's results.json (not an MLCommons list)."""
    source = Path(path) / RESULTS_JSON
    try:
        return source.is_file() and _is_run_results(json.loads(source.read_bytes()))
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def load_run(path: Path) -> RunFolder:
    """Read ``path/results.json``; SubmissionError when it is not an energybench run folder."""
    path = Path(path)
    source = path / RESULTS_JSON
    where = str(source)
    if not source.is_file():
        raise SubmissionError("not an energybench run folder (no results.json)", context=str(path))
    try:
        data = json.loads(source.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"cannot read: {exc}", context=where) from exc
    if not _is_run_results(data):
        raise SubmissionError(
            "not an energybench results.json (a list of trials is the MLCommons runner's)",
            context=where,
        )
    try:
        definition = (data.get("provenance") or {}).get("workload", {}).get("definition")
        workload = _workload(str(data["workload"]), definition)
    except WorkloadError as exc:
        raise SubmissionError(f"unknown workload: {exc}", context=f"{where}: workload") from exc
    return RunFolder(path, data, workload)


def _workload(name: str, definition: str | None) -> Workload:
    """The shipped definition by name, else the user's file the run recorded."""
    try:
        return load_workload(name)
    except WorkloadError:
        if definition and Path(definition).is_file():
            return load_workload(definition)
        raise


def expand_run_paths(paths: list[Path]) -> list[Path]:
    """Run folders as given; a folder that is not one stands for the run folders inside it."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / RESULTS_JSON).is_file() or not p.is_dir():
            out.append(p)
            continue
        inner = sorted(q for q in p.iterdir() if (q / RESULTS_JSON).is_file())
        if not inner:
            raise SubmissionError(
                "not a run folder and holds none (no results.json here or one level down)",
                context=str(p),
            )
        out += inner
    return out


def _accuracy_value(run: RunFolder, metric: str) -> float | None:
    """The figure the checker compares, in its unit (top-1 in percent, AUC a fraction)."""
    value = run.figures.get("top1" if metric == "top-1" else "auc")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return 100.0 * value if metric == "top-1" else float(value)


def submission_problems(run: RunFolder, rules: Rules, division: str) -> list[str]:
    """Why ``run`` cannot go into a ``division`` tree under ``rules`` (empty: it can)."""
    problems: list[str] = []
    if not run.valid:
        reasons = run.data.get("validity") or ["marked not valid"]
        problems += [f"not valid: {r}" for r in reasons]
    if run.data.get("aborted"):
        problems.append(f"aborted: {run.data['aborted']}")
    benchmark = run.benchmark
    if benchmark not in rules.benchmarks:
        problems.append(f"{benchmark} is not a {rules.version} benchmark")
        return problems
    if run.mode not in rules.tests(benchmark) and not (benchmark == SWW and run.mode == "accuracy"):
        problems.append(f"{benchmark} has no {run.mode} test in {rules.version}")
    target = rules.targets.get(benchmark)
    if run.mode == "accuracy" and target is not None and benchmark != SWW:
        value = _accuracy_value(run, target.metric)
        if value is None:
            problems.append(f"no {target.metric} figure in results.json")
        elif division == "closed" and value < target.minimum:
            problems.append(
                f"{target.metric} {value:.4g} is below the closed-division target "
                f"({target.describe()})"
            )
    if benchmark == SWW and run.mode in ("energy", "performance", "accuracy"):
        problems += _sww_problems(run, division, target)
    if run.mode == "energy":
        wanted = SWW_ENERGY_WINDOWS if benchmark == SWW else ENERGY_WINDOWS
        valid = run.valid_windows
        if len(valid) != wanted:
            problems.append(f"{len(valid)} valid energy window(s), {wanted} required")
        short = [w for w in valid if (w.get("duration_s") or 0.0) < MIN_WINDOW_S]
        problems += [
            f"energy window {w['index']} lasted {w.get('duration_s') or 0.0:.3f} s "
            f"< {MIN_WINDOW_S:g} s"
            for w in short
        ]
    return problems


def _sww_problems(run: RunFolder, division: str, target) -> list[str]:
    f = run.figures
    problems = []
    tp, fn, fp = (f.get(k) for k in ("true_positives", "false_negatives", "false_positives"))
    if not all(isinstance(v, int) for v in (tp, fn, fp)):
        return ["no true/false positive counts in results.json"]
    if tp + fn != SWW_WAKEWORDS:
        problems.append(f"TP + FN = {tp + fn}; the checker requires {SWW_WAKEWORDS}")
    if division == "closed" and target is not None and (fp > target.max_fp or fn > target.max_fn):
        problems.append(f"FP {fp}, FN {fn}: the closed division needs {target.describe()}")
    if run.mode in ("energy", "performance") and f.get("duty_cycle") is None:
        problems.append("no duty cycle (the checker needs 'Average duty cycle:')")
    return problems
