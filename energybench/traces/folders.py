"""What a path holds, before anything is read in full: a trace file, an energybench run folder
(recognised by its results.json, an object with energybench provenance), an MLCommons-runner
energy folder (results.json, a list of trials), an EEMBC EnergyRunner energy folder
(``*energy.bin``), a run folder cut short before its results.json (only its trace), or a
published result folder with no raw data at all (results.txt alone: not re-verifiable).

:func:`locate` also looks one level down in ``energy/`` or ``power/`` and in
``<model>/power`` (R0.7/R1.0 open submissions), as published trees are laid out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from energybench.errors import NoRawDataError, TraceFileError

Kind = Literal["trace", "energybench", "mlcommons", "eembc", "no-raw-data"]
ENERGY_FOLDER_NAMES = ("energy", "power")  # "power/" in R0.7/R1.0 open submissions
TRACE_SUFFIXES = (".jls", ".csv")
RUN_TRACE_NAMES = ("trace.jls", "trace.csv")
NO_RAW_DATA = "no raw data (results.json absent)"
RESULT_FILES = ("results.json", "results.csv", "results.txt", "energy.bin", "timestamps.json")


@dataclass(frozen=True)
class Located:
    """What ``path`` holds: its kind, the file or folder to read, and whether its figures can
    be re-verified from raw data (``reason`` says why not)."""

    kind: Kind
    path: Path
    reverifiable: bool = True
    reason: str = ""


def _first_char(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(256).lstrip()
    return head[:1].decode("latin-1")


def _results_json(folder: Path) -> Path | None:
    for name in ("results.json", "energy_results.json"):
        if (folder / name).is_file():
            return folder / name
    return None


def kind_of_folder(folder: Path) -> Kind | None:
    """The kind of one folder (no look below it), or None when it holds no recording."""
    if not folder.is_dir():
        return None
    results = _results_json(folder)
    if results is not None:
        return "energybench" if _first_char(results) == "{" else "mlcommons"
    if any(folder.glob("*energy.bin")):
        return "eembc"
    if any((folder / name).is_file() for name in RUN_TRACE_NAMES):
        return "trace"
    if (folder / "results.txt").is_file() or (folder / "energy_results.txt").is_file():
        return "no-raw-data"
    return None


def locate(path: Path | str) -> Located:
    """What ``path`` holds (see the module docstring); TraceFileError when nothing known."""
    path = Path(path)
    if path.is_file():
        if path.name.endswith(RESULT_FILES):  # a run's own files stand for their folder
            path = path.parent
        elif path.suffix.lower() in TRACE_SUFFIXES:
            return Located("trace", path)
    if path.is_dir():
        found = _find(path)
        if found is not None:
            kind, folder = found
            if kind == "trace":
                trace = next(folder / n for n in RUN_TRACE_NAMES if (folder / n).is_file())
                return Located("trace", trace)
            if kind == "no-raw-data":
                return Located(kind, folder, False, _no_raw_data_reason(folder))
            return Located(kind, folder)
    what = "no such file or folder" if not path.exists() else "unrecognised recording"
    raise TraceFileError(
        f"{what}: expected a .jls or .csv trace file, an energybench run folder or a runner "
        "energy folder (MLCommons runner: results.json; EEMBC EnergyRunner: trace1-energy.bin "
        "+ trace1-timestamps.json), or a benchmark folder holding energy/ or power/",
        context=str(path),
    )


def _find(path: Path) -> tuple[Kind, Path] | None:
    """The folder's own kind, else that of energy/ or power/, else one ``<model>/power``."""
    for folder in (path, *(path / name for name in ENERGY_FOLDER_NAMES)):
        kind = kind_of_folder(folder)
        if kind is not None:
            return kind, folder
    nested = [
        (kind, sub / name)
        for sub in sorted(p for p in path.iterdir() if p.is_dir())
        for name in ENERGY_FOLDER_NAMES
        if (kind := kind_of_folder(sub / name)) is not None
    ]
    if len(nested) > 1:
        raise TraceFileError(
            "several energy folders below: " + ", ".join(str(f) for _, f in nested),
            context=str(path),
        )
    return nested[0] if nested else None


def _no_raw_data_reason(folder: Path) -> str:
    """NO_RAW_DATA, and whether results.txt holds energy figures at all (a performance or
    accuracy folder holds none)."""
    path = folder / "results.txt"
    if not path.is_file():
        path = folder / "energy_results.txt"
    text = path.read_bytes().decode("utf-8", errors="replace")
    if "energy" in text.lower() or "power" in text.lower():
        return NO_RAW_DATA
    return f"{NO_RAW_DATA}; its results.txt holds no energy figures (not an energy result)"


def require_raw_data(located: Located) -> None:
    """NoRawDataError for a folder whose figures cannot be re-verified."""
    if not located.reverifiable:
        raise NoRawDataError(
            f"{located.reason}: only the published figures (results.txt) are here; they cannot "
            "be re-verified",
            context=str(located.path),
        )
