"""Import an MLCommons Tiny runner energy folder (``results.json`` + ``results.txt``).

``results.json`` is a list of trials. Each trial's ``power.samples`` holds the energy in joules
of every 1 ms bin the runner drained for that trial (acquisition runs through the whole session,
so the trials concatenate into one continuous trace), ``power.timestamps`` the timestamp-pin
events as ``[counter, sample_index]`` (the index of the bin that followed the event), and
``power.voltage`` the supply voltage. The runner samples at a fixed 1 kHz (``main.py``).

Windows: the runner takes "the last two" events of each trial. Here a trial must hold exactly
two events unless ``skip_leading_events=True`` is passed, which reproduces the runner's rule
explicitly and records the skipped events in ``warnings``.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from energybench.analysis.trace import SourceInfo, Trace
from energybench.analysis.windows import Window
from energybench.errors import TraceFileError
from energybench.traces.imported import (
    ImportedRun,
    find_file,
    published_figures,
    read_published,
)

MLC_SAMPLE_RATE_HZ = 1000.0


def _field(path: Path, trial: dict, k: int, *keys: str) -> Any:
    value: Any = trial
    for key in keys:
        if not isinstance(value, dict) or key not in value or value[key] is None:
            raise TraceFileError(
                f"trial {k} has no {'.'.join(keys)}", context=f"{path}[{k}].{'.'.join(keys)}"
            )
        value = value[key]
    return value


def _events(path: Path, k: int, raw: Any) -> list[tuple[int, int]]:
    where = f"{path}[{k}].power.timestamps"
    if not isinstance(raw, list):
        raise TraceFileError("must be a list of [counter, sample_index]", context=where)
    events = []
    for entry in raw:
        try:
            counter, index = entry
            events.append((int(str(counter), 10), int(index)))
        except (TypeError, ValueError):
            raise TraceFileError(
                f"event {entry!r} is not [counter, sample_index]", context=where
            ) from None
    counters = [c for c, _ in events]
    if any(b != a + 1 for a, b in itertools.pairwise(counters)):
        raise TraceFileError(
            f"event counters {counters} are not consecutive: the analyzer lost events",
            context=where,
        )
    return events


def import_mlcommons(folder: Path, *, skip_leading_events: bool = False) -> ImportedRun:
    """Import the energy folder written by the MLCommons Tiny runner (see module docstring)."""
    folder = Path(folder)
    path = find_file(folder, "results.json")
    if path is None:
        raise TraceFileError("no results.json", context=str(folder))
    try:
        trials = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"not valid JSON: {exc}", context=str(path)) from exc
    if not isinstance(trials, list) or not trials:
        raise TraceFileError("expected a non-empty list of trials", context=str(path))
    warnings: list[str] = []
    energies, voltages, windows = [], [], []
    offset = 0
    last_counter = None
    for k, trial in enumerate(trials):
        if not isinstance(trial, dict):
            raise TraceFileError(f"trial {k} is not an object", context=f"{path}[{k}]")
        if trial.get("mode") not in (None, "e"):
            raise TraceFileError(
                f"trial {k} has mode {trial.get('mode')!r}, not an energy run ('e')",
                context=f"{path}[{k}].mode",
            )
        samples = _field(path, trial, k, "power", "samples")
        try:
            bins_j = np.asarray(samples, dtype=np.float64)
        except (TypeError, ValueError):
            raise TraceFileError(
                "samples must be numbers (J per 1 ms bin)", context=f"{path}[{k}].power.samples"
            ) from None
        if bins_j.ndim != 1:
            raise TraceFileError(
                "samples must be a flat list", context=f"{path}[{k}].power.samples"
            )
        voltage = _field(path, trial, k, "power", "voltage")
        if not isinstance(voltage, (int, float)) or not voltage > 0 or not math.isfinite(voltage):
            raise TraceFileError(
                f"voltage {voltage!r} must be a positive number of volts",
                context=f"{path}[{k}].power.voltage",
            )
        iterations = _field(path, trial, k, "infer", "iterations")
        if not isinstance(iterations, int) or iterations <= 0:
            raise TraceFileError(
                f"iterations {iterations!r} must be a positive integer",
                context=f"{path}[{k}].infer.iterations",
            )
        events = _events(path, k, _field(path, trial, k, "power", "timestamps"))
        if last_counter is not None and events and events[0][0] != last_counter + 1:
            warnings.append(
                f"trial {k}: event counter jumps from {last_counter} to {events[0][0]} "
                "between trials (events lost outside the windows)"
            )
        if events:
            last_counter = events[-1][0]
        if len(events) > 2 and skip_leading_events:
            warnings.append(
                f"trial {k}: {len(events)} events {events}; skipped the leading "
                f"{len(events) - 2} (skip_leading_events, the runner's 'last two' rule)"
            )
            events = events[-2:]
        if len(events) != 2:
            hint = " (pass skip_leading_events=True to use the last two)" if len(events) > 2 else ""
            raise TraceFileError(
                f"trial {k} has {len(events)} timestamp events {events}; a window needs exactly "
                f"2{hint}",
                context=f"{path}[{k}].power.timestamps",
            )
        (_, a), (_, b) = events
        if not 0 <= a < b <= len(bins_j):
            raise TraceFileError(
                f"trial {k}: events at sample indices {a} and {b} do not make a window inside "
                f"its {len(bins_j)} samples (timestamps beyond the trace)",
                context=f"{path}[{k}].power.timestamps",
            )
        windows.append(Window(k, float(offset + a), float(offset + b), iterations))
        energies.append(bins_j)
        voltages.append(np.full(len(bins_j), float(voltage)))
        offset += len(bins_j)
    bins = np.concatenate(energies)
    volts = np.concatenate(voltages)
    current = bins * MLC_SAMPLE_RATE_HZ / volts
    constant = bool(np.all(volts == volts[0]))
    trace = Trace.from_arrays(
        current,
        float(volts[0]) if constant else volts,
        MLC_SAMPLE_RATE_HZ,
        sample_kind="bin",
        source=SourceInfo(
            instrument="MLCommons Tiny runner energy data",
            resource=str(path),
            description="1 ms energy bins from results.json; current = E / (V * 1 ms)",
        ),
    )
    published = read_published(folder)
    figures = published_figures(published, len(windows), warnings)
    if published is not None:
        for window, pw in zip(windows, published.windows, strict=True):
            if pw.inferences is not None and pw.inferences != window.inferences:
                raise TraceFileError(
                    f"trial {window.index}: results.txt says {pw.inferences} inferences, "
                    f"results.json {window.inferences}",
                    context=str(published.path),
                )
    if bins.size and np.isnan(bins).any():
        warnings.append(f"{int(np.isnan(bins).sum())} energy samples are NaN (missing)")
    if not constant:
        warnings.append("the trials were recorded at different voltages")
    files = tuple(
        p for p in (path, find_file(folder, "results.txt"), find_file(folder, "log.txt")) if p
    )
    return ImportedRun(
        trace=trace,
        windows=tuple(windows),
        runner="mlcommons",
        path=folder,
        voltage_v=float(volts[0]),
        files=files,
        warnings=tuple(warnings),
        **figures,  # type: ignore[arg-type]
    )
