"""Run folders as data. :func:`load_run` reads one results.json (the schema of
``energybench.runner.results``); :func:`find_runs` finds every run under a run folder, a folder
of runs (several runs of one build, a history) or a submission tree
(``results/<system>/<benchmark>/<mode>/results.json``). A results.json written by another tool
(the MLCommons runner's) is skipped and counted, never misread."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.errors import ResultsError

log = logging.getLogger(__name__)

RESULTS_JSON = "results.json"
MAX_DEPTH = 8  # results/<system>/<benchmark>/<mode>/ sits 4 levels down; trees nest a little more
_REQUIRED = ("workload", "mode", "figures", "windows", "provenance")


@dataclass(frozen=True)
class RunRecord:
    """One mode of one workload, as its run folder records it (SI units)."""

    folder: Path
    workload: str
    mode: str
    valid: bool
    validity: tuple[str, ...]
    notes: tuple[str, ...]
    aborted: str | None
    figures: dict[str, Any]
    windows: tuple[dict[str, Any], ...]
    provenance: dict[str, Any] = field(repr=False)

    @property
    def label(self) -> str | None:
        """The build label given at run time (``energybench run --label``), if any."""
        value = (self.provenance.get("options") or {}).get("label")
        return str(value) if value not in (None, "") else None

    @property
    def started_utc(self) -> str:
        return str(self.provenance.get("started_utc") or "")

    @property
    def meter(self) -> dict[str, Any]:
        return self.provenance.get("meter") or {}

    @property
    def valid_windows(self) -> list[dict[str, Any]]:
        return [w for w in self.windows if w.get("valid")]

    @property
    def name(self) -> str:
        return self.folder.name

    def window_values(self, key: str) -> list[float]:
        """``key`` of every valid window that has it (e.g. ``energy_per_inference_j``)."""
        return [float(w[key]) for w in self.valid_windows if w.get(key) is not None]

    def all_problems(self) -> list[str]:
        """Every validity problem in plain words: the mode's, then each failed window's."""
        out = [f"{self.mode}: {v}" for v in self.validity]
        for w in self.windows:
            for p in w.get("problems") or []:
                out.append(f"{self.mode} window {w.get('index')} attempt {w.get('attempt')}: {p}")
        return out


def _is_energybench(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and all(k in data for k in _REQUIRED)
        and isinstance(data["provenance"], dict)
        and "energybench_version" in data["provenance"]
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"cannot read: {exc.strerror or exc}", context=str(path)) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"not valid JSON: {exc}", context=str(path)) from exc


def _record(path: Path, data: dict[str, Any]) -> RunRecord:
    figures, windows = data["figures"], data["windows"]
    if not isinstance(figures, dict) or not isinstance(windows, list):
        raise ResultsError("'figures' must be an object and 'windows' a list", context=str(path))
    return RunRecord(
        folder=path.parent,
        workload=str(data["workload"]),
        mode=str(data["mode"]),
        valid=bool(data.get("valid")),
        validity=tuple(str(v) for v in data.get("validity") or ()),
        notes=tuple(str(v) for v in data.get("notes") or ()),
        aborted=data.get("aborted"),
        figures=figures,
        windows=tuple(w for w in windows if isinstance(w, dict)),
        provenance=data["provenance"],
    )


def load_run(folder: Path | str) -> RunRecord:
    """The run in ``folder`` (or the results.json given directly)."""
    path = Path(folder)
    if path.is_dir():
        path = path / RESULTS_JSON
    if not path.is_file():
        raise ResultsError("no results.json here: not a run folder", context=str(path.parent))
    data = _read_json(path)
    if not _is_energybench(data):
        raise ResultsError(
            "not an energybench results.json (another runner's output? "
            "`energybench analyze` reads MLCommons and EEMBC runner folders)",
            context=str(path),
        )
    return _record(path, data)


def find_runs(path: Path | str) -> list[RunRecord]:
    """Every energybench run at or under ``path``, oldest first (then by folder)."""
    root = Path(path)
    if not root.exists():
        raise ResultsError("no such file or folder", context=str(root))
    if root.is_file() or (root / RESULTS_JSON).is_file():
        return [load_run(root)]
    runs: list[RunRecord] = []
    foreign = 0
    base_depth = len(root.parts)
    for current, dirs, files in os.walk(root):
        here = Path(current)
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirs.clear()
        dirs.sort()
        if RESULTS_JSON not in files:
            continue
        try:
            data = _read_json(here / RESULTS_JSON)
        except ResultsError as exc:
            log.warning("skipped: %s", exc)
            foreign += 1
            continue
        if _is_energybench(data):
            runs.append(_record(here / RESULTS_JSON, data))
        else:
            foreign += 1
    if not runs:
        extra = (
            f" ({foreign} results.json of another tool skipped; `energybench analyze` reads "
            "MLCommons and EEMBC runner folders)"
            if foreign
            else ""
        )
        raise ResultsError(f"no energybench run folder found{extra}", context=str(root))
    if foreign:
        log.info("%s: %d results.json not written by energybench skipped", root, foreign)
    return sorted(runs, key=lambda r: (r.started_utc, str(r.folder)))
