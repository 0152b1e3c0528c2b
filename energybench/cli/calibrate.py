"""`energybench calibrate`, `energybench verify` and `energybench calibration list|show|verify`:
calibrating the bench's meter against a reference, checking the setup before and after a
session, and looking after the calibration store (docs/calibration.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app

calibration_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="The calibration store: list, show and verify records.",
)
app.add_typer(calibration_app, name="calibration")

BenchOption = Annotated[Path, typer.Option("--bench", help="Bench file (TOML).")]


@app.command()
def calibrate(
    bench: BenchOption,
    procedure: Annotated[
        str | None,
        typer.Option(
            help="Procedure name (calibration/*.toml) or file; default: the bench "
            "file's calibration.procedure, else reference-resistor."
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not wait for Enter before each step.")
    ] = False,
    range_a: Annotated[
        float | None,
        typer.Option(
            "--range",
            help="The meter's current range to calibrate, in A (one of its fixed ranges); "
            "default: the bench file's current_range_a, else the smallest range that holds "
            "the reference's largest current x 1.25.",
        ),
    ] = None,
) -> None:
    """Run a calibration procedure: says what to connect at each step, measures, writes the
    record for the range measured in into the store."""
    from energybench.calibration.records import range_in_use
    from energybench.runner.bench import load_bench
    from energybench.runner.calibrate import run_calibration

    bench_cfg = load_bench(bench)

    def confirm(step) -> None:
        if not yes:
            typer.prompt("  press Enter when connected", default="", show_default=False, err=True)

    record, _path = run_calibration(
        bench_cfg, procedure, say=typer.echo, confirm=confirm, range_a=range_a
    )
    c = record.data["coefficients"]
    where = range_in_use(record.range_a)
    typer.echo(
        f"calibrated: gain {c['gain']:.6f} ± {c['gain_std']:.2g}, offset "
        f"{c['offset_a'] * 1e6:+.3f} ± {c['offset_std_a'] * 1e6:.2g} µA in {where}; valid "
        f"until {record.expires.date()}"
    )


@app.command()
def verify(
    bench: BenchOption,
    label: Annotated[str, typer.Option(help="before | after (the session's start or end).")],
    mark: Annotated[
        list[Path] | None,
        typer.Option("--mark", help="Run folder(s) of the session: a failed check marks them."),
    ] = None,
    calibration: Annotated[
        str, typer.Option(help="auto (newest valid record) | none | a record file.")
    ] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the check as JSON.")] = False,
    range_a: Annotated[
        float | None,
        typer.Option(
            "--range",
            help="The current range to check, in A; default: the record file's, else the "
            "bench file's, else the one calibrate picks for the reference.",
        ),
    ] = None,
) -> None:
    """Measure the reference load and compare with its known energy (exit 3 when it fails)."""
    from energybench.runner.bench import load_bench
    from energybench.runner.verify import run_verify

    result = run_verify(
        load_bench(bench), label, calibration=calibration, mark=mark or [], range_a=range_a
    )
    if json_out:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        where = "no fixed range" if result.range_a is None else f"range {result.range_a:g} A"
        typer.echo(f"verify ({result.label}) in {where} with {result.calibration}")
        for k, p in enumerate(result.pulses):
            err = p["error_j"] / p["expected_j"] * 100
            u = p["uncertainty_k2_j"] / p["expected_j"] * 100
            typer.echo(
                f"  pulse {k}: expected {p['expected_j'] * 1e3:.6f} mJ, measured "
                f"{p['measured_j'] * 1e3:.6f} mJ, error {err:+.4f} % (U {u:.4f} %)"
            )
        if result.drift_rel is not None:
            typer.echo(f"  drift since the 'before' check: {result.drift_rel * 100:+.4f} %")
        verdict = "PASS: within" if result.passed else "FAIL: beyond"
        typer.echo(
            f"{verdict} U: error {result.error_rel * 100:+.4f} %, U "
            f"{result.uncertainty_rel * 100:.4f} % (k=2)"
        )
        typer.echo(f"saved: {result.file}")
    if not result.passed:
        raise typer.Exit(3)


def _store(bench: Path | None, store: Path | None) -> Path:
    from energybench.calibration.records import store_dir

    if store is not None:
        return store
    if bench is not None:
        from energybench.runner.bench import load_bench
        from energybench.runner.calibration_use import bench_store

        return bench_store(load_bench(bench))
    return store_dir()


StoreOption = Annotated[Path | None, typer.Option("--store", help="The store folder.")]
BenchStoreOption = Annotated[
    Path | None, typer.Option("--bench", help="Use this bench file's store.")
]


@calibration_app.command("list")
def list_records(
    store: StoreOption = None,
    bench: BenchStoreOption = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every record in the store, newest first, with its validity today."""
    import datetime as dt

    from rich.table import Table

    from energybench.calibration.records import list_records as records_in
    from energybench.cli.render import data_console

    folder = _store(bench, store)
    records, problems = records_in(folder)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for r in records:
        c = r.data["coefficients"]
        state, _ = r.status(r.identity, now, int(r.data.get("channel", 1)), r.range_a)
        rows.append(
            {
                "record_id": r.record_id,
                "instrument": f"{r.identity['model']} {r.identity['serial_number']}",
                "created_utc": r.data["created_utc"],
                "expires_utc": r.expires.isoformat(),
                "state": state,
                "range_a": r.range_a,
                "gain": c["gain"],
                "offset_a": c["offset_a"],
                "file": str(r.path),
            }
        )
    if json_out:
        typer.echo(
            json.dumps({"store": str(folder), "records": rows, "problems": problems}, indent=2)
        )
        return
    table = Table(title=f"calibration records in {folder}")
    columns = ("record", "instrument", "range", "created (UTC)", "expires", "state", "gain")
    for col in (*columns, "offset µA"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row["record_id"],
            row["instrument"],
            "any" if row["range_a"] is None else f"{row['range_a']:g} A",
            row["created_utc"][:19],
            row["expires_utc"][:10],
            row["state"],
            f"{row['gain']:.6f}",
            f"{row['offset_a'] * 1e6:+.3f}",
        )
    if rows:
        data_console().print(table)
    else:
        typer.echo(f"no calibration records in {folder}")
    for p in problems:
        typer.echo(f"not a valid record: {p}", err=True)


@calibration_app.command("show")
def show(record: Annotated[Path, typer.Argument(help="A record file (.json).")]) -> None:
    """Print a record (verified against its content hash)."""
    from energybench.calibration.records import load_record

    typer.echo(json.dumps(dict(load_record(record).data), indent=2))


@calibration_app.command("verify")
def verify_records(
    records: Annotated[
        list[Path] | None, typer.Argument(help="Record files (default: all).")
    ] = None,
    store: StoreOption = None,
    bench: BenchStoreOption = None,
) -> None:
    """Check records' schema and content hash (exit 1 when one does not verify)."""
    from energybench.calibration.records import load_record
    from energybench.errors import ConfigError

    paths = list(records or sorted(_store(bench, store).glob("*.json")))
    bad = 0
    for path in paths:
        try:
            r = load_record(path)
            typer.echo(f"ok: {path.name} ({r.hash[:19]}…)")
        except ConfigError as exc:
            bad += 1
            typer.echo(f"FAILED: {exc.one_line()}")
    typer.echo(f"{len(paths) - bad} of {len(paths)} record(s) verify")
    if bad:
        raise typer.Exit(1)
