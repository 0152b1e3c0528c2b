"""The MLPerf Tiny submission rules per round (v1.3, v1.4), as the official submission checker
applies them: benchmark folder names, required and optional tests per benchmark, closed-division
accuracy targets, the file lists of a mode folder, and the patterns it reads figures with.
docs/submission-tree.md states each rule in our words, with its source."""

from __future__ import annotations

import re
from dataclasses import dataclass

from energybench.errors import UsageError
from energybench.runner.mlc_format import MIN_WINDOW_S as MIN_WINDOW_S
from energybench.runner.mlc_format import REQUIRED_WINDOWS

VERSIONS = ("v1.3", "v1.4")
DEFAULT_VERSION = "v1.4"
DIVISIONS = ("closed", "open")
AVAILABILITIES = ("available", "preview", "rdi")
IGNORED_TOP_LEVEL = (".git", ".github", "assets", ".vscode")
MODE_FOLDERS = ("accuracy", "performance", "energy")

EEMBC_MARKER = "EEMBC_RUNNER"  # present in a benchmark folder: EEMBC runner file rules
MLC_FILES = ("log.txt", "results.txt", "results.json")
EEMBC_FILES = ("log.txt", "results.txt", "script.async")
# names a file-list comparison never counts, present or absent
FILE_LIST_IGNORED = frozenset({"mlperf_log_trace.json", "results.json", ".gitkeep", ""})
SWW_ENERGY_PLOT = "energy_inf_000.png"  # the one plot a sww energy folder must hold
FILE_SIZE_LIMIT_BYTES = 500 * 1024 * 1024

SWW = "sww"
SWW_WAKEWORDS = 50  # TP + FN: the wakewords of the official long stream
SWW_MAX_FALSE_POSITIVES = 8
SWW_MAX_FALSE_NEGATIVES = 8
ENERGY_WINDOWS = REQUIRED_WINDOWS
PERFORMANCE_WINDOWS = REQUIRED_WINDOWS
SWW_ENERGY_WINDOWS = 1

# The checker's patterns (the last matching line of a file wins). ``match`` patterns must match
# from the line start, ``search`` patterns anywhere in the line.
PERF_MEDIAN = re.compile(r".* Median throughput is\s+([\d\.]+) inf\./sec\..*")  # match
ENERGY_MEDIAN = re.compile(r"Median energy cost is ([\d\.]+) uJ/inf")  # search
TOP1 = re.compile(r".* Top[- ]1%?\s?[:=] ([\d\.]+).*")  # match
AUC = re.compile(r".* AUC\s?[:=] ([\d\.]+).*")  # match
SWW_POWER = re.compile(r"Power\s+: ([\d\.]+) mW.*")  # search
SWW_THROUGHPUT = re.compile(r"Estimated throughput:\s*([\d\.]+) inf\./sec\..*")  # search
SWW_ACCURACY = re.compile(
    r"Accuracy: ([\d]+) True positives, ([\d]+) False negatives, ([\d]+) False positives"
)  # search
SWW_DUTY = re.compile(r"Average duty cycle:\s*([\d\.]+)")  # search

_SINGLE = ("ad", "ic", "kws", "vww")


@dataclass(frozen=True)
class Target:
    """A closed-division accuracy target: top-1 in percent or AUC as a fraction (at or above),
    or, for sww, at most ``max_fp`` false positives and ``max_fn`` false negatives."""

    metric: str  # "top-1", "auc" or "fp_fn"
    minimum: float = 0.0
    max_fp: int = 0
    max_fn: int = 0

    def describe(self) -> str:
        if self.metric == "fp_fn":
            return f"FP <= {self.max_fp} and FN <= {self.max_fn}"
        unit = " %" if self.metric == "top-1" else ""
        return f"{self.metric} >= {self.minimum:g}{unit}"


@dataclass(frozen=True)
class Rules:
    """What one round's checker accepts."""

    version: str
    benchmarks: tuple[str, ...]
    required_tests: dict[str, tuple[str, ...]]
    optional_tests: dict[str, tuple[str, ...]]
    targets: dict[str, Target]

    def tests(self, benchmark: str) -> tuple[str, ...]:
        return self.required_tests.get(benchmark, ()) + self.optional_tests.get(benchmark, ())


_TARGETS = {
    "ad": Target("auc", 0.85),
    "ic": Target("top-1", 85),
    "kws": Target("top-1", 90),
    "vww": Target("top-1", 80),
    SWW: Target("fp_fn", max_fp=SWW_MAX_FALSE_POSITIVES, max_fn=SWW_MAX_FALSE_NEGATIVES),
}


def _rules(version: str, benchmarks: tuple[str, ...], extra_targets: dict[str, Target]) -> Rules:
    singles = tuple(b for b in benchmarks if b != SWW)
    return Rules(
        version=version,
        benchmarks=benchmarks,
        required_tests={**dict.fromkeys(singles, ("accuracy", "performance")), SWW: ()},
        optional_tests={**dict.fromkeys(singles, ("energy",)), SWW: ("energy", "performance")},
        targets={**_TARGETS, **extra_targets},
    )


RULES = {
    "v1.3": _rules("v1.3", (*_SINGLE, SWW), {}),
    "v1.4": _rules("v1.4", ("ad", "ic", "ic2", "kws", "vww", SWW), {"ic2": Target("top-1", 91)}),
}


def rules_for(version: str) -> Rules:
    """The rules of ``version`` (v1.3 or v1.4); UsageError names the known ones."""
    try:
        return RULES[version]
    except KeyError:
        raise UsageError(
            f"unknown rules version {version!r} (known: {', '.join(VERSIONS)})", context="--version"
        ) from None


def last_match(pattern: re.Pattern[str], text: str, *, anchored: bool) -> re.Match[str] | None:
    """The last line of ``text`` the checker's ``pattern`` accepts (``anchored``: re.match)."""
    found = None
    for line in text.splitlines():
        m = pattern.match(line) if anchored else pattern.search(line)
        if m:
            found = m
    return found
