"""The official submission checker's rules, applied the way it applies them: its walk over
``<division>/<submitter>/results/<system>/<benchmark>``, the system descriptions, which
outcomes fail the submission or crash it, and its final verdict (which also depends on the
last benchmark it walked: it walks in directory-listing order, as we do here). How it reads
one benchmark folder is official_benchmark.py; docs/submission.md describes the rules."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.submission.check.official_benchmark import BenchmarkReader, Outcome
from energybench.submission.check.org_rules import org_problems
from energybench.submission.check.problems import (
    Official,
    OfficialVerdict,
    Problem,
    rel_path,
)
from energybench.submission.rules import (
    AVAILABILITIES,
    DIVISIONS,
    EEMBC_MARKER,
    IGNORED_TOP_LEVEL,
    Rules,
)


@dataclass(frozen=True)
class BenchmarkFolder:
    division: str
    submitter: str
    system: str
    benchmark: str
    path: Path
    eembc: bool


@dataclass
class Walk:
    problems: list[Problem] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    verdict: OfficialVerdict = field(default_factory=OfficialVerdict)
    benchmarks: list[BenchmarkFolder] = field(default_factory=list)
    systems: list[tuple[Path, str]] = field(default_factory=list)  # (org folder, system)


def _dirs(path: Path) -> list[str]:
    return [f for f in os.listdir(path) if os.path.isdir(os.path.join(path, f))]


class _Checker:
    def __init__(self, root: Path, rules: Rules) -> None:
        self.root = root
        self.rules = rules
        self.walk = Walk()
        self.reader = BenchmarkReader(root, rules)
        self.results: dict[str, Any] = {}
        self.last: Outcome | None = None

    def rel(self, path: Path) -> str:
        return rel_path(self.root, path)

    def problem(self, severity: str, path: Path, rule: str, message: str, official: Official):
        return Problem(severity, self.rel(path), rule, message, official)  # type: ignore[arg-type]

    def crash(self, reason: str) -> None:
        if self.walk.verdict.crash is None:
            self.walk.verdict.crash = reason

    def run(self) -> Walk:
        for division in _dirs(self.root):
            if division not in DIVISIONS:
                if division not in IGNORED_TOP_LEVEL:
                    self.walk.problems.append(
                        self.problem(
                            "error",
                            self.root / division,
                            "division",
                            "not closed or open: the checker skips it",
                            "logged",
                        )
                    )
                continue
            for submitter in _dirs(self.root / division):
                self.organisation(division, submitter)
        self.finish()
        return self.walk

    def organisation(self, division: str, submitter: str) -> None:
        org = self.root / division / submitter
        if not (org / "results").exists():
            self.walk.problems.append(
                self.problem(
                    "warning", org, "results", "no results/ folder: the checker skips it", "none"
                )
            )
            return
        problems, fatal = org_problems(self.root, org)
        self.walk.problems += problems
        counts = not fatal  # a fatal folder rule: the checker drops the submitter unread
        if fatal:
            self.results[f"{division}/{submitter}"] = None
        for system in _dirs(org / "results"):
            self.system(org, division, submitter, system, counts)

    def system(self, org: Path, division: str, submitter: str, system: str, counts: bool) -> None:
        path = org / "systems" / f"{system}.json"
        name = f"{division}/{submitter}/results/{system}"
        self.walk.systems.append((org, system))
        if not path.exists():
            self.walk.problems.append(
                self.problem(
                    "error",
                    path,
                    "system-json",
                    "missing (results/" + system + "/ needs it)",
                    "fatal",
                )
            )
            if counts:
                self.results[name] = None
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            status = data.get("Status")
            available = status.lower()
        except (ValueError, AttributeError, TypeError) as exc:
            reason = f"{type(exc).__name__} reading Status: {exc}"
            self.walk.problems.append(self.problem("error", path, "system-json", reason, "fatal"))
            if counts:
                self.crash(f"{self.rel(path)}: {reason}")
            return
        if available not in AVAILABILITIES:
            self.walk.problems.append(
                self.problem(
                    "error",
                    path,
                    "system-status",
                    f"Status {status!r} is not one of {AVAILABILITIES}",
                    "fatal",
                )
            )
            if counts:
                self.results[name] = None
            return
        if data.get("system_type") is not None:
            self.walk.problems.append(
                self.problem(
                    "error", path, "system-json", "system_type must not be present", "fatal"
                )
            )
            if counts:
                self.crash(f"{self.rel(path)}: invalid system type")
            return
        models = _dirs(org / "results" / system)
        for model in models:
            folder = org / "results" / system / model
            self.walk.benchmarks.append(
                BenchmarkFolder(
                    division, submitter, system, model, folder, (folder / EEMBC_MARKER).exists()
                )
            )
            outcome = self.reader.benchmark(folder, model, division, models, data)
            outcome.row = self.reader.row(
                outcome, submitter, available, division, system, model, data
            )
            logged, self.reader.logged = self.reader.logged, []
            if counts:
                self.walk.problems += logged
                self.record(self.rel(folder), outcome)
            else:  # the checker never reads this submitter's results
                self.walk.problems += [
                    Problem(p.severity, p.path, p.rule, p.message, "none")
                    for p in logged + outcome.causes
                ]

    def record(self, name: str, outcome: Outcome) -> None:
        if outcome.crash:
            self.crash(outcome.crash)
        if outcome.is_valid is not None:
            self.last = outcome
        if outcome.kind == "result":
            self.results[name] = outcome.value
            self.walk.rows.append(outcome.row or {})
        elif outcome.kind == "none":
            self.results[name] = None
        effect: Official = "fatal" if outcome.kind in ("none", "crash") else "logged"
        outcome.causes = [
            Problem(p.severity, p.path, p.rule, p.message, effect) for p in outcome.causes
        ]
        self.walk.problems += outcome.causes

    def finish(self) -> None:
        verdict = self.walk.verdict
        verdict.results = sum(1 for v in self.results.values() if v)
        verdict.no_results = len(self.results) - verdict.results
        if self.last is None:
            self.crash("no benchmark reached the performance step (UnboundLocalError)")
            return
        verdict.last_is_valid = self.last.is_valid
        if not self.last.is_valid:  # the walk's last result decides the summary
            fatal = {(p.path, p.rule) for p in self.last.causes}
            self.walk.problems = [
                Problem(p.severity, p.path, p.rule, p.message + " (last benchmark walked)", "fatal")
                if (p.path, p.rule) in fatal
                else p
                for p in self.walk.problems
            ]

    # ---- one benchmark -------------------------------------------------------------------


def official_walk(root: Path, rules: Rules) -> Walk:
    """Walk ``root`` (holding closed/ and/or open/) as the official checker does."""
    return _Checker(Path(root), rules).run()
