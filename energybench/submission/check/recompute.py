"""Energy per window recomputed from the raw data in a tree, whoever wrote it:

- energybench: ``raw/energy/results.json`` gives each valid window's edges (recording time
  base) and inferences; the trace (``trace.jls``/``trace.csv``, or one ``capture_w<k>_a<n>``
  file per window of a triggered meter) is integrated again between them, and where the trace
  holds the timestamp line, the edges are found again on it (each window edge must be one).
- MLCommons runner: ``energy/results.json`` (1 ms energy bins, timestamp events);
- EEMBC EnergyRunner: ``energy/trace1-energy.bin`` + ``trace1-timestamps.json``.

:func:`recompute_runner_folder` is the one place the published-data importers are called.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from energybench.analysis.edges import scan_edges
from energybench.analysis.integrate import integrate_windows
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window
from energybench.errors import AnalysisError, TraceFileError
from energybench.submission.runs import RunFolder
from energybench.traces import open_recording
from energybench.traces.imported import detect_runner

EDGE_TOLERANCE_SAMPLES = 1.0  # a window edge must be this close to an edge found on the trace


@dataclass
class Recomputed:
    """Per valid window, in window order: energy, duration, inferences (SI units)."""

    source: str
    raw_path: Path  # the raw samples (trace file, results.json bins, energy.bin)
    windows_path: Path  # where the windows' edges are recorded
    energy_j: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    inferences: list[int] = field(default_factory=list)
    recorded_energy_j: list[float] = field(default_factory=list)  # what the run recorded
    notes: list[str] = field(default_factory=list)
    edge_problems: list[tuple[Path, str]] = field(default_factory=list)  # (trace file, problem)

    @property
    def per_inference_j(self) -> list[float]:
        return [e / n for e, n in zip(self.energy_j, self.inferences, strict=True) if n]

    @property
    def median_per_inference_j(self) -> float | None:
        values = self.per_inference_j
        return statistics.median(values) if values else None

    @property
    def mean_power_w(self) -> list[float]:
        return [e / d for e, d in zip(self.energy_j, self.duration_s, strict=True) if d]


def _capture(run: RunFolder, window: dict) -> Path | None:
    for suffix in (".jls", ".csv"):
        path = run.path / f"capture_w{window['index']}_a{window['attempt']}{suffix}"
        if path.is_file():
            return path
    return None


def _sync_line(trace: Trace, configured: str) -> str | None:
    if configured in trace.digital_names:
        return configured
    return trace.digital_names[0] if len(trace.digital_names) == 1 else None


def _check_edges(trace: Trace, window: Window, sync: dict, out: Recomputed, path: Path) -> None:
    """Where the timestamp line is sampled with the current (digital_channel), each window
    edge must be an edge found on it again. Triggered captures start at the trigger (the
    edge itself precedes sample 0) and event markers are the meter's own: not re-detected."""
    if sync.get("mode") != "digital_channel":
        return
    line = _sync_line(trace, str(sync.get("line", "")))
    if line is None:
        out.edge_problems.append((path, f"no timestamp line {sync.get('line')!r} in the trace"))
        return
    scan = scan_edges(
        trace,
        line=line,
        polarity=sync.get("polarity", "falling"),
        min_pulse_s=float(sync.get("min_pulse_s") or 0.0),
    )
    for label, position in (("start", window.start_position), ("stop", window.stop_position)):
        gap = np.min(np.abs(scan.positions - position)) if scan.count else np.inf
        if gap > EDGE_TOLERANCE_SAMPLES:
            out.edge_problems.append(
                (
                    path,
                    f"window {window.index} {label} at {trace.time_s(position):.6f} s is not a "
                    f"{sync.get('polarity', 'falling')} edge of {line} "
                    f"(nearest {gap / trace.sample_rate_hz:.6g} s away)",
                )
            )


def recompute_energybench(run: RunFolder) -> Recomputed:
    """Integrate an energybench energy run's valid windows again from its raw trace(s)."""
    sync = (run.provenance.get("bench") or {}).get("sync") or {}
    trace_name = run.figures.get("trace_file")
    record = run.path / "results.json"
    out = Recomputed(f"energybench {trace_name or 'captures'}", record, record)
    traces: dict[Path, Trace] = {}
    for w in run.valid_windows:
        capture = _capture(run, w)
        path = capture or (run.path / trace_name if trace_name else None)
        if path is None or not path.is_file():
            raise TraceFileError(
                f"window {w['index']}: no raw trace ({trace_name or 'capture file'} absent)",
                context=str(run.path),
            )
        if path not in traces:
            recording = open_recording(path)
            if not isinstance(recording, Trace):
                raise TraceFileError("not a trace file", context=str(path))
            traces[path] = recording
        trace = traces[path]
        if w.get("start_s") is None or w.get("stop_s") is None:
            raise TraceFileError(
                f"window {w['index']} has no start_s/stop_s", context=str(run.path)
            )
        if capture is not None:  # a capture's time base starts at its first sample
            start = trace.sample_position(w["start_s"])
            stop = trace.sample_position(w["stop_s"])
        else:  # a recording's time base is its sample ids over the rate
            start = w["start_s"] * trace.sample_rate_hz
            stop = w["stop_s"] * trace.sample_rate_hz
        window = Window(int(w["index"]), start, stop, int(w["inferences"]))
        (result,) = integrate_windows(trace, [window])
        _check_edges(trace, window, sync, out, path)
        out.raw_path = path
        out.energy_j.append(result.energy_j)
        out.duration_s.append(result.duration_s)
        out.inferences.append(window.inferences)
        out.recorded_energy_j.append(float(w.get("energy_j") or float("nan")))
    if not out.energy_j:
        raise AnalysisError("no valid window to recompute", context=str(run.path))
    return out


def recompute_runner_folder(folder: Path) -> Recomputed:
    """A published MLCommons-runner or EEMBC-EnergyRunner energy folder, through the trace
    importers (the runner's own rule for trials with extra events: the last two, noted)."""
    found = detect_runner(folder)
    if found is None:
        raise TraceFileError("no raw data (results.json or trace1-energy.bin)", context=str(folder))
    runner, energy = found
    if runner == "mlcommons":
        from energybench.traces.mlcommons import import_mlcommons

        run = import_mlcommons(energy, skip_leading_events=True)
        source, raw = "MLCommons runner results.json (1 ms bins)", energy / "results.json"
        edges = raw
    else:
        from energybench.traces.eembc import import_eembc

        run = import_eembc(energy)
        source = "EEMBC EnergyRunner trace1-energy.bin + timestamps"
        raw = next(iter(sorted(energy.glob("*energy.bin"))), energy)
        edges = next(iter(sorted(energy.glob("*timestamps.json"))), energy)
    out = Recomputed(source, raw, edges, notes=list(run.warnings))
    for w in integrate_windows(run.trace, run.windows):
        out.energy_j.append(w.energy_j)
        out.duration_s.append(w.duration_s)
        out.inferences.append(w.inferences)
    return out
