"""Re-analysis of an energybench energy run folder: every window the run measured is found
again in its raw file by the run's own rule and integrated again, and the result compared with
results.json (each window's energy and edge positions, and the median over the valid windows).

- Streaming meters (``trace.jls``/``trace.csv``): the run's timestamp edges are scanned over the
  whole file on its sync line and polarity; each window is the pair of edges inside the
  host-known interval results.json records for it (exactly two, as the runner required).
- Triggered meters (``capture_w<k>_a<attempt>.*``): each capture's window by
  :func:`energybench.analysis.capture.capture_window` from the trigger edges the file records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from energybench.analysis.edges import edge_line, scan_edges
from energybench.analysis.integrate import ChunkSums, WindowResult
from energybench.analysis.plausibility import Bounds, Finding
from energybench.analysis.report import AnalysisReport, analyze_windows, summaries
from energybench.analysis.trace import Trace
from energybench.analysis.windows import pair_edges_in_intervals
from energybench.errors import TraceFileError, TruncatedRecordingError, UsageError
from energybench.traces.baseline_rows import add_baseline, baseline_summary
from energybench.traces.energybench_run import (
    EnergybenchRun,
    RunWindow,
    is_energybench_results,
    read_energybench_run,
)
from energybench.traces.reanalysis import (
    BoundsFor,
    Reanalysis,
    ReanalysisOptions,
    capture_report,
    capture_truncation,
    checked,
    open_trace,
)

REPRODUCE_RELATIVE = 1e-9  # a re-analysis of the same samples by the same rule agrees to this
POSITION_TOLERANCE = 1e-6  # samples


def results_beside(trace_path: Path) -> Path | None:
    """The run folder whose results.json names ``trace_path`` as its recording, if any."""
    results = trace_path.parent / "results.json"
    if not results.is_file():
        return None
    try:
        data = json.loads(results.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if (
        is_energybench_results(data)
        and (data.get("figures") or {}).get("trace_file") == trace_path.name
    ):
        return trace_path.parent
    return None


def reanalyze_run(folder: Path, options: ReanalysisOptions, bounds_for: BoundsFor) -> Reanalysis:
    if options.window_options_given or options.expected_windows or options.inferences:
        raise UsageError(
            "an energybench run folder's windows and inference counts come from its "
            "results.json; to choose edges yourself, analyse its trace file with --sync etc.",
            context=str(folder),
        )
    run = read_energybench_run(folder)
    if run.trace_file is not None:
        pairs, findings, bounds, rule, cut = _stream(run, options, bounds_for)
    else:
        pairs, findings, bounds, rule, cut = _captures(run, options, bounds_for)
    truncated = None
    if len(pairs) < len(run.windows):
        truncated = (
            f"truncated: results.json lists {len(run.windows)} measured windows, the raw data "
            f"holds {len(pairs)}" + (f" ({cut})" if cut else "")
        )
        if not options.allow_truncated:
            raise TruncatedRecordingError(truncated, context=str(folder), remedy="allow_truncated")
    rows = [_row(w, r) for w, r in pairs]
    if options.baseline:
        _baselines(run, pairs, rows)
    valid = [r for w, r in pairs if w.valid]
    summary = summaries(valid)
    ours = summary["energy_per_inference_j"]
    extra: dict[str, Any] = {"run": _comparison(run, pairs, ours.median if ours else None)}
    if options.baseline:
        extra["baseline"] = baseline_summary(rows)
    if options.correct is not None:
        if run.trace_file is None:
            warnings_cal = "calibration not applied: per-window captures are analysed raw"
        else:
            warnings_cal = None
        extra["calibration"] = warnings_cal or options.correction_label
    warnings = [f"the run was aborted: {run.aborted}"] if run.aborted else []
    warnings += [
        f"window {w.index} attempt {w.attempt} was invalid in the run: {'; '.join(w.problems)}"
        for w, _ in pairs
        if not w.valid
    ]
    return Reanalysis(
        folder, "energybench run", rule, rows, summary, bounds, findings, truncated, warnings, extra
    )


def _baselines(
    run: EnergybenchRun, pairs: list[tuple[RunWindow, WindowResult]], rows: list[dict[str, Any]]
) -> None:
    """Each window's idle baseline as the run measured it: in its capture, or in the stream
    up to the end of the host-known interval the run cut for it."""
    traces: dict[Path, Trace] = {}
    for (w, _), row in zip(pairs, rows, strict=True):
        path = run.trace_file if run.trace_file is not None else w.raw_file
        if path is None:
            continue
        trace = traces.get(path) or traces.setdefault(path, open_trace(path))
        limit = float(w.interval_ids[1]) if run.trace_file is not None and w.interval_ids else None
        add_baseline(row, trace, limit)


def _row(w: RunWindow, r: WindowResult) -> dict[str, Any]:
    row = r.to_dict()
    row.update(
        attempt=w.attempt,
        file=w.raw_file.name if w.raw_file else None,
        valid=w.valid,
        recorded_energy_j=w.energy_j,
        relative_difference=_relative(r.energy_j, w.energy_j),
        position_difference=max(
            abs(r.start_position - (w.start_position or 0.0)),
            abs(r.stop_position - (w.stop_position or 0.0)),
        ),
    )
    return row


def _relative(ours: float, recorded: float | None) -> float | None:
    if recorded is None:
        return None
    if recorded == 0:
        return 0.0 if ours == 0 else float("inf")
    return abs(ours / recorded - 1)


def _comparison(
    run: EnergybenchRun, pairs: Sequence[tuple[RunWindow, WindowResult]], median: float | None
) -> dict[str, Any]:
    """Our figures against results.json's: reproduced when every window's energy agrees to
    :data:`REPRODUCE_RELATIVE` and its edges to :data:`POSITION_TOLERANCE` samples."""
    energy = [d for w, r in pairs if (d := _relative(r.energy_j, w.energy_j)) is not None]
    positions = [_row(w, r)["position_difference"] for w, r in pairs]
    recorded = run.recorded_median_energy_per_inference_j
    median_diff = _relative(median, recorded) if median is not None else None
    reproduced = (
        bool(pairs)
        and all(d <= REPRODUCE_RELATIVE for d in energy)
        and all(d <= POSITION_TOLERANCE for d in positions)
        and (median_diff is None or median_diff <= REPRODUCE_RELATIVE)
    )
    return {
        "workload": run.workload,
        "valid": run.valid,
        "aborted": run.aborted,
        "recorded_median_energy_per_inference_j": recorded,
        "median_relative_difference": median_diff,
        "max_window_relative_difference": max(energy, default=None),
        "max_position_difference_samples": max(positions, default=None),
        "tolerance_relative": REPRODUCE_RELATIVE,
        "reproduced": reproduced,
    }


def _stream(run: EnergybenchRun, options: ReanalysisOptions, bounds_for: BoundsFor):
    path = run.trace_file
    if path is None or not path.is_file():
        raise TraceFileError("the run's recording is missing", context=str(path))
    trace = open_trace(path)
    bounds = bounds_for(trace)
    cut = "" if "closed" in trace.metadata else f"{path.name} was never closed"
    present = [
        w for w in run.windows if w.interval_ids and w.interval_ids[1] <= trace.stop_sample_id
    ]
    if len(present) < len(run.windows) and not cut:
        cut = f"{path.name} ends at t = {trace.duration_s:.6f} s"
    line_cfg = str(run.sync.get("line", ""))
    polarity = str(run.sync.get("polarity", "falling"))
    min_pulse_s = float(run.sync.get("min_pulse_s") or 0.0)
    used: list[str] = []

    def analyse(t: Trace) -> AnalysisReport:
        line = edge_line(t, line_cfg)
        used.append(line)
        sums = ChunkSums(t)
        scan = scan_edges(sums.observe(), line=line, polarity=polarity, min_pulse_s=min_pulse_s)  # type: ignore[arg-type]
        first, rate = t.first_sample_id, t.sample_rate_hz
        intervals = [
            ((w.interval_ids[0] - first) / rate, (w.interval_ids[1] - first) / rate)
            for w in present
        ]  # type: ignore[index]
        windows = pair_edges_in_intervals(
            scan, intervals, inferences=[w.inferences for w in present]
        )
        return analyze_windows(
            t, windows, allow_missing=options.allow_missing, chunk_sums=sums, edges=scan
        )

    if not present:
        return [], [], bounds.source, "no window of the run is in its recording", cut
    report, findings = checked(path, trace, bounds, options, analyse)
    rule = (
        f"the run's windows: exactly two {polarity} edges on {used[-1]!r} inside each "
        "host-known interval recorded in results.json"
    )
    results = list(report.windows)
    if options.correct is not None:
        results = [options.correct(trace, r) for r in results]
    return list(zip(present, results, strict=True)), findings, bounds.source, rule, cut


def _captures(run: EnergybenchRun, options: ReanalysisOptions, bounds_for: BoundsFor):
    pairs: list[tuple[RunWindow, WindowResult]] = []
    findings: list[Finding] = []
    rules: set[str] = set()
    bounds: Bounds | None = None
    cut: list[str] = []
    for k, w in enumerate(run.windows):
        path = w.raw_file
        if path is None or not path.is_file():
            cut.append(f"{path.name if path else w.label} is missing")
            continue
        trace = open_trace(path)
        meta = trace.metadata.get("run") or {}
        if meta.get("kind") != "energybench-capture":
            raise TraceFileError("no capture metadata: not written by this run", context=str(path))
        problem = capture_truncation(path, trace, meta)
        if problem is not None:
            cut.append(f"{path.name}: {problem}")
            continue
        bounds = bounds_for(trace)
        report, found, rule = capture_report(path, trace, meta, options, bounds, k)
        for f in found:
            f.window = k
        findings += found
        rules.add(rule)
        result = replace(report.windows[0], index=w.index)
        pairs.append((w, result))
    source = bounds.source if bounds is not None else "no capture file read"
    rule = "each capture's window by the runner's rule: " + "; ".join(sorted(rules))
    return pairs, findings, source, rule, "; ".join(cut)
