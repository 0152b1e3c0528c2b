"""An energybench energy run folder as written by ``energybench run``: its results.json (every
window attempt, where each lies in which raw file, the figures the run reported, provenance)
and the raw files beside it (``trace.jls``/``trace.csv`` for streaming meters, one
``capture_w<k>_a<attempt>.jls/.csv`` per window for triggered ones)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energybench.errors import TraceFileError

RECORDED_MEDIAN_KEYS = ("median_energy_per_inference_j", "stream_energy_j")  # sww01: one stream


@dataclass(frozen=True)
class RunWindow:
    """One window attempt of results.json that was measured (it has an energy)."""

    index: int
    attempt: int
    valid: bool
    inferences: int
    raw_file: Path | None
    start_position: float | None
    stop_position: float | None
    interval_ids: tuple[int, int] | None
    energy_j: float
    energy_per_inference_j: float | None
    edge_source: str
    problems: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"window {self.index} attempt {self.attempt}"


@dataclass(frozen=True)
class EnergybenchRun:
    path: Path
    results_path: Path
    workload: str
    valid: bool
    aborted: str | None
    sync: dict[str, Any]
    meter: dict[str, Any]
    windows: tuple[RunWindow, ...]  # the measured attempts, in order
    recorded_median_energy_per_inference_j: float | None
    trace_file: Path | None  # the stream recording (None for per-window captures)
    validity: tuple[str, ...] = ()

    @property
    def valid_windows(self) -> tuple[RunWindow, ...]:
        return tuple(w for w in self.windows if w.valid)


def is_energybench_results(data: Any) -> bool:
    """Whether parsed results.json content is an energybench run's (not an MLCommons list)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("provenance"), dict)
        and "energybench_version" in data["provenance"]
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def read_energybench_run(folder: Path | str) -> EnergybenchRun:
    """Read an energybench energy run folder (TraceFileError naming the field otherwise)."""
    folder = Path(folder)
    path = folder / "results.json"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"not a readable results.json: {exc}", context=str(path)) from exc
    if not is_energybench_results(data):
        raise TraceFileError("not an energybench results.json (no provenance)", context=str(path))
    mode = data.get("mode")
    if mode != "energy":
        raise TraceFileError(
            f"an energybench {mode} run: it has no energy windows to re-analyse",
            context=f"{path}: mode",
        )
    figures = data.get("figures") or {}
    windows = tuple(_window(path, k, w) for k, w in enumerate(data.get("windows") or []))
    measured = tuple(w for w in windows if w is not None)
    lacking = [w.label for w in measured if w.raw_file is None or w.start_position is None]
    if lacking:
        raise TraceFileError(
            f"{', '.join(lacking)}: no raw file or edge positions recorded (results.json of an "
            "older energybench, or the raw file could not be written); analyse the raw file "
            "itself",
            context=str(path),
        )
    trace_name = figures.get("trace_file")
    provenance = data["provenance"]
    recorded = next(
        (v for k in RECORDED_MEDIAN_KEYS if (v := _number(figures.get(k))) is not None), None
    )
    return EnergybenchRun(
        path=folder,
        results_path=path,
        workload=str(data.get("workload", "")),
        valid=bool(data.get("valid")),
        aborted=data.get("aborted"),
        sync=dict((provenance.get("bench") or {}).get("sync") or {}),
        meter=dict(provenance.get("meter") or {}),
        windows=measured,
        recorded_median_energy_per_inference_j=recorded,
        trace_file=folder / trace_name if isinstance(trace_name, str) else None,
        validity=tuple(str(v) for v in data.get("validity") or ()),
    )


def _window(path: Path, k: int, w: Any) -> RunWindow | None:
    where = f"{path}: windows[{k}]"
    if not isinstance(w, dict):
        raise TraceFileError("must be an object", context=where)
    energy = _number(w.get("energy_j"))
    if energy is None:  # an attempt that failed before its window was measured
        return None
    if not math.isfinite(energy):
        raise TraceFileError(f"energy_j {energy} is not finite", context=where)
    interval = w.get("interval_ids")
    if interval is not None and not (
        isinstance(interval, list)
        and len(interval) == 2
        and all(isinstance(v, int) for v in interval)
    ):
        raise TraceFileError(f"interval_ids {interval!r} is not [start, stop]", context=where)
    inferences = w.get("inferences")
    if not isinstance(inferences, int) or isinstance(inferences, bool) or inferences < 0:
        raise TraceFileError(f"inferences {inferences!r} is not a count", context=where)
    raw = w.get("raw_file")
    return RunWindow(
        index=int(w.get("index", k)),
        attempt=int(w.get("attempt", 0)),
        valid=bool(w.get("valid")),
        inferences=inferences,
        raw_file=path.parent / raw if isinstance(raw, str) else None,
        start_position=_number(w.get("start_position")),
        stop_position=_number(w.get("stop_position")),
        interval_ids=(interval[0], interval[1]) if interval else None,
        energy_j=energy,
        energy_per_inference_j=_number(w.get("energy_per_inference_j")),
        edge_source=str(w.get("edge_source", "")),
        problems=tuple(str(p) for p in w.get("problems") or ()),
    )
