"""`energybench analyze`: energy per window and per inference of anything energybench reads
(trace files, capture files, energybench run folders, MLCommons/EEMBC runner folders); the
library call is :func:`energybench.traces.reanalysis.reanalyze`, this module parses and renders."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.errors import EnergybenchError, UsageError

_POLARITIES = ("falling", "rising", "both")
# what each refusal's remedy is called on this command line
REMEDIES = {
    "allow_truncated": "pass --allow-truncated to analyse what the recording holds (flagged)",
    "allow_implausible": "pass --allow-implausible to analyse it anyway (flagged; infinite "
    "samples count as missing)",
    "allow_missing": "pass --allow-missing to integrate the samples present (flagged)",
    "leading_events": "pass --runner-rule to take the last two events of each trial (the "
    "MLCommons runner's rule), or --skip-edges N to skip the first N events of each trial",
}


def parse_sync(text: str) -> tuple[str, str]:
    """``LINE[:rising|falling|both]`` → (line, polarity); the default polarity is falling."""
    line, _, polarity = text.rpartition(":")
    if not line or polarity not in _POLARITIES:
        line, polarity = text, "falling"
    if not line:
        raise UsageError("empty line name", context="--sync")
    return line, polarity


def _remedy_note(exc: EnergybenchError) -> str | None:
    remedy = exc.details.get("remedy")
    if remedy == "skip_edges":
        return f"pass --skip-edges {exc.details.get('skip_edges')}"
    return REMEDIES.get(remedy) if isinstance(remedy, str) else None


@app.command()
def analyze(
    path: Annotated[
        Path,
        typer.Argument(
            help="Trace file (.jls, .csv), capture file, energybench run folder, or MLCommons/"
            "EEMBC runner energy folder."
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sync: Annotated[
        str | None,
        typer.Option(
            "--sync",
            metavar="LINE[:rising|falling|both]",
            help="Timestamp line and edge polarity (trace files; default: the recording's own, "
            "else the only digital line, falling).",
        ),
    ] = None,
    inferences: Annotated[
        int | None, typer.Option("--inferences", min=0, help="Inferences per window.")
    ] = None,
    windows: Annotated[
        int | None, typer.Option("--windows", min=1, help="Expected number of windows.")
    ] = None,
    skip_edges: Annotated[
        int | None,
        typer.Option(
            "--skip-edges",
            min=0,
            help="Leading edges to skip: of the trace (boot pulse), of each MLCommons trial, or "
            "the EEMBC boot events (default 1).",
        ),
    ] = None,
    runner_rule: Annotated[
        bool,
        typer.Option(
            "--runner-rule",
            help="MLCommons runner folders: the runner's own rule, the last two events of each "
            "trial.",
        ),
    ] = False,
    min_pulse_us: Annotated[
        float | None,
        typer.Option("--min-pulse-us", min=0.0, help="Drop pulses shorter than this (µs)."),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Integrate windows with dropped samples (flagged)."),
    ] = False,
    allow_implausible: Annotated[
        bool,
        typer.Option(
            "--allow-implausible",
            help="Analyse values the instrument could not have measured (flagged).",
        ),
    ] = False,
    allow_truncated: Annotated[
        bool,
        typer.Option(
            "--allow-truncated",
            help="Analyse a recording holding fewer windows than it promised (flagged).",
        ),
    ] = False,
    calibration: Annotated[
        str,
        typer.Option(
            "--calibration",
            help="energybench run folders: run (the record the run applied, default), none "
            "(raw), auto (the newest valid record in the store for the run's meter) or a "
            "record file.",
        ),
    ] = "run",
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline",
            help="Also measure the idle baseline in the quiet span after each window's end "
            "edge and the energy per inference above it.",
        ),
    ] = False,
) -> None:
    """Analyse a recording: one row per window, the median with its uncertainty (U, k=2, when
    the recording names a meter with a profile), and what was checked."""
    from energybench.calibration.trace_budget import trace_uncertainty
    from energybench.instruments.profiles import bounds_for_trace
    from energybench.traces.reanalysis import ReanalysisOptions, reanalyze

    line, polarity = parse_sync(sync) if sync else (None, None)
    options = ReanalysisOptions(
        sync_line=line,
        polarity=polarity,
        inferences=inferences,
        expected_windows=windows,
        skip_edges=skip_edges,
        min_pulse_s=None if min_pulse_us is None else min_pulse_us * 1e-6,
        allow_missing=allow_missing,
        allow_implausible=allow_implausible,
        allow_truncated=allow_truncated,
        runner_rule=runner_rule,
        baseline=baseline,
    )
    correct, label, correction = _calibration(path, calibration)
    options = dataclasses.replace(options, correct=correct, correction_label=label)
    traces: list = []  # every recording the analysis reads: its meter gives the budget

    def bounds_for(trace):
        traces.append(trace)
        return bounds_for_trace(trace)

    try:
        result = reanalyze(path, options, bounds_for=bounds_for).to_dict()
        uncertainty = trace_uncertainty(
            traces,
            result["windows"],
            correction=correction,
            current_range_a=next(iter(correction.current), None) if correction else None,
        )
        result.update(uncertainty.to_dict())
    except EnergybenchError as exc:
        note = _remedy_note(exc)
        if note:
            exc.add_note(note)
        raise
    if json_out:
        typer.echo(json.dumps(result, allow_nan=False))
    else:
        from energybench.cli.analyze_table import print_result

        print_result(result)


def _calibration(path: Path, choice: str):
    """(the window re-integration with the chosen calibration, its label, the Correction), or
    (None, None, None)."""
    from energybench.traces.folders import locate

    try:
        located = locate(path)
    except EnergybenchError:
        return None, None, None
    if located.kind != "energybench":
        if choice not in ("run", "none"):
            raise UsageError(
                "a calibration applies to energybench run folders only", context="--calibration"
            )
        return None, None, None
    import datetime as dt

    from energybench.calibration.apply import integrate_corrected
    from energybench.calibration.records import (
        correction_from_provenance,
        load_record,
        search_records,
        store_dir,
    )
    from energybench.traces.energybench_run import read_energybench_run

    run = read_energybench_run(located.path)
    saved = json.loads(run.results_path.read_text(encoding="utf-8"))
    provenance = saved.get("provenance", {})
    if choice == "none":
        return None, None, None
    if choice == "run":
        correction = correction_from_provenance(provenance.get("calibration"))
        label = "the run's own" if correction else None
    elif choice == "auto":
        meter = {k: str(v) for k, v in (provenance.get("meter") or {}).items()}
        chosen = (saved.get("figures", {}).get("current_range") or {}).get("chosen_a")
        found = search_records(
            store_dir(), meter, dt.datetime.now(dt.UTC),
            range_a=None if chosen is None else float(chosen),
            range_source="the run's figures.current_range", any_range=chosen is None,
        )  # fmt: skip
        record, reason = found.record, found.reason
        if record is None:
            raise UsageError(reason, context="--calibration auto")
        correction, label = record.correction(), f"record {record.record_id}"
    else:
        record = load_record(Path(choice))
        correction, label = record.correction(), f"record {record.record_id}"
    if correction is None:
        return None, None, None

    range_key = next(iter(correction.current), None)

    def correct(trace, r):
        return integrate_corrected(
            trace, r.start_position, r.stop_position, r.inferences, correction, range_key,
            allow_missing=r.incomplete,
        )  # fmt: skip

    return correct, f"{label} ({', '.join(correction.record_ids)})", correction
