"""``log.txt`` of a run: every DUT and instrument exchange, time-stamped (UTC, µs).

DUT lines come from the DUT link's ``on_exchange`` hook; instrument exchanges from the
transports' DEBUG records (``energybench.transport``), captured only while a run is active and
kept out of the console (warnings still reach the root handlers).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

TRANSPORT_LOGGER = "energybench.transport"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RunLog:
    """An append-only, line-buffered log file shared by the run's threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.skip_resources: set[str] = set()

    def write(self, source: str, text: str) -> None:
        """One line: ``<UTC> <source>: <text>``."""
        line = f"{_stamp()} {source}: {text}".replace("\r", "")
        with self._lock:
            if self._file is not None:
                self._file.write(line.rstrip("\n") + "\n")

    def dut_hook(self, name: str = "dut"):
        """An ``on_exchange`` callback for a DUT link (``<<`` host→DUT, ``>>`` DUT→host)."""

        def hook(direction: str, text: str) -> None:
            self.write(name, f"{direction} {text}")

        return hook

    @contextlib.contextmanager
    def instrument_exchanges(self) -> Iterator[None]:
        """Record transport DEBUG records (instrument commands and replies) while active."""
        logger = logging.getLogger(TRANSPORT_LOGGER)
        handler = _LogHandler(self)
        old_level, old_propagate = logger.level, logger.propagate
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # DEBUG spam stays out of the console ...
        forward = _ForwardWarnings()  # ... warnings still reach it
        logger.addHandler(forward)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.removeHandler(forward)
            logger.setLevel(old_level)
            logger.propagate = old_propagate

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LogHandler(logging.Handler):
    def __init__(self, runlog: RunLog) -> None:
        super().__init__(logging.DEBUG)
        self.runlog = runlog

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string must not break a run
            text = str(record.msg)
        resource = text.split(" ", 1)[0]
        if resource in self.runlog.skip_resources:  # DUT ports: logged by the link hook
            return
        self.runlog.write("instrument", text)


class _ForwardWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)
