"""Run validity the official checker leaves to the runners: five performance windows of at
least 10 s each, no runner "not valid" line, and for sww the F1 counts and duty cycle also in
performance/results.txt when energy/ is there (the checker then reads energy/ only)."""

from __future__ import annotations

import re
from pathlib import Path

from energybench.submission.check.energy import runner_validity
from energybench.submission.check.official import BenchmarkFolder
from energybench.submission.check.problems import Problem, read_text, rel_path
from energybench.submission.rules import (
    MIN_WINDOW_S,
    PERFORMANCE_WINDOWS,
    SWW,
    SWW_ACCURACY,
    SWW_DUTY,
    SWW_THROUGHPUT,
    last_match,
)

_WINDOW = re.compile(r"Performance results for window\s+\d+")
_RUNTIME = re.compile(r"Runtime\s*:\s*([\d.]+(?:[eE][-+]?\d+)?)\s*sec")


def performance_windows(text: str) -> tuple[int, list[float]]:
    """(windows listed, their runtimes in s) of a performance results.txt (both runners)."""
    windows = len(_WINDOW.findall(text))
    runtimes = [float(m.group(1)) for m in _RUNTIME.finditer(text)]
    return windows, runtimes


def check_validity(root: Path, folder: BenchmarkFolder) -> list[Problem]:
    problems: list[Problem] = []
    for mode in ("performance", "accuracy"):
        if (folder.path / mode).is_dir():
            problems += runner_validity(root, folder.path / mode)
    if folder.benchmark == SWW:
        return problems + _sww(root, folder)
    txt = folder.path / "performance" / "results.txt"
    if not txt.is_file():
        return problems
    where = rel_path(root, txt)
    windows, runtimes = performance_windows(read_text(txt))
    if windows != PERFORMANCE_WINDOWS:
        problems.append(
            Problem(
                "error",
                where,
                "window-count",
                f"{windows} performance window(s), {PERFORMANCE_WINDOWS} required",
            )
        )
    problems += [
        Problem(
            "error",
            where,
            "window-length",
            f"performance window {k} ran {r:g} s < {MIN_WINDOW_S:g} s",
        )
        for k, r in enumerate(runtimes)
        if r < MIN_WINDOW_S
    ]
    return problems


def _sww(root: Path, folder: BenchmarkFolder) -> list[Problem]:
    problems = []
    if not (folder.path / "energy").is_dir():
        return problems  # the checker read performance/ itself (its problems are reported)
    for mode in ("performance",):  # the checker reads energy/ only when both are there
        txt = folder.path / mode / "results.txt"
        if not txt.is_file():
            continue
        text = read_text(txt)
        for pattern, what in (
            (SWW_ACCURACY, "the TP/FN/FP line (F1)"),
            (SWW_DUTY, "'Average duty cycle:'"),
            (SWW_THROUGHPUT, "'Estimated throughput:'"),
        ):
            if last_match(pattern, text, anchored=False) is None:
                problems.append(
                    Problem("error", rel_path(root, txt), "sww-figures", f"no {what} line")
                )
    return problems
