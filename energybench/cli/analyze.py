"""`energybench analyze`: energy per window and per inference of a trace or a runner folder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.errors import EdgeCountError, TraceFileError, UsageError

_POLARITIES = ("falling", "rising", "both")


def parse_sync(text: str) -> tuple[str, str]:
    """``LINE[:rising|falling|both]`` → (line, polarity); the default polarity is falling."""
    line, _, polarity = text.rpartition(":")
    if not line or polarity not in _POLARITIES:
        line, polarity = text, "falling"
    if not line:
        raise UsageError("empty line name", context="--sync")
    return line, polarity


@app.command()
def analyze(
    path: Annotated[Path, typer.Argument(help="Trace file (.jls, .csv) or runner energy folder.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sync: Annotated[
        str | None,
        typer.Option(
            "--sync",
            metavar="LINE[:rising|falling|both]",
            help="Timestamp line and edge polarity (default: the only digital line, falling).",
        ),
    ] = None,
    inferences: Annotated[
        int | None, typer.Option("--inferences", min=0, help="Inferences per window.")
    ] = None,
    windows: Annotated[
        int | None, typer.Option("--windows", min=1, help="Expected number of windows.")
    ] = None,
    skip_edges: Annotated[
        int, typer.Option("--skip-edges", min=0, help="Leading edges to skip (boot pulse).")
    ] = 0,
    min_pulse_us: Annotated[
        float, typer.Option("--min-pulse-us", min=0.0, help="Drop pulses shorter than this (µs).")
    ] = 0.0,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Integrate windows with dropped samples (flagged)."),
    ] = False,
) -> None:
    """Analyse a trace file or a runner energy folder: one row per window, then the median."""
    from energybench.analysis.report import analyze_trace
    from energybench.analysis.trace import Trace

    if not path.exists():
        raise TraceFileError("no such file or folder", context=str(path))
    from energybench.traces import open_recording

    recording = open_recording(path)
    published = None
    if isinstance(recording, Trace):
        line, polarity = parse_sync(sync) if sync else (None, "falling")
        report = analyze_trace(
            recording,
            sync_line=line,
            polarity=polarity,
            inferences=inferences or 0,
            expected_windows=windows,
            skip_leading_edges=skip_edges,
            min_pulse_s=min_pulse_us * 1e-6,
            allow_missing=allow_missing,
        )
    else:
        report, published = _analyze_run(
            recording, sync, skip_edges, min_pulse_us, inferences, windows, allow_missing
        )
    result = report.to_dict()
    result["path"] = str(path)
    if published is not None:
        result.update(published)
    if json_out:
        typer.echo(json.dumps(result, allow_nan=False, default=_jsonable))
    else:
        _print_table(result)


def _analyze_run(run, sync, skip_edges, min_pulse_us, inferences, windows, allow_missing):
    """A runner folder: its own windows (from its timestamps), re-integrated by us."""
    from dataclasses import replace

    from energybench.analysis.report import analyze_windows

    context = str(run.path)
    if sync or skip_edges or min_pulse_us:
        raise UsageError(
            "--sync, --skip-edges and --min-pulse-us apply to trace files; a runner folder's "
            "windows come from its own timestamp files",
            context=context,
        )
    run_windows = tuple(run.windows)
    if windows is not None and len(run_windows) != windows:
        raise EdgeCountError(
            f"expected {windows} window(s), the folder has {len(run_windows)}", context=context
        )
    if inferences:
        run_windows = tuple(replace(w, inferences=inferences) for w in run_windows)
    report = analyze_windows(run.trace, run_windows, allow_missing=allow_missing)
    published = {
        "runner": run.runner,
        "published_energy_per_inference_j": [
            v if math.isfinite(v) else None for v in run.published_energy_per_inference_j
        ],
        "published_median_energy_per_inference_j": run.published_median_energy_per_inference_j,
    }
    return report, published


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _scale(values: list[float], base: str) -> tuple[float, str]:
    """A factor and unit prefix that keep the largest |value| readable (J → mJ, µJ, ...)."""
    peak = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    for factor, prefix in ((1.0, ""), (1e3, "m"), (1e6, "µ"), (1e9, "n")):
        if peak * factor >= 1.0:
            return factor, prefix + base
    return 1e9, "n" + base


def _print_table(result: dict) -> None:
    from rich.table import Table

    from energybench.cli.render import data_console

    rows = result["windows"]
    e_factor, e_unit = _scale([w["energy_j"] for w in rows], "J")
    i_factor, i_unit = _scale([w["energy_per_inference_j"] for w in rows], "J")
    p_factor, p_unit = _scale([w["mean_power_w"] for w in rows], "W")
    table = Table(title=result["path"])
    for header in (
        "window",
        "start (s)",
        "duration (s)",
        "inferences",
        f"energy ({e_unit})",
        f"energy/inference ({i_unit})",
        f"mean power ({p_unit})",
        "missing samples",
    ):
        table.add_column(header, justify="right")
    for w in rows:
        per_inf = w["energy_per_inference_j"]
        table.add_row(
            str(w["index"]),
            f"{w['start_s']:.6f}",
            f"{w['duration_s']:.6f}",
            str(w["inferences"]),
            f"{w['energy_j'] * e_factor:.4f}",
            "—" if per_inf is None else f"{per_inf * i_factor:.4f}",
            f"{w['mean_power_w'] * p_factor:.4f}",
            str(w["missing_samples"]) + (" (incomplete)" if w["incomplete"] else ""),
        )
    console = data_console()
    console.print(table)
    stats = result["energy_per_inference_j"]
    if stats is None:
        stats, what = result["energy_j"], "energy per window"
        factor, unit = e_factor, e_unit
    else:
        what = "energy per inference"
        factor, unit = i_factor, i_unit
    console.print(
        f"Median {what}: {stats['median'] * factor:.4f} {unit} "
        f"({stats['confidence']:.0%} bootstrap CI {stats['ci_low'] * factor:.4f} – "
        f"{stats['ci_high'] * factor:.4f} {unit}, n = {stats['n']}, seed {stats['seed']})"
    )
    edges = result.get("edges")
    if edges is not None:
        console.print(
            f"Edges: {edges['count']} {edges['polarity']} on {edges['source']}; "
            f"{edges['glitches_dropped']} pulse(s) shorter than {edges['min_pulse_s'] * 1e6:g} µs "
            "dropped"
        )
    published = result.get("published_median_energy_per_inference_j")
    if published is not None and result["energy_per_inference_j"] is not None:
        ours = result["median_energy_per_inference_j"]
        console.print(
            f"Published median ({result['runner']} runner): {published * i_factor:.4f} {i_unit} "
            f"(ours differs by {(ours / published - 1) * 100:+.3f} %)"
        )
