"""`energybench report PATH [B]`: one self-contained HTML file for a run folder, a folder of
runs or a submission tree, a comparison (two paths, or the JSON `energybench compare --json`
saved) or, with --history, the trend of many runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.errors import ResultsError, UsageError


@app.command()
def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="A run folder, folder of runs or submission tree; two paths (A B) or a saved "
            "`compare --json` file for a comparison."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    history: Annotated[
        bool, typer.Option("--history", help="The trend of all runs found, build by build.")
    ] = False,
    order: Annotated[str, typer.Option("--order", help="History order: time or label.")] = "time",
) -> None:
    """Write one HTML file (no network needed to view it) and print its path."""
    from energybench.cli.render import message_console
    from energybench.report.compare import compare_paths
    from energybench.report.history import histories
    from energybench.report.html import write_report
    from energybench.report.runs import find_runs

    content: dict = {}
    if history:
        runs = [r for p in paths for r in find_runs(p)]
        content["histories"] = histories(runs, order=order)
    elif len(paths) == 2:
        content["comparison"] = compare_paths(paths[0], paths[1])
        content["runs"] = find_runs(paths[0]) + find_runs(paths[1])
    elif (
        len(paths) == 1
        and paths[0].is_file()
        and paths[0].suffix == ".json"
        and paths[0].name != "results.json"
    ):
        saved = _saved_comparison(paths[0])
        content["comparison"] = compare_paths(
            saved["a"],
            saved["b"],
            confidence=saved["confidence"],
            threshold_pct=saved["threshold_pct"],
            gate=tuple(saved["gate"]),
        )
        content["runs"] = find_runs(saved["a"]) + find_runs(saved["b"])
    elif len(paths) == 1:
        content["runs"] = find_runs(paths[0])
    else:
        raise UsageError(
            f"takes one path, or two (A B) for a comparison; got {len(paths)}", context="report"
        )
    write_report(output, **content)
    size_mb = output.stat().st_size / 1e6
    message_console().print(f"report written ({size_mb:.2f} MB)")
    typer.echo(str(output))


def _saved_comparison(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read the comparison: {exc}", context=str(path)) from exc
    if not isinstance(data, dict) or data.get("kind") != "energybench comparison":
        raise ResultsError(
            "not a comparison saved by `energybench compare --json`", context=str(path)
        )
    return data
