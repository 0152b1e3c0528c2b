"""One exception hierarchy for energybench.

Every error is an :class:`EnergybenchError` that also derives from the matching built-in, so
callers can catch either. Each carries the command, field or file involved; the CLI renders it
as one line (exit code 1, or 2 for usage errors). Errors stay picklable (they cross threads and
processes): every constructor argument is keyword-or-positional with a default and is kept in
``self.args`` order by :meth:`__reduce__`.
"""

from __future__ import annotations

from typing import Any


class EnergybenchError(Exception):
    """Base of every energybench error.

    ``context`` names what the error is about (a file, a field, a command); it is prefixed to
    the message so the one-line rendering is self-explanatory.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, context: str | None = None, **details: Any) -> None:
        self.message = message
        self.context = context
        self.details = details
        super().__init__(self._render())

    def _render(self) -> str:
        return f"{self.context}: {self.message}" if self.context else self.message

    def __reduce__(self):  # keep keyword arguments when pickled across processes
        return (_rebuild, (type(self), self.message, self.context, self.details))

    def one_line(self) -> str:
        """The message as the CLI prints it: one line, notes appended after ' | '."""
        text = self._render().replace("\n", " ")
        notes = getattr(self, "__notes__", None)
        if notes:
            text += " | " + " | ".join(n.replace("\n", " ") for n in notes)
        return text


def _rebuild(cls, message, context, details):
    return cls(message, context=context, **details)


class UsageError(EnergybenchError, ValueError):
    """The user asked for something that cannot be done as asked (CLI exit code 2)."""

    exit_code = 2


class ConfigError(EnergybenchError, ValueError):
    """A configuration file or field is invalid (bench file, workload, profile)."""


class TraceFileError(EnergybenchError, ValueError):
    """A trace or raw-data file is corrupt, truncated or inconsistent."""


class AnalysisError(EnergybenchError, ValueError):
    """The analysis cannot produce a trustworthy result (edges, windows, gaps)."""


class ImplausibleDataError(AnalysisError):
    """A recording holds values its instrument could not have measured (or a result that no
    powered DUT gives: a negative or infinite energy)."""


class TruncatedRecordingError(TraceFileError):
    """A recording holds less than it promised (a run killed, a copy interrupted)."""


class NoRawDataError(TraceFileError):
    """A result folder has published figures but no raw data to re-verify them from."""


class EdgeCountError(AnalysisError):
    """The timestamp edges found do not pair into the expected windows."""


class MissingSamplesError(AnalysisError):
    """A window overlaps samples that were dropped by the instrument or the host."""


class TransportError(EnergybenchError, OSError):
    """Bytes could not be sent or received (serial port, socket, VISA session)."""


class InstrumentTimeoutError(TransportError, TimeoutError):
    """A bounded wait for an instrument or DUT reply expired."""


class InstrumentError(EnergybenchError, RuntimeError):
    """An instrument reported errors (its error queue) or replied nonsense."""


class SafetyLimitError(EnergybenchError, ValueError):
    """A request exceeds the bench's configured voltage or current limits; nothing was sent."""


class InstrumentUnavailableError(EnergybenchError, ImportError):
    """A driver's optional dependency is missing; the message carries the install hint."""


class AcquisitionError(EnergybenchError, RuntimeError):
    """Acquisition failed or lost data beyond the allowed budget."""


class DutError(EnergybenchError, RuntimeError):
    """The device under test answered with an error or broke the protocol."""


class DutTimeoutError(DutError, TimeoutError):
    """The device under test did not answer within the bounded wait."""


class WorkloadError(EnergybenchError, ValueError):
    """A workload definition or dataset is invalid."""


class RunError(EnergybenchError, RuntimeError):
    """A benchmark run could not produce a valid result."""


class SubmissionError(EnergybenchError, ValueError):
    """A submission tree breaks the MLPerf Tiny rules."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP asked the process to stop (raised in the main thread by
    :func:`energybench.transport.stop_signals`).

    A KeyboardInterrupt subclass on purpose: every path that already cleans up after Ctrl-C
    (outputs off, acquisition stopped, files closed, the run folder written as aborted) cleans
    up after these signals too. ``exit_code`` is 128 + the signal number, as shells report it.
    """

    def __init__(self, signum: int = 15) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def signal_name(self) -> str:
        return _signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def stop_reason(exc: BaseException) -> str:
    """How a run that stopped on ``exc`` says why: ``interrupted (Ctrl-C)``, ``terminated
    (SIGTERM)``, ``terminated (SIGHUP)``, or the error's one-line message."""
    if isinstance(exc, Terminated):
        return f"terminated ({exc.signal_name})"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(exc, EnergybenchError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


class BenchBusyError(EnergybenchError, RuntimeError):
    """Another process holds the bench (its lock file or one of its instruments or ports)."""


class ResultsError(EnergybenchError, ValueError):
    """A run folder, its results.json or a comparison file is missing, unreadable or not
    energybench's, or what was asked cannot be compared."""
