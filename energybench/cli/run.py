"""`energybench run WORKLOAD --mode ... --bench FILE --dataset DIR`: drive the DUT through a
workload while the meter records; progress on stderr, the table (or JSON) on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app


@app.command()
def run(
    workload: Annotated[
        str, typer.Argument(help="kws01, vww01, ic01, ad01, sww01 or a .toml path.")
    ],
    bench: Annotated[Path, typer.Option("--bench", help="Bench file (TOML) or devices.yaml.")],
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset",
            help="Dataset root (EEMBC layout: <root>/<workload>/; sww01: the truth JSON).",
        ),
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="energy | performance | accuracy | all.")
    ] = "all",
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where run folders go.")] = Path(
        "runs"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Skip the PNG per window.")] = False,
    calibration: Annotated[
        str,
        typer.Option(
            "--calibration",
            help="auto (the newest valid record for the meter in the store), none, or a "
            "record file; a missing/expired/mismatching record leaves the run uncalibrated.",
        ),
    ] = "auto",
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="The build under test (e.g. a commit id), kept in results.json; "
            "`energybench compare` groups and orders runs by it.",
        ),
    ] = None,
) -> None:
    """Run a workload in one mode (or all three) and write runs/<UTC>_<workload>_<mode>/."""
    from energybench.cli.render import data_console, message_console
    from energybench.cli.runview import RichProgress, render_table, summarize
    from energybench.runner.bench import load_bench
    from energybench.runner.context import RunOptions
    from energybench.runner.run import run_workload
    from energybench.workloads.definitions import load_workload

    load_workload(workload)  # a wrong workload name fails before the bench file is read
    bench_cfg = load_bench(bench)
    options = RunOptions(plots=not no_plots, label=label, calibration=calibration)
    with RichProgress(message_console()) as progress:
        results = run_workload(
            bench_cfg, workload, mode, dataset, runs_dir, options=options, progress=progress
        )
    row = summarize(results)
    if json_out:
        payload = {"summary": row, "modes": [r.to_dict() for r in results]}
        typer.echo(json.dumps(payload, indent=2))
    else:
        console = data_console()
        render_table(
            [row], console, title=f"energybench run — {bench_cfg.name}", calibration_column=True
        )
        for r in results:
            console.print(f"{r.mode}: {r.folder}")
    if not row["valid"]:
        raise typer.Exit(3)
