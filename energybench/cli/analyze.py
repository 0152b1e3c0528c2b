"""`energybench analyze`: placeholder until the analysis engine lands (issue 2)."""

from __future__ import annotations

from pathlib import Path

import typer

from energybench.cli.app import app
from energybench.errors import UsageError


@app.command()
def analyze(path: Path = typer.Argument(..., help="Trace file or runner energy folder.")) -> None:
    """Analyse a trace file or a runner energy folder."""
    raise UsageError("analyze is not available yet", context=str(path))
