"""Shared helpers for the instrument tests on the virtual lab: a bounded wait for a condition
the simulator reaches on its own thread."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.005


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(POLL_S)
