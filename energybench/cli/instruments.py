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
CAPABILITY_WORDS = {
    "PowerSupply": "supply",
    "TriggeredMeter": "triggered",
    "StreamingMeter": "stream",
}


@instruments_app.command("list")
def list_instruments(as_json: JsonOption = False) -> None:
    """List the drivers: the catalogue (capabilities, profile, example bench file, lab meter)
    and every other registered driver; kind, availability (with install hint), sync modes."""
    from energybench.instruments import catalogue
    from energybench.instruments.registry import list_drivers

    registered = {d.name: d for d in list_drivers()}
    names = catalogue.names() + sorted(set(registered) - set(catalogue.names()))
    rows = []
    for name in names:
        entry = catalogue.entry(name) if name in catalogue.names() else None
        driver = registered.get(name)
        rows.append(
            {
                "name": name,
                "title": entry.title if entry else "",
                "catalogued": entry is not None,
                "registered": driver is not None,
                "target": driver.target if driver else "",
                "kind": driver.kind if driver else "",
                "capabilities": list(entry.capabilities) if entry else [],
                "available": bool(driver and driver.available),
                "install_hint": driver.install_hint if driver else "",
                "problem": driver.problem if driver else "not registered (no entry point)",
                "sync_modes": list(driver.sync_modes) if driver else [],
                "profile": entry.profile if entry else "",
                "example": entry.example if entry else "",
                "aliases": list(entry.aliases) if entry else [],
                "lab": bool(entry and entry.simulated),
                "no_simulator": entry.no_simulator if entry else "",
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    _render_list(rows)


def _render_list(rows: list[dict]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from energybench.cli.render import data_console

    table = Table(title="energybench instrument drivers")
    for column in ("Driver", "Kind", "Capabilities", "Available", "Sync modes", "Lab meter"):
        table.add_column(column, no_wrap=column in ("Driver", "Available"))
    for row in rows:
        if row["available"]:
            status = "[green]yes[/green]"
        else:
            hint = row["install_hint"] or row["problem"]
            status = f"[red]no[/red] ({escape(hint)})" if hint else "[red]no[/red]"
        if not row["catalogued"]:
            lab = "- (not in the catalogue)"
        elif row["lab"]:
            lab = "yes" + (f" (alias {', '.join(row['aliases'])})" if row["aliases"] else "")
        else:
            lab = "no"
        table.add_row(
            row["name"],
            row["kind"] or "?",
            ", ".join(CAPABILITY_WORDS[c] for c in row["capabilities"]) or "-",
            status,
            ", ".join(row["sync_modes"]) or "-",
            escape(lab),
        )
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
