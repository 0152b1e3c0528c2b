"""Stop signals as exceptions, and holding them while an instrument exchange completes.

:func:`stop_signals` (the CLI wraps every command in it; API users may too) turns SIGTERM and
SIGHUP into :class:`~energybench.errors.Terminated` and SIGINT into KeyboardInterrupt, raised in
the main thread, so the ``finally`` paths that switch outputs off, stop acquisition and close
files run for them exactly as for Ctrl-C. Library code never installs these handlers on its own.

:func:`deferred_interrupt` holds any of the three signals until a write/read pair completes, so
an instrument is never left mid-reply and a log never ends mid-exchange; the held signal is
then delivered as it would have been.

Both work in the main thread only (Python delivers signals there); elsewhere they do nothing.
A signal whose disposition is "ignore" (``nohup`` ignores SIGHUP; a background job may ignore
SIGINT) stays ignored.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from energybench.errors import Terminated

log = logging.getLogger(__name__)

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def stop_exception(signum: int) -> BaseException:
    """The exception a stop signal becomes: KeyboardInterrupt for SIGINT, else Terminated."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


class StopSignals:
    """Context manager: while active, a stop signal raises its exception in the main thread.

    Only the first signal raises; later ones are logged and dropped until the block exits,
    so a second Ctrl-C or SIGTERM cannot cut short the cleanup the first one started
    (outputs off, results written). Cleanup is bounded; SIGKILL remains the last resort.
    ``received`` lists the signal numbers seen, first first (the CLI's exit code is 128 + the
    first).
    """

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.received: list[int] = []
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            log.warning("%s received while stopping: finishing the shutdown first",
                        signal.Signals(signum).name)  # fmt: skip
            return
        raise stop_exception(signum)

    def __enter__(self) -> StopSignals:
        if not _in_main_thread():
            return self
        for signum in self.signals:
            try:
                current = signal.getsignal(signum)
                if current == signal.SIG_IGN:
                    continue  # ignored on purpose (nohup, background job): keep it so
                self._previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # not the main interpreter, or not settable here
                continue
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()


def stop_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> StopSignals:
    """SIGTERM/SIGHUP → Terminated, SIGINT → KeyboardInterrupt inside the ``with`` block."""
    return StopSignals(signals)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block (a write/read pair) completes, then
    deliver the first one held to the handler that was in place (for the default disposition:
    KeyboardInterrupt for SIGINT, the default action for the others)."""
    if not _in_main_thread():
        yield
        return
    received: list[tuple[int, FrameType | None]] = []

    def _hold(signum: int, frame: FrameType | None) -> None:
        received.append((signum, frame))

    previous: dict[int, object] = {}
    try:
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current == signal.SIG_IGN or current is None:
                continue  # ignored stays ignored; None: installed outside Python, leave it
            previous[signum] = signal.signal(signum, _hold)
    except ValueError:  # not the main interpreter
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        if received:
            signum, frame = received[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif signum == signal.SIGINT:  # SIG_DFL: never swallow the Ctrl-C
                raise KeyboardInterrupt
            else:  # SIG_DFL: the default action, now that the exchange is complete
                signal.raise_signal(signum)
