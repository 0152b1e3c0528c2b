"""Parse the published energy figures of a runner's ``results.txt`` (MLCommons or EEMBC format).

Both formats are accepted line by line, whatever the line endings: the MLCommons runner's
unprefixed ``Energy data for trial k`` blocks (``Energy/Inf : x uJ/inf``, ``Power : x mW.``) and
the EEMBC EnergyRunner's ``NNNNN.NNN ulp-ml:``-prefixed ``Energy data for window k at time T for
D sec.:`` blocks (``Energy/Inf. : x uJ/inf.``, ``Power : x uW``), prefix of any width. Values are
converted to SI (J, W, s) from the unit printed beside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from energybench.errors import TraceFileError

_PREFIX = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s+)?(?:ulp-ml(?:perf)?:)?\s*")
_BLOCK = re.compile(
    r"^Energy data for (?:trial|window)\s+(\d+)"
    r"(?:\s+at time\s+([-+\d.eE]+)\s+for\s+([-+\d.eE]+)\s+sec\.?)?\s*:?\s*$"
)
_FIELD = re.compile(r"^([A-Za-z#/. ]+?)\s*:\s*([-+\d.eE]+|nan|inf)\s*([A-Za-zµ/.]*)")
_MEDIAN = re.compile(r"^Median energy cost is\s+([-+\d.eE]+)\s*([A-Za-zµ]*J)/inf")
_PERF = re.compile(r"^Performance results for window\s+(\d+)")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9}


@dataclass(frozen=True)
class PublishedWindow:
    """One window's published figures (None where the file does not give them)."""

    number: int  # "trial k" (MLCommons, from 0) or "window k" (EEMBC, 2, 4, ...)
    energy_j: float | None = None
    energy_per_inference_j: float | None = None
    power_w: float | None = None
    elapsed_s: float | None = None
    start_s: float | None = None
    inferences: int | None = None


@dataclass(frozen=True)
class PublishedResults:
    windows: tuple[PublishedWindow, ...]
    median_energy_per_inference_j: float | None
    path: Path


def _to_si(path: Path, line_no: int, value: str, unit: str, base: str) -> float:
    unit = unit.rstrip(".").split("/")[0]
    if not unit.endswith(base) or unit[: -len(base)] not in _SCALE:
        raise TraceFileError(
            f"line {line_no}: unit {unit!r} is not a {base} unit", context=str(path)
        )
    return float(value) * _SCALE[unit[: -len(base)]]


def parse_results_txt(path: Path) -> PublishedResults:
    """The per-window published figures and the median line of a results.txt."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise TraceFileError(f"cannot read: {exc}", context=str(path)) from exc
    windows: list[dict] = []
    perf: dict[int, int] = {}
    perf_window: int | None = None
    median = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = _PREFIX.sub("", raw, count=1).strip()
        if m := _BLOCK.match(line):
            perf_window = None
            windows.append({"number": int(m[1])})
            if m[2] is not None:
                windows[-1]["start_s"] = float(m[2])
                windows[-1]["elapsed_s"] = float(m[3])
            continue
        if m := _MEDIAN.match(line):
            median = _to_si(path, line_no, m[1], m[2], "J")
            continue
        if m := _PERF.match(line):
            perf_window = int(m[1])
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        key, value, unit = m[1].strip().rstrip(".").lower(), m[2], m[3]
        if perf_window is not None:
            if key == "# inferences":
                perf[perf_window] = int(float(value))
            continue
        if not windows:
            continue
        w = windows[-1]
        if key == "energy/inf":
            w["energy_per_inference_j"] = _to_si(path, line_no, value, unit, "J")
        elif key in ("energy", "total energy"):
            w["energy_j"] = _to_si(path, line_no, value, unit, "J")
        elif key == "power":
            w["power_w"] = _to_si(path, line_no, value, unit, "W")
        elif key == "elapsed time":
            w["elapsed_s"] = float(value)
        elif key == "inferences":
            w["inferences"] = int(float(value))
    numbers = [w["number"] for w in windows]
    if len(set(numbers)) != len(numbers):
        raise TraceFileError(f"window/trial numbers repeat: {numbers}", context=str(path))
    out = []
    for w in windows:
        w.setdefault("inferences", perf.get(w["number"]))
        out.append(PublishedWindow(**w))
    return PublishedResults(tuple(out), median, path)
