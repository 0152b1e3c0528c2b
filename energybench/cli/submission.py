"""`energybench submission init|add|check`: build an MLPerf Tiny submission tree from run
folders and check it (ours or a published round). Data on stdout, messages on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app

submission_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="MLPerf Tiny submission trees: init, add run folders, check.",
)
app.add_typer(submission_app, name="submission")


@submission_app.command("init")
def init(
    root: Annotated[Path, typer.Argument(help="The tree's root (will hold closed/ or open/).")],
    division: Annotated[str, typer.Option("--division", help="closed or open.")],
    submitter: Annotated[str, typer.Option("--submitter", help="Organisation (folder name).")],
    version: Annotated[str, typer.Option("--version", help="Rules: v1.3 or v1.4.")] = "v1.4",
    system: Annotated[
        str | None, typer.Option("--system", help="Also write systems/<NAME>.toml.")
    ] = None,
) -> None:
    """Set up a submission tree: its settings, code/README.md, a system description."""
    from energybench.cli.render import message_console
    from energybench.submission.add import init_tree

    tree, written = init_tree(root, division, submitter, version, system)
    console = message_console()
    for path in written:
        console.print(f"wrote {path}")
    console.print(
        f"{tree.division}/{tree.submitter} ({tree.version}): next, `energybench submission add "
        f"{root} RUN_FOLDER... --system NAME`"
    )


@submission_app.command("add")
def add(
    root: Annotated[Path, typer.Argument(help="The tree's root (set up by init).")],
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run folders (or folders of run folders); none: re-render only."),
    ] = None,
    system: Annotated[str, typer.Option("--system", help="System name (results/<NAME>/).")] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a benchmark mode already placed.")
    ] = False,
) -> None:
    """Place run folders under results/<system>/<benchmark>/<mode>/ and render the system."""
    from energybench.cli.render import data_console, message_console
    from energybench.errors import UsageError
    from energybench.submission.add import add_runs
    from energybench.submission.tree import load_tree

    if not system:
        raise UsageError("the system name is required", context="--system")
    tree = load_tree(root)
    report = add_runs(tree, system, list(runs or []), replace=replace)
    console = data_console()
    for note in report.notes:
        message_console().print(f"note: {note}", highlight=False)
    for line in report.placed:
        console.print(f"placed {line}", highlight=False)
    for path in report.written:
        console.print(f"wrote {path}", highlight=False)
    if report.to_confirm:
        console.print(
            f"{len(report.to_confirm)} field(s) of systems/{system}.toml still to confirm (its "
            "to_confirm list; `submission check` warns about each)",
            highlight=False,
        )


@submission_app.command("check")
def check(
    root: Annotated[Path, typer.Argument(help="Folder holding closed/ and/or open/.")],
    version: Annotated[
        str | None,
        typer.Option("--version", help="Rules v1.3 or v1.4 (default: the tree's, else v1.4)."),
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the official summary CSV here.")
    ] = None,
    tolerance_pct: Annotated[
        float,
        typer.Option("--tolerance-pct", help="Published vs recomputed energy, in percent."),
    ] = 0.1,
    require_calibration: Annotated[
        bool,
        typer.Option("--require-calibration", help="A missing or expired calibration is an error."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a tree: official rules (and their verdict), energy from raw data, validity,
    provenance. One line per problem; exit status 1 when any is an error."""
    from energybench.cli.render import message_console
    from energybench.submission.check import check_tree
    from energybench.submission.check.csv_summary import write_summary_csv

    report = check_tree(
        root,
        version=version,
        tolerance=tolerance_pct / 100.0,
        require_calibration=require_calibration,
    )
    if csv_path is not None and report.official.crash:  # it writes an empty file then
        csv_path.write_text("", encoding="utf-8")
        message_console().print(f"wrote {csv_path} empty: the official checker would crash")
    elif csv_path is not None:
        write_summary_csv(csv_path, report.rows)
        message_console().print(f"wrote {csv_path} ({len(report.rows)} result row(s))")
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report) -> None:
    from rich.table import Table

    from energybench.cli.render import data_console

    console = data_console()
    for problem in report.problems:
        console.print(problem.line(), highlight=False, markup=False)
    if report.energy:
        table = Table(title="energy: published vs recomputed from the raw data")
        for header in ("folder", "unit", "published", "recomputed", "difference", "windows", "raw"):
            left = header in ("folder", "raw")
            table.add_column(header, justify="left" if left else "right", overflow="fold")
        for e in report.energy:
            table.add_row(
                e.path,
                e.unit,
                "—" if e.published is None else f"{e.published:.4f}",
                "—" if e.recomputed is None else f"{e.recomputed:.4f}",
                "—" if e.deviation is None else f"{100 * e.deviation:+.4f} %",
                str(e.windows),
                e.source,
            )
        console.print(table)
    console.print(
        f"official checker {report.version} (its rules applied here): {report.official.summary()}",
        highlight=False,
    )
    console.print(
        f"energybench: {len(report.errors)} error(s), {len(report.warnings)} warning(s): "
        + ("OK" if report.ok else "NOT OK"),
        highlight=False,
    )
