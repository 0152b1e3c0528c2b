"""The one interface the energy modes measure windows through, and what it returns.

A :class:`Measurer` is built fully configured (bench, run folder, how a window ends), owns every
raw file of the mode (the stream's JLS, or one file per triggered capture) and returns
everything the mode reports through typed values: :meth:`~Measurer.measure` → a
:class:`Measured` per window, :meth:`~Measurer.stop` → a :class:`Recording`.
Implementations: :class:`~energybench.runner.stream_measurer.StreamMeasurer` (continuous
recording, windows found in it) and
:class:`~energybench.runner.triggered_measurer.TriggeredMeasurer` (one capture per window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from energybench.acquisition.result import AcquisitionResult
from energybench.analysis.integrate import WindowResult
from energybench.analysis.ranges import RangeUse
from energybench.analysis.trace import Trace
from energybench.analysis.window_analysis import QUIET_FLOOR
from energybench.errors import AcquisitionError, DutError, DutTimeoutError

T = TypeVar("T")
EDGE_WAIT_S = 10.0  # beyond the expected window, for the meter's data to arrive


class MeterFailure(AcquisitionError):
    """The meter or its connection failed: the mode cannot continue."""


@dataclass(frozen=True)
class WindowEnd:
    """How a window ends, fixed for a mode: an ``infer`` window (:data:`INFER_WINDOW`) may end
    on a start-only trigger's current step and is closed on a stream once the samples reach
    1.2 x its expected length; one stream (:data:`STREAM_WINDOW`) never returns to idle current
    before its stop pulse, so both edges are required, and its step returns after that pulse."""

    both_edges: bool = False  # a triggered capture must hold both edges
    quiet_floor: float = QUIET_FLOOR  # x expected past the first edge before a stream closes


INFER_WINDOW = WindowEnd()
STREAM_WINDOW = WindowEnd(both_edges=True, quiet_floor=0.0)


@dataclass(frozen=True)
class WindowId:
    """Which window a measurement is: its raw file is named (``capture_<tag>``) and labelled by
    it. ``index`` is the slot, None for the probe."""

    index: int | None
    attempt: int

    @property
    def tag(self) -> str:
        return f"probe_a{self.attempt}" if self.index is None else f"w{self.index}_a{self.attempt}"

    def metadata(self) -> dict[str, int | bool]:
        """How a raw file says which window it holds (a probe has no slot)."""
        if self.index is None:
            return {"probe": True, "attempt": self.attempt}
        return {"window": self.index, "attempt": self.attempt}


@dataclass
class Measured(Generic[T]):
    """One window as the meter saw it: its trace and integrated result, or the problems that
    make it invalid (never a silently kept window); ``activity`` is what the DUT's drive
    returned (the ``infer`` transcript, a stream's outcome; None when the DUT failed)."""

    activity: T | None = None
    trace: Trace | None = None
    window: WindowResult | None = None
    problems: list[str] = field(default_factory=list)
    edge_source: str = ""
    start_s: float | None = None  # window start in the recording's time base
    dut_timeout: bool = False  # the DUT stopped answering: the mode recovers it
    current_range_a: float | None = None  # the range in use (None: the meter's widest)
    # where the window lies for a re-analysis: its raw file in the run folder and (a stream
    # recording) the host-known interval searched for its edges, in the file's sample ids
    raw_file: str | None = None
    interval_ids: tuple[int, int] | None = None
    ranges: RangeUse | None = None  # the current ranges inside the window (streams)
    # further rails: traces of other outputs from the same capture (by output number), and
    # each further rail's own measurement (by rail name; :mod:`energybench.runner.rails`)
    rail_traces: dict[int, Trace] = field(default_factory=dict)
    rails: dict[str, Measured] = field(default_factory=dict)


@dataclass(frozen=True)
class Recording:
    """What a measurer recorded over the mode, from its :meth:`~Measurer.stop`."""

    continuous: bool  # one stream over the whole mode (else one capture per window)
    acquisition: AcquisitionResult | None = None  # the stream's samples, drops and reasons
    trace_file: str | None = None  # the stream's file in the run folder (None: none written)
    trace_sample_rate_hz: float | None = None
    write_error: str | None = None  # the stream's file is incomplete
    captures: tuple[str, ...] = ()  # one file per triggered capture, in order
    unrecorded: tuple[str, ...] = ()  # labels of captures that could not be written


class Measurer(Protocol):
    """Measures the windows of one energy mode (see the module docstring)."""

    # the continuous recording's rate, whose windows are held in memory (None: captures)
    stream_rate_hz: float | None

    def start(self) -> None:
        """Start recording (a streaming meter), before the first window."""
        ...

    def measure(
        self, drive: Callable[[], T], *, inferences: int, expected_s: float, window: WindowId
    ) -> Measured[T]:
        """One window: ``drive()`` runs the DUT through it (a DUT failure becomes a problem of
        the window); ``inferences`` divide its energy; ``window`` names its raw file."""
        ...

    def stop(self) -> Recording:
        """Stop recording, disarm the meter; what was recorded."""
        ...


def run_drive(drive: Callable[[], T], out: Measured[T]) -> None:
    """Run the DUT through the window; a DUT timeout or error becomes a problem of the window
    (invalid and re-run; ``dut_timeout`` asks for recovery), never an exception that loses
    the recording."""
    try:
        out.activity = drive()
    except DutTimeoutError as exc:
        out.problems.append(f"DUT timeout: {exc}")
        out.dut_timeout = True
    except DutError as exc:
        out.problems.append(f"DUT error: {exc}")
