"""The root `energybench` command and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys

import typer

from energybench import __version__
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
        compare,
        demo,
        instruments,
        lab,
        report,
        run,
        score,
    )


_register()


def main() -> None:
    """Console-script entry: run the app, render EnergybenchError as one line."""
    try:
        # typer >= 0.29 returns the code of a typer.Exit (and 130 for Ctrl-C) in
        # non-standalone mode instead of raising it
        code = app(standalone_mode=False)
    except EnergybenchError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors
        if isinstance(exc, _click_exception_types()):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        if code == 130:
            typer.echo("interrupted", err=True)
        sys.exit(code)


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
