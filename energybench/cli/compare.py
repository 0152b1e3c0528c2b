"""`energybench compare A B` (did B cost more than A, and is the difference real?) and
`energybench compare --history PATH...` (the trend of many runs); exit status 4 on a
regression beyond the threshold, so a CI job can gate on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.errors import UsageError


@app.command()
def compare(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="A and B: run folders, submission trees or folders of several runs of one "
            "build (with --history: any number of folders holding runs)."
        ),
    ],
    threshold_pct: Annotated[
        float,
        typer.Option("--threshold-pct", help="Tolerated worsening in percent (exit 4 beyond)."),
    ] = 0.0,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence level of intervals and verdicts.")
    ] = 0.95,
    gate: Annotated[
        str,
        typer.Option("--gate", help="Figures that decide exit 4: energy,latency,accuracy or all."),
    ] = "energy",
    history: Annotated[
        bool, typer.Option("--history", help="The trend over all runs found, build by build.")
    ] = False,
    order: Annotated[
        str, typer.Option("--order", help="History order: time or label (natural sort).")
    ] = "time",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    markdown_out: Annotated[
        bool, typer.Option("--markdown", help="Print a markdown table (pull-request comment).")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the HTML report to this file.")
    ] = None,
) -> None:
    """Compare two builds per workload: energy per inference, latency and accuracy, each with
    its confidence interval, minimum detectable difference and verdict."""
    if json_out and markdown_out:
        raise UsageError("choose one of --json and --markdown", context="compare")
    gates = tuple(g.strip() for g in gate.split(",") if g.strip())
    if history:
        code = _history(paths, order, confidence, threshold_pct, json_out, markdown_out, report)
    else:
        if len(paths) != 2:
            raise UsageError(
                f"needs exactly two paths, A and B (got {len(paths)}); --history takes many",
                context="compare",
            )
        code = _compare(paths, confidence, threshold_pct, gates, json_out, markdown_out, report)
    if code:
        raise typer.Exit(code)


def _compare(paths, confidence, threshold_pct, gates, json_out, markdown_out, report) -> int:
    from energybench.report.compare import compare_paths
    from energybench.report.text import explain, headline, markdown, metric_row

    result = compare_paths(
        paths[0], paths[1], confidence=confidence, threshold_pct=threshold_pct, gate=gates
    )
    if report is not None:
        _write_report(report, comparison=result)
    if json_out:
        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    elif markdown_out:
        typer.echo(markdown(result), nl=False)
    else:
        from rich.table import Table

        from energybench.cli.render import data_console

        console = data_console()
        table = Table(title=f"B = {result.b_path}  vs  A = {result.a_path}")
        level = f"{confidence:.0%} CI"
        for header in (
            "workload",
            "figure",
            "A ± U (k=2)",
            "B ± U (k=2)",
            "B − A",
            level,
            "min. detectable",
            "verdict",
        ):
            table.add_column(
                header, justify="left" if header in ("workload", "figure", "verdict") else "right"
            )
        for m in result.metrics:
            r = metric_row(m)
            table.add_row(
                r["workload"],
                r["figure"],
                r["a"],
                r["b"],
                r["difference"],
                r["ci"],
                r["mdd"],
                r["verdict"],
            )
        console.print(table)
        for m in result.metrics:
            console.print(f"- {explain(m)}", highlight=False)
        for text in result.notes:
            console.print(f"- note: {text}", highlight=False)
        for text in result.problems:
            console.print(f"- problem: {text}", highlight=False)
        console.print(headline(result), highlight=False)
    return result.exit_code


def _history(paths, order, confidence, threshold_pct, json_out, markdown_out, report) -> int:
    from energybench.report.history import histories
    from energybench.report.runs import find_runs
    from energybench.report.text import history_markdown

    runs = [r for p in paths for r in find_runs(p)]
    result = histories(runs, order=order, confidence=confidence, threshold_pct=threshold_pct)
    if report is not None:
        _write_report(report, histories=result)
    if json_out:
        typer.echo(json.dumps([h.to_dict() for h in result], indent=2, allow_nan=False))
    else:
        typer.echo(history_markdown(result), nl=False)
    return max(h.exit_code for h in result)


def _write_report(path: Path, **content) -> None:
    from energybench.cli.render import message_console
    from energybench.report.html import write_report

    write_report(path, **content)
    message_console().print(f"report: {path}")
