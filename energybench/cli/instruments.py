"""`energybench instruments`: the registered drivers, and what a connected instrument is."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from energybench.cli.app import app

instruments_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Instrument drivers and connected instruments.",
)
app.add_typer(instruments_app, name="instruments")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@instruments_app.command("list")
def list_instruments(as_json: JsonOption = False) -> None:
    """List the registered drivers: kind, availability (with install hint) and sync modes."""
    from energybench.instruments.registry import list_drivers

    entries = list_drivers()
    if as_json:
        rows = [
            {
                "name": e.name,
                "target": e.target,
                "kind": e.kind,
                "available": e.available,
                "install_hint": e.install_hint,
                "problem": e.problem,
                "sync_modes": list(e.sync_modes),
            }
            for e in entries
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from energybench.cli.render import data_console

    table = Table(title="energybench instrument drivers")
    for column in ("Driver", "Kind", "Available", "Sync modes"):
        table.add_column(column)
    for e in entries:
        if e.available:
            status = "[green]yes[/green]"
        else:
            hint = e.install_hint or e.problem
            status = f"[red]no[/red] ({escape(hint)})" if hint else "[red]no[/red]"
        table.add_row(e.name, e.kind or "?", status, ", ".join(e.sync_modes) or "-")
    data_console().print(table)


@instruments_app.command("identify")
def identify(
    resource: Annotated[str, typer.Argument(help="VISA resource, tcp://host:port or serial port.")],
    timeout_s: Annotated[float, typer.Option(help="Reply timeout in seconds.")] = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Ask an instrument for its identity (*IDN?) and name the profile that matches it."""
    from energybench.instruments.capabilities import InstrumentInfo
    from energybench.instruments.profiles import match_profiles
    from energybench.transport import open_transport

    with open_transport(resource, timeout_s=timeout_s) as transport:
        info = InstrumentInfo.from_idn(transport.query("*IDN?"), resource)
    profiles = match_profiles(info)
    if as_json:
        row = {
            "resource": resource,
            "vendor": info.vendor,
            "model": info.model,
            "serial_number": info.serial_number,
            "firmware": info.firmware,
            "profiles": [
                {"name": p.name, "driver": p.driver, "path": str(p.path)} for p in profiles
            ],
        }
        typer.echo(json.dumps(row, indent=2))
        return
    typer.echo(
        f"{info.vendor} {info.model}  serial {info.serial_number or '?'}  "
        f"firmware {info.firmware or '?'}"
    )
    if not profiles:
        typer.echo("profile: none matches (add one to instruments/)")
    for p in profiles:
        typer.echo(f"profile: {p.name}  driver: {p.driver}  ({p.path.name})")
