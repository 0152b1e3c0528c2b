"""How a mode ends early and keeps what it measured.

A mode runs its windows inside :func:`ends_early`: an expected stop (:class:`ModeAborted`: the
DUT stopped answering, a slot never succeeded; for energy also a lost meter) ends the mode with
its reason in the result; anything else (Ctrl-C, a signal mapped to an exception, an error)
records its reason too and propagates, and the orchestrator writes the result as it stands.
A window attempt in progress runs inside :func:`measuring`, so one cut mid-way is kept as
partial, never as a valid window."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from energybench.errors import DutError, stop_reason
from energybench.runner.results import ModeResult, WindowRecord
from energybench.runner.runlog import RunLog


class ModeAborted(DutError):
    """A mode stopped early (the DUT stopped answering, the meter failed, ...)."""


@contextlib.contextmanager
def ends_early(
    result: ModeResult,
    runlog: RunLog,
    expected: tuple[type[BaseException], ...] = (ModeAborted,),
) -> Iterator[None]:
    """The body may end the mode early; its reason goes into ``result`` either way, and only
    an ``expected`` stop is swallowed (BaseException: Ctrl-C and signals are recorded too)."""
    try:
        yield
    except expected as exc:
        result.abort(stop_reason(exc))
        runlog.write("runner", f"{result.mode} mode aborted: {result.aborted}")
    except BaseException as exc:
        result.abort(stop_reason(exc))
        runlog.write("runner", f"{result.mode} mode failed: {result.aborted}")
        raise


@contextlib.contextmanager
def measuring(record: WindowRecord) -> Iterator[WindowRecord]:
    """A window attempt in progress: an exception that leaves it (whatever ends the mode)
    marks it partial; the caller handles the DUT failures that only invalidate it."""
    try:
        yield record
    except BaseException as exc:
        record.cut(stop_reason(exc))
        raise
