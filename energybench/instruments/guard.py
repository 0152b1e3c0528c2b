"""Outputs off on every exit path: exceptions, Ctrl-C (SIGINT), SIGTERM and interpreter exit.

Use around everything that may leave a supply output on::

    with OutputGuard(supply, meter):
        supply.set_output(True)
        ...

On leaving the block (normally or by any exception, KeyboardInterrupt included) every guarded
instrument's ``safe_shutdown()`` runs, in reverse order. While the block runs, an ``atexit`` hook
covers interpreter exit, and SIGTERM is turned into ``SystemExit`` in the main thread so the same
``finally`` path runs. ``safe_shutdown()`` is idempotent, so overlapping guards are harmless.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from types import FrameType

from energybench.instruments.capabilities import Instrument

log = logging.getLogger(__name__)


class OutputGuard:
    def __init__(self, *instruments: Instrument) -> None:
        self.instruments = [i for i in instruments if i is not None]
        self._previous_sigterm: object = None
        self._done = False

    def shutdown(self) -> None:
        """Run every guarded instrument's safe_shutdown (never raises)."""
        if self._done:
            return
        self._done = True
        for instrument in reversed(self.instruments):
            try:
                instrument.safe_shutdown()
            except Exception:  # safe_shutdown must not raise; belt and braces
                log.exception("safe_shutdown of %r raised", instrument)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def __enter__(self) -> OutputGuard:
        atexit.register(self.shutdown)
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.shutdown()
        finally:
            atexit.unregister(self.shutdown)
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)  # type: ignore[arg-type]
