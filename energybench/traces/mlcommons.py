"""Import an MLCommons Tiny runner energy folder (``results.json`` + ``results.txt``).

``results.json`` is a list of trials. Each trial's ``power.samples`` holds the energy in joules
of every 1 ms bin the runner drained for that trial (acquisition runs through the whole session,
so the trials concatenate into one continuous trace), ``power.timestamps`` the timestamp-pin
events as ``[counter, sample_index]`` (the index of the bin that followed the event), and
``power.voltage`` the supply voltage. The runner samples at a fixed 1 kHz (``main.py``).

Windows: the runner takes "the last two" events of each trial (its ``print_energy_results``).
Here a trial must hold exactly two events unless the caller chooses a rule explicitly:
``skip_leading_events=True`` applies the runner's own rule (the last two events of each trial),
``skip_events=K`` skips the first K events of each trial (the rest must be exactly two); the
skipped events are listed in ``warnings`` and the rule in ``ImportedRun.rule``.

A folder with fewer trials than its results.txt lists (or, without results.txt, than the
runner's required :data:`RUNNER_TRIALS`) is truncated: TruncatedRecordingError unless
``allow_truncated``, then the trials present are analysed and the truncation stated.
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
    check_truncation,
    find_file,
    published_figures,
    read_published,
)

MLC_SAMPLE_RATE_HZ = 1000.0
RUNNER_TRIALS = 5  # the runner's req_cycles: "Energy mode must include exactly 5 measurements"
RULE_EXACT = "exactly two timestamp events per trial"
RULE_LAST_TWO = "MLCommons runner, last two events of each trial"


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


def _window_events(
    path: Path, k: int, events: list, skip_leading_events: bool, skip_events: int, warnings: list
) -> list:
    """The two events of trial ``k`` under the chosen rule (see the module docstring)."""
    if skip_events:
        if len(events) < skip_events:
            raise TraceFileError(
                f"trial {k} has {len(events)} timestamp events {events}; cannot skip {skip_events}",
                context=f"{path}[{k}].power.timestamps",
            )
        warnings.append(
            f"trial {k}: skipped the first {skip_events} event(s) {events[:skip_events]}"
        )
        events = events[skip_events:]
    elif len(events) > 2 and skip_leading_events:
        warnings.append(
            f"trial {k}: {len(events)} events {events}; skipped the leading "
            f"{len(events) - 2} (the runner's 'last two' rule)"
        )
        events = events[-2:]
    if len(events) != 2:
        raise TraceFileError(
            f"trial {k} has {len(events)} timestamp events {events}; a window needs exactly 2",
            context=f"{path}[{k}].power.timestamps",
            remedy="leading_events" if len(events) > 2 else None,
            extra_events=len(events) - 2,
        )
    return events


def import_mlcommons(
    folder: Path,
    *,
    skip_leading_events: bool = False,
    skip_events: int = 0,
    allow_truncated: bool = False,
) -> ImportedRun:
    """Import the energy folder written by the MLCommons Tiny runner (see module docstring)."""
    if skip_events < 0:
        raise TraceFileError(f"skip_events must be >= 0, got {skip_events}", context=str(folder))
    if skip_events and skip_leading_events:
        raise TraceFileError(
            "choose one rule: skip a fixed number of events, or the runner's last two",
            context=str(folder),
        )
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
        events = _window_events(path, k, events, skip_leading_events, skip_events, warnings)
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
    expected = len(published.windows) if published is not None else RUNNER_TRIALS
    truncation = check_truncation(
        len(windows),
        expected,
        "results.txt lists" if published is not None else "the runner measures",
        path,
        allow_truncated,
        warnings,
        last_s=len(bins) / MLC_SAMPLE_RATE_HZ,
    )
    figures = published_figures(published, len(windows), warnings)
    if published is not None:
        for window, pw in zip(windows, published.windows, strict=False):
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
        rule=_rule(skip_leading_events, skip_events),
        expected_windows=expected,
        truncation=truncation,
        **figures,  # type: ignore[arg-type]
    )


def _rule(skip_leading_events: bool, skip_events: int) -> str:
    if skip_events:
        return f"the first {skip_events} event(s) of each trial skipped, then exactly two"
    return RULE_LAST_TWO if skip_leading_events else RULE_EXACT
