"""Shared rendering for the CLI: data to stdout (wide enough that tables never truncate when
piped or captured), messages and progress to stderr."""

from __future__ import annotations

import shutil

MIN_PIPED_WIDTH = 160


def data_console():
    """A rich Console on stdout; when stdout is not a terminal, wide enough for our tables."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    if not console.is_terminal:
        width = max(MIN_PIPED_WIDTH, shutil.get_terminal_size((MIN_PIPED_WIDTH, 24)).columns)
        console = Console(soft_wrap=True, width=width)
    return console


def message_console():
    """A rich Console on stderr for logs, warnings and progress bars."""
    from rich.console import Console

    return Console(stderr=True)
