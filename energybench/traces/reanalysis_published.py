"""Re-analysis of a published runner energy folder (MLCommons runner or EEMBC EnergyRunner):
its own events by the rule the user chooses (exactly two per trial by default; the MLCommons
runner's last two with ``runner_rule``; ``skip_edges`` leading events), its energy bins checked
as energy drawn (never negative), and its published figures beside ours."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from energybench.analysis.plausibility import Bounds
from energybench.analysis.report import AnalysisReport, analyze_windows
from energybench.analysis.trace import Trace
from energybench.errors import EdgeCountError, UsageError
from energybench.traces.baseline_rows import add_baselines, baseline_summary
from energybench.traces.reanalysis import Reanalysis, ReanalysisOptions, checked

RUNNER_BOUNDS = Bounds.generic(unipolar=True, why="runner energy bins: energy drawn, never < 0")


def reanalyze_runner_folder(folder: Path, kind: str, options: ReanalysisOptions) -> Reanalysis:
    """An MLCommons-runner or EEMBC-EnergyRunner folder: its events, its rule, its figures."""
    if options.edge_options:
        raise UsageError(
            f"{', '.join(options.edge_options)} apply to trace files; a runner folder's windows "
            "come from its own timestamp events",
            context=str(folder),
        )
    if kind == "mlcommons":
        from energybench.traces.mlcommons import import_mlcommons

        run = import_mlcommons(
            folder,
            skip_leading_events=options.runner_rule,
            skip_events=options.skip_edges or 0,
            allow_truncated=options.allow_truncated,
        )
    else:
        from energybench.traces.eembc import import_eembc

        boot = {} if options.skip_edges is None else {"boot_events": options.skip_edges}
        run = import_eembc(folder, allow_truncated=options.allow_truncated, **boot)  # type: ignore[arg-type]
    windows = tuple(run.windows)
    if options.expected_windows is not None and len(windows) != options.expected_windows:
        raise EdgeCountError(
            f"expected {options.expected_windows} window(s), the folder has {len(windows)}",
            context=str(folder),
        )
    if options.inferences:
        windows = tuple(replace(w, inferences=options.inferences) for w in windows)

    def analyse(t: Trace) -> AnalysisReport:
        return analyze_windows(t, windows, allow_missing=options.allow_missing)

    report, findings = checked(run.path, run.trace, RUNNER_BOUNDS, options, analyse)
    extra = {
        "runner": run.runner,
        "published_energy_per_inference_j": list(run.published_energy_per_inference_j),
        "published_median_energy_per_inference_j": run.published_median_energy_per_inference_j,
        "expected_windows": run.expected_windows,
    }
    result = Reanalysis.of_report(run.path, run.runner, run.rule, report, RUNNER_BOUNDS,
                                  findings, run.truncation, list(run.warnings), extra)  # fmt: skip
    if options.baseline:
        add_baselines(result.rows, run.trace)
        result.extra["baseline"] = baseline_summary(result.rows)
    return result
