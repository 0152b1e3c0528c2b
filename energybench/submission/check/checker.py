"""Check a tree: the official rules first (their problems and predicted verdict, the CSV
rows), then energybench's rules on every benchmark and submitter the walk found."""

from __future__ import annotations

import logging
from pathlib import Path

from energybench.errors import SubmissionError, UsageError
from energybench.submission.check.energy import check_energy
from energybench.submission.check.official import official_walk
from energybench.submission.check.problems import Problem, Report
from energybench.submission.check.provenance import check_instruments, check_manifest
from energybench.submission.check.systems import check_code, check_system
from energybench.submission.check.validity import check_validity
from energybench.submission.rules import DEFAULT_VERSION, DIVISIONS, rules_for
from energybench.submission.tree import CONFIG_NAME, load_tree

log = logging.getLogger(__name__)
DEFAULT_TOLERANCE = 0.001  # 0.1 %


def _version(root: Path, version: str | None) -> str:
    if version:
        return version
    if (root / CONFIG_NAME).is_file():
        return load_tree(root).version
    return DEFAULT_VERSION


def check_tree(
    root: Path,
    *,
    version: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    require_calibration: bool = False,
) -> Report:
    """Every rule on the tree at ``root`` (the folder holding closed/ and/or open/)."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError("no such folder", context=str(root))
    if not any((root / d).is_dir() for d in DIVISIONS):
        raise SubmissionError(
            f"holds no {' or '.join(DIVISIONS)} folder: not a submission tree root",
            context=str(root),
        )
    if not tolerance > 0:
        raise UsageError(f"must be > 0, got {tolerance}", context="--tolerance-pct")
    rules = rules_for(_version(root, version))
    walk = official_walk(root, rules)
    report = Report(str(root), rules.version, rows=walk.rows, official=walk.verdict)
    report.add(*walk.problems)
    if not walk.benchmarks:
        report.add(
            Problem("error", ".", "results", "no results/<system>/<benchmark> folder to check")
        )
    orgs = []
    for org, system in walk.systems:
        if org not in orgs:
            orgs.append(org)
        report.add(*check_system(root, org, system))
    for org in orgs:
        report.add(*check_manifest(root, org), *check_code(root, org))
    for folder in walk.benchmarks:
        log.info("checking %s", folder.path)
        problems, figure = check_energy(root, folder, tolerance)
        report.add(*problems)
        if figure is not None:
            report.energy.append(figure)
        report.add(*check_validity(root, folder))
        report.add(*check_instruments(root, folder, require_calibration))
    report.problems.sort(key=lambda p: (p.path, p.rule, p.message))
    return report
