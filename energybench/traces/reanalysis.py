"""Re-analysis of any recording energybench reads, as one library call the CLI (``energybench
analyze``) and the submission checker share: :func:`reanalyze`.

What ``path`` holds decides the rule (stated in the result's ``rule``):
- an energybench run folder (or its trace file with results.json beside it): the windows the
  run measured, found again in the raw files and compared with results.json
  (:mod:`energybench.traces.reanalysis_run`);
- an energybench capture file: the capture's window by the runner's rule
  (:func:`energybench.analysis.capture.capture_window`) from the trigger edges it records;
- any other trace file: timestamp edges paired in order (options: line, polarity, skipped
  leading edges, minimum pulse width); an energybench recording says which line and polarity
  its run used, and how many windows it planned;
- an MLCommons-runner or EEMBC-EnergyRunner energy folder: its own events (the rule chosen
  explicitly), compared with its results.txt;
- a folder with results.txt only: :class:`~energybench.errors.NoRawDataError`.

Checks on every kind: values the instrument could not have measured (``bounds_for`` gives the
bounds of a trace's instrument; generic bounds otherwise) raise ImplausibleDataError unless
``allow_implausible`` (then they are listed, and infinite samples count as missing); a
recording holding fewer windows than it promised raises TruncatedRecordingError unless
``allow_truncated``. Errors carry ``remedy`` in their details: the option that would allow
what was refused (the CLI names its own flag for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from energybench.analysis.capture import capture_window, check_edges_agree
from energybench.analysis.edges import edge_line
from energybench.analysis.integrate import WindowResult
from energybench.analysis.plausibility import Bounds, Finding, SampleCheck, window_findings
from energybench.analysis.report import AnalysisReport, analyze_trace, analyze_windows
from energybench.analysis.stats import Summary, json_ready, nan_to_none
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window
from energybench.errors import (
    AnalysisError,
    ImplausibleDataError,
    TraceFileError,
    TruncatedRecordingError,
)
from energybench.traces.baseline_rows import add_baselines, baseline_summary
from energybench.traces.folders import locate, require_raw_data

BoundsFor = Callable[[Trace], Bounds]


@dataclass(frozen=True)
class ReanalysisOptions:
    """What the user asked for; None means "not given" (the recording's own rule applies)."""

    sync_line: str | None = None
    polarity: str | None = None
    inferences: int | None = None
    expected_windows: int | None = None
    skip_edges: int | None = None
    min_pulse_s: float | None = None
    allow_missing: bool = False
    allow_implausible: bool = False
    allow_truncated: bool = False
    runner_rule: bool = False  # MLCommons runner folders: the runner's last-two rule
    # energybench run folders (streams): re-integrates each window with a calibration applied
    # (the caller builds it, e.g. from the run's own provenance; ``correction_label`` says which)
    correct: Callable[[Trace, WindowResult], WindowResult] | None = None
    correction_label: str | None = None
    baseline: bool = False  # the idle baseline after each window and the energy above it

    @property
    def edge_options(self) -> list[str]:
        """The options that choose edges themselves (trace files only)."""
        names = {
            "sync_line": self.sync_line,
            "polarity": self.polarity,
            "min_pulse_s": self.min_pulse_s,
        }
        return [k for k, v in names.items() if v is not None]

    @property
    def window_options_given(self) -> bool:
        return bool(self.edge_options) or self.skip_edges is not None


@dataclass
class Reanalysis:
    """The outcome: one row per window, statistics, and what was checked or assumed."""

    path: Path
    kind: str  # "trace", "capture", "energybench run", "mlcommons", "eembc"
    rule: str
    rows: list[dict[str, Any]]
    summary: dict[str, Summary | None]
    bounds: str
    implausible: list[Finding] = field(default_factory=list)
    truncated: str | None = None
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_report(
        cls,
        path: Path,
        kind: str,
        rule: str,
        report: AnalysisReport,
        bounds: Bounds,
        findings: list[Finding],
        truncated: str | None = None,
        warnings: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Reanalysis:
        """The result of one analysis report: its rows and statistics."""
        summary = {
            "energy_per_inference_j": report.energy_per_inference_j,
            "energy_j": report.energy_j,
            "latency_s": report.latency_s,
        }
        rows = [r.to_dict() for r in report.windows]
        return cls(path, kind, rule, rows, summary, bounds.source, findings, truncated,
                   list(warnings or ()), dict(extra or {}))  # fmt: skip

    @property
    def median_energy_per_inference_j(self) -> float | None:
        s = self.summary.get("energy_per_inference_j")
        return s.median if s is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and infinite numbers are written as null (``implausible`` and the
        rows say where they came from)."""
        out: dict[str, Any] = {
            "path": str(self.path),
            "kind": self.kind,
            "rule": self.rule,
            "windows": [nan_to_none(r) for r in self.rows],
            "median_energy_per_inference_j": self.median_energy_per_inference_j,
            **{k: (s.to_dict() if s is not None else None) for k, s in self.summary.items()},
            "bounds": self.bounds,
            "implausible": [f.to_dict() for f in self.implausible],
            "truncated": self.truncated,
            "warnings": list(self.warnings),
        }
        out.update(self.extra)
        return json_ready(out)


def _generic(trace: Trace) -> Bounds:
    return Bounds.generic()


def reanalyze(
    path: Path | str,
    options: ReanalysisOptions | None = None,
    *,
    bounds_for: BoundsFor | None = None,
) -> Reanalysis:
    """Re-analyse whatever ``path`` holds (see the module docstring)."""
    options = options or ReanalysisOptions()
    bounds_for = bounds_for or _generic
    located = locate(path)
    require_raw_data(located)
    if located.kind == "trace":
        return _trace_file(located.path, options, bounds_for)
    if located.kind == "energybench":
        from energybench.traces.reanalysis_run import reanalyze_run

        return reanalyze_run(located.path, options, bounds_for)
    from energybench.traces.reanalysis_published import reanalyze_runner_folder

    return reanalyze_runner_folder(located.path, located.kind, options)


def open_trace(path: Path) -> Trace:
    """A .jls or .csv trace file."""
    if path.suffix.lower() == ".jls":
        from energybench.traces.jls import read_jls

        return read_jls(path)
    from energybench.traces.csv_io import read_csv

    return read_csv(path)


def checked(
    where: Path,
    trace: Trace,
    bounds: Bounds,
    options: ReanalysisOptions,
    analyse: Callable[[Trace], AnalysisReport],
) -> tuple[AnalysisReport, list[Finding]]:
    """``analyse`` on the trace with every sample it reads checked against ``bounds``, then
    its windows' energies; findings raise ImplausibleDataError unless allowed (then infinite
    samples are read as missing and the analysis repeated if they made it fail)."""
    check = SampleCheck(trace, bounds)
    report, error = None, None
    try:
        report = analyse(check.observe())
    except AnalysisError as exc:
        error = exc
    findings = list(check.findings.values())
    if report is not None:
        check.place([(r.index, r.start_position, r.stop_position) for r in report.windows])
        findings += window_findings(report.windows)
    if findings and not options.allow_implausible:
        more = f" (and {len(findings) - 1} other kind(s))" if len(findings) > 1 else ""
        raise ImplausibleDataError(
            f"implausible data: {findings[0].describe()}{more}",
            context=str(where),
            remedy="allow_implausible",
        ) from error
    if error is not None:
        if check.infinite:  # allowed: infinite samples carry no measurement, they are missing
            report = analyse(check.with_infinite_as_missing())
        elif isinstance(error, ImplausibleDataError):  # a sum beyond any float: no number
            raise ImplausibleDataError(
                f"{error.one_line()}; even allowed, no energy can be given for it",
                context=str(where),
            ) from error
        else:
            raise error
        check.place([(r.index, r.start_position, r.stop_position) for r in report.windows])
    return report, findings  # type: ignore[return-value]


def _trace_file(path: Path, options: ReanalysisOptions, bounds_for: BoundsFor) -> Reanalysis:
    trace = open_trace(path)
    run = trace.metadata.get("run") or {}
    kind = run.get("kind")
    if kind == "energybench-capture" and not options.window_options_given:
        return _capture(path, trace, run, options, bounds_for(trace))
    if kind == "energybench-rail-capture" and not options.window_options_given:
        return _rail_capture(path, trace, run, options, bounds_for(trace))
    if kind == "energybench-run" and not options.window_options_given:
        from energybench.traces.reanalysis_run import results_beside

        folder = results_beside(path)
        if folder is not None:
            from energybench.traces.reanalysis_run import reanalyze_run

            return reanalyze_run(folder, options, bounds_for)
    return _plain_trace(path, trace, run, options, bounds_for(trace))


def _plain_trace(
    path: Path, trace: Trace, run: dict, options: ReanalysisOptions, bounds: Bounds
) -> Reanalysis:
    """Edges paired in order; an energybench recording's sync settings and plan apply."""
    sync = run.get("sync") or {}
    line = options.sync_line
    if line is None and sync.get("line") is not None:
        try:
            line = edge_line(trace, str(sync["line"]))
        except AnalysisError:
            line = None
    polarity = options.polarity or sync.get("polarity") or "falling"
    min_pulse_s = (
        options.min_pulse_s if options.min_pulse_s is not None else sync.get("min_pulse_s", 0.0)
    )
    cut = bool(run) and "closed" not in trace.metadata

    def analyse(t: Trace) -> AnalysisReport:
        return analyze_trace(
            t,
            sync_line=line,
            polarity=polarity,  # type: ignore[arg-type]
            inferences=options.inferences or 0,
            expected_windows=options.expected_windows,
            skip_leading_edges=options.skip_edges or 0,
            min_pulse_s=min_pulse_s or 0.0,
            allow_missing=options.allow_missing,
            drop_unpaired_last=cut,
        )

    report, findings = checked(path, trace, bounds, options, analyse)
    truncated = None
    if run.get("planned_windows") is not None:
        truncated = _plan_truncation(path, trace, run, len(report.windows), cut, options)
    edges = report.edges
    skipped = f", {options.skip_edges} leading edge(s) skipped" if options.skip_edges else ""
    rule = f"consecutive {polarity} edges paired on {edges.source if edges else line}{skipped}"
    extra = {"trace": report.to_dict()["trace"]}
    if edges is not None:
        extra["edges"] = report.to_dict()["edges"]
    result = Reanalysis.of_report(path, "trace", rule, report, bounds, findings, truncated,
                                  extra=extra)  # fmt: skip
    if options.baseline:
        add_baselines(result.rows, trace)
        result.extra["baseline"] = baseline_summary(result.rows)
    return result


def _plan_truncation(
    path: Path, trace: Trace, run: dict, present: int, cut: bool, options: ReanalysisOptions
) -> str | None:
    planned = int(run["planned_windows"])
    if not cut and present >= planned:
        return None
    how = (
        "the writer never finished (no closing record)"
        if cut
        else "the recording was closed early: the run stopped"
    )
    probe = run.get("probe_windows", 0)
    text = (
        f"truncated: the run planned {planned} windows{f' ({probe} probe)' if probe else ''}, "
        f"the file holds {present} (last sample at t = {trace.duration_s:.6f} s); {how}"
    )
    if not options.allow_truncated:
        raise TruncatedRecordingError(text, context=str(path), remedy="allow_truncated")
    return text


def capture_truncation(path: Path, trace: Trace, run: dict) -> str | None:
    """A capture file holding fewer samples than the capture had, or never closed."""
    expected = run.get("n_samples")
    if "closed" in trace.metadata and (expected is None or trace.n_samples >= expected):
        return None
    return (
        f"truncated: the capture held {expected} samples, the file holds {trace.n_samples} "
        f"(last sample at t = {trace.duration_s:.6f} s)"
    )


def capture_report(
    path: Path, trace: Trace, run: dict, options: ReanalysisOptions, bounds: Bounds, index: int
) -> tuple[AnalysisReport, list[Finding], str]:
    """The capture's window by the runner's rule, from the trigger edges the file records
    (checked against the capture's own timestamp line when it has one)."""
    sync = run.get("sync") or {}
    rule: list[str] = []

    def analyse(t: Trace) -> AnalysisReport:
        found = capture_window(
            t,
            run.get("edge_positions") or [],
            sync_mode=str(sync.get("mode", "")),
            on_pin=bool(run.get("trigger_on_pin")),
            inferences=options.inferences or int(run.get("inferences") or 0),
            require_both_edges=bool(run.get("require_both_edges")),
        )
        if t.digital_names:
            line = edge_line(t, str(sync.get("line", "")))
            disagree = check_edges_agree(
                t, line, sync.get("polarity", "falling"), run.get("edge_positions") or []
            )
            if disagree is not None:
                raise disagree
        rule.append(found.rule)
        window = replace(found.window, index=index)
        return analyze_windows(t, [window], allow_missing=options.allow_missing)

    report, findings = checked(path, trace, bounds, options, analyse)
    return report, findings, rule[-1]


def _capture(
    path: Path, trace: Trace, run: dict, options: ReanalysisOptions, bounds: Bounds
) -> Reanalysis:
    truncated = capture_truncation(path, trace, run)
    if truncated and not options.allow_truncated:
        raise TruncatedRecordingError(truncated, context=str(path), remedy="allow_truncated")
    report, findings, rule = capture_report(
        path, trace, run, options, bounds, int(run.get("window", 0))
    )
    extra = {
        "trace": report.to_dict()["trace"],
        "capture": {
            k: run.get(k) for k in ("window", "attempt", "edge_positions", "trigger_on_pin", "sync")
        },
    }
    result = Reanalysis.of_report(path, "capture", f"capture: {rule}", report, bounds, findings,
                                  truncated, extra=extra)  # fmt: skip
    if options.baseline:
        add_baselines(result.rows, trace)
        result.extra["baseline"] = baseline_summary(result.rows)
    return result


def _rail_capture(
    path: Path, trace: Trace, run: dict, options: ReanalysisOptions, bounds: Bounds
) -> Reanalysis:
    """A further rail's output digitized in the main capture (docs/rails.md): its window is the
    main rail's, at the edge positions the file records (the same acquisition's sample ids)."""
    start, stop = run.get("start_position"), run.get("stop_position")
    if start is None or stop is None:
        raise TraceFileError(
            f"rail capture without a window: the {run.get('main_rail')} rail had none here",
            context=str(path),
        )
    window = Window(int(run.get("window", 0)), float(start), float(stop),
                    options.inferences or int(run.get("inferences") or 0))  # fmt: skip

    def analyse(t: Trace) -> AnalysisReport:
        return analyze_windows(t, [window], allow_missing=options.allow_missing)

    report, findings = checked(path, trace, bounds, options, analyse)
    rule = (
        f"rail {run.get('rail')} (output {run.get('output')}): the {run.get('main_rail')} "
        f"rail's edges from {run.get('main_capture')}, same acquisition"
    )
    extra = {"trace": report.to_dict()["trace"], "rail": {k: run.get(k) for k in (
        "rail", "output", "main_rail", "main_capture", "window", "attempt")}}  # fmt: skip
    return Reanalysis.of_report(path, "capture", rule, report, bounds, findings, None, extra=extra)
