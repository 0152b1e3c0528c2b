"""The root `energybench` command and the one place errors become exit codes."""

from __future__ import annotations

import logging
import signal
import sys

import typer

from energybench._version import __version__
from energybench.errors import EnergybenchError

app = typer.Typer(
    name="energybench",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    help="Measure joules per inference of TinyML devices with real instruments.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"energybench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging on stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def _register() -> None:
    """Attach the command modules (each adds its commands or sub-app to ``app``)."""
    from energybench.cli import (  # noqa: F401
        analyze,
        calibrate,
        compare,
        demo,
        instruments,
        lab,
        report,
        run,
        score,
        submission,
    )


_register()


def main() -> None:
    """Console-script entry: run the app with SIGTERM/SIGHUP handled like Ctrl-C (outputs
    off, files closed, the run folder written), render EnergybenchError as one line.

    Exit codes: 1 (2 for usage) on an error; 128 + the signal number after a stop signal
    (130 SIGINT, 143 SIGTERM, 129 SIGHUP), once everything is written."""
    from energybench.transport.interrupts import StopSignals

    with StopSignals() as stops:
        code = _run_app(stops)
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        sys.exit(code)


def _run_app(stops) -> int:
    try:
        # typer >= 0.29 returns the code of a typer.Exit (and 130 for Ctrl-C) in
        # non-standalone mode instead of raising it
        code = app(standalone_mode=False)
    except EnergybenchError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        return _stopped(stops) if stops.received else exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _stopped(stops)
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click usage errors
        if isinstance(exc, _click_exception_types()):
            exc.show()
            return exc.exit_code
        raise
    if stops.received or code == 130:  # typer turned the stop exception into Exit(130)
        return _stopped(stops)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def _stopped(stops) -> int:
    """Say which signal stopped the command; its exit code is 128 + the signal number."""
    from energybench.errors import stop_reason
    from energybench.transport.interrupts import stop_exception

    signum = stops.received[0] if stops.received else signal.SIGINT
    typer.echo(stop_reason(stop_exception(signum)), err=True)
    return 128 + int(signum)


def _click_exception_types() -> tuple[type[Exception], ...]:
    """click's ClickException, and the copy typer >= 0.29 vendors as ``typer._click``."""
    types: list[type[Exception]] = []
    try:
        import click

        types.append(click.ClickException)
    except ImportError:
        pass
    try:
        from typer._click.exceptions import ClickException

        types.append(ClickException)
    except ImportError:
        pass
    return tuple(types)
