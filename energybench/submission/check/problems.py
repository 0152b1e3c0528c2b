"""What a check finds: problems (one line each, naming the file and the rule, with what the
official checker does about it), the energy figures published beside the ones recomputed from
the raw data, and the official checker's verdict as predicted from its rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]
# what the official checker does about a problem: fails the submission, logs an ERROR but can
# still say "looks OK", logs a WARNING, or does not look at it at all
Official = Literal["fatal", "logged", "warning", "none"]
_OFFICIAL_NOTE = {
    "fatal": "official checker: fails",
    "logged": "official checker: logs an error, still passes",
    "warning": "official checker: warning",
    "none": "official checker: not checked",
}


def rel_path(root: Path, path: str | Path) -> str:
    """``path`` relative to the checked root, POSIX separators (how problems name files)."""
    return Path(path).relative_to(root).as_posix()


def read_text(path: Path) -> str:
    """A results/log file as text, whatever bytes it holds (undecodable ones replaced)."""
    return Path(path).read_bytes().decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Problem:
    severity: Severity
    path: str  # relative to the checked root, POSIX separators
    rule: str
    message: str
    official: Official = "none"

    def line(self) -> str:
        return (
            f"{self.severity.upper()} {self.path}: [{self.rule}] {self.message} "
            f"({_OFFICIAL_NOTE[self.official]})"
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "path": self.path,
            "rule": self.rule,
            "message": self.message,
            "official": self.official,
        }


@dataclass(frozen=True)
class EnergyFigure:
    """One energy folder: the figure results.txt publishes and ours from its raw data.
    ``unit`` is "uJ/inf" (median energy per inference) or "mW" (sww mean power)."""

    path: str
    benchmark: str
    unit: str
    published: float | None
    recomputed: float | None
    source: str  # which raw data the figure was recomputed from
    windows: int = 0

    @property
    def deviation(self) -> float | None:
        if self.published is None or self.recomputed is None or self.published == 0:
            return None
        return self.recomputed / self.published - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "benchmark": self.benchmark,
            "unit": self.unit,
            "published": self.published,
            "recomputed": self.recomputed,
            "deviation": self.deviation,
            "source": self.source,
            "windows": self.windows,
        }


@dataclass
class OfficialVerdict:
    """The official checker's outcome as its rules give it for this tree."""

    results: int = 0
    no_results: int = 0
    crash: str | None = None  # the exception it would stop with
    last_is_valid: bool | None = None  # its summary also depends on the last benchmark walked

    @property
    def ok(self) -> bool:
        return self.crash is None and self.no_results == 0 and self.last_is_valid is True

    def summary(self) -> str:
        if self.crash:
            return f"crashes ({self.crash})"
        text = "submission looks OK" if self.ok else "submission has errors"
        return f"Results={self.results}, NoResults={self.no_results}, SUMMARY: {text}"


@dataclass
class Report:
    root: str
    version: str
    problems: list[Problem] = field(default_factory=list)
    energy: list[EnergyFigure] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # the official CSV's rows
    official: OfficialVerdict = field(default_factory=OfficialVerdict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, *problems: Problem) -> None:
        self.problems.extend(problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "version": self.version,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
            "energy": [e.to_dict() for e in self.energy],
            "official": {
                "ok": self.official.ok,
                "summary": self.official.summary(),
                "results": self.official.results,
                "no_results": self.official.no_results,
                "crash": self.official.crash,
            },
        }
