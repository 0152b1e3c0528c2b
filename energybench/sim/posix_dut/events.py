"""ebdut-posix's side channel and output lines, translated onto the virtual lab's Timeline.

The POSIX DUT reports, on its µs clock (the one ``m-lap-us`` prints): ``clock_origin <us> <ns>``
(at µs ``us`` the host's CLOCK_MONOTONIC read ``ns``), ``ts_fall``/``ts_rise <us>`` (the
timestamp pin), ``infer_begin <us> <N>`` (in ``th_pre``) and ``infer_end <us>`` (in
``th_post``). A firmware time maps to timeline seconds exactly through the origin (Python's
``time.monotonic`` is CLOCK_MONOTONIC), so timeline time is wall time since the timeline's
creation: a lab with this DUT runs at realtime pace.

On the timeline: pin edges at the reported times; the workload's active current from
``infer_begin`` to ``infer_end``, idle current otherwise (UART activity draws nothing extra).
The timeline's ``now`` follows the events and, between them, the wall clock minus ``lag_s``
(events reach us through a pipe after they happen; anything arriving later than that is placed
at ``now`` and counted in :attr:`FirmwareTrack.late_events`). :meth:`FirmwareTrack.horizon_s` is
the timeline's horizon while the DUT runs, so meters cannot make it final any sooner. Windows
(ground truth, as :class:`~energybench.sim.dut.InferWindow`): energy build from the start
pulse's falling edge to the end pulse's; performance build from the first to the second
``m-lap-us`` of the infer (both mapped onto the timeline), matched in order with the infer's
events. A window is published once the timeline is final up to its end, with ``energy_j`` from
the timeline.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

from energybench.errors import DutError
from energybench.sim.dut.engine import DEFAULT_WARMUPS
from energybench.sim.dut.sim_dut import InferWindow
from energybench.sim.physics.timeline import Timeline

log = logging.getLogger(__name__)

LAP_RE = re.compile(r"^m-lap-us-([0-9]+)$")


@dataclass(frozen=True)
class FirmwareEvent:
    """One side-channel line: name, the firmware's µs, its timeline time, extra arguments."""

    name: str
    time_us: int
    time_s: float
    args: tuple[int, ...] = ()


@dataclass
class _Infer:
    inferences: int
    warmups: int
    begin_s: float
    start_s: float | None = None  # energy: the start pulse's falling edge
    loop_end_s: float | None = None


@dataclass(frozen=True)
class _Finishing:
    start_s: float
    end_s: float
    infer: _Infer
    lap_us: tuple[int, int] | None


class FirmwareTrack:
    """State machine of one DUT: feed it lines (one thread), read windows from any thread."""

    def __init__(
        self,
        timeline: Timeline,
        *,
        mode: str,
        active_current_a: float,
        idle_current_a: float,
        pin: str = "timestamp",
        lag_s: float = 0.2,
    ) -> None:
        self.timeline = timeline
        self.set_mode(mode)
        self.active_current_a = active_current_a
        self.idle_current_a = idle_current_a
        self.pin = pin
        self.lag_s = lag_s
        timeline.add_pin(pin, True)
        # CLOCK_MONOTONIC at the timeline's t = 0 (constant; a µs error here shifts everything)
        self._wall0_s = time.monotonic() - timeline.wall_time_s()
        self.events: list[FirmwareEvent] = []
        self.late_events = 0
        self.max_event_delay_s = 0.0  # worst wall-clock delay from an event to its handling
        self._last_event_s = 0.0
        self._windows: list[InferWindow] = []
        self._cond = threading.Condition()
        self.pending_warmups = DEFAULT_WARMUPS
        self.restart()

    def set_mode(self, mode: str) -> None:
        """The build the next process runs (energy: pin pulses; otherwise m-lap-us lines)."""
        self.mode = mode
        self.energy_build = mode == "energy"

    # ---- clock ---------------------------------------------------------------------------
    def restart(self) -> None:
        """A new firmware process (power cycle): forget its clock and any open infer."""
        self._origin: tuple[int, float] | None = None
        self._last_fall_s: float | None = None
        self._open: _Infer | None = None
        self._loops: deque[_Infer] = deque()  # performance: loops waiting for their laps
        self._laps: list[int] | None = None  # performance: laps of the infer being printed
        self._lap_pairs: deque[tuple[int, int]] = deque()
        self._finishing: list[_Finishing] = []

    @property
    def synchronised(self) -> bool:
        return self._origin is not None

    def to_timeline_s(self, time_us: int) -> float:
        """Timeline seconds of a firmware µs value (needs the clock_origin line)."""
        if self._origin is None:
            raise DutError("no clock_origin line from the firmware yet", context="ebdut-posix")
        origin_us, origin_s = self._origin
        return origin_s + (time_us - origin_us) * 1e-6

    # ---- input ---------------------------------------------------------------------------
    def on_event_line(self, line: str) -> None:
        """One line of the ``--events`` side channel."""
        parts = line.split()
        try:
            name, numbers = parts[0], [int(p) for p in parts[1:]]
        except (IndexError, ValueError):
            log.warning("ebdut-posix: malformed event line %r", line)
            return
        if name == "clock_origin" and len(numbers) == 2:
            origin_s = numbers[1] * 1e-9 - self._wall0_s
            self._origin = (numbers[0], origin_s)
            self.timeline.set_load_current(self._place(origin_s), self.idle_current_a)
            return
        if not numbers or self._origin is None:
            log.warning("ebdut-posix: event %r before clock_origin (or without time)", line)
            return
        reported_s = self.to_timeline_s(numbers[0])
        delay_s = time.monotonic() - self._wall0_s - reported_s
        self.max_event_delay_s = max(self.max_event_delay_s, delay_s)
        t = self._place(reported_s)
        self._last_event_s = max(self._last_event_s, t)
        self.events.append(FirmwareEvent(name, numbers[0], t, tuple(numbers[1:])))
        if name == "ts_fall":
            self.timeline.set_pin(self.pin, t, False)
            self._on_fall(t)
        elif name == "ts_rise":
            self.timeline.set_pin(self.pin, t, True)
        elif name == "infer_begin":
            self.timeline.set_load_current(t, self.active_current_a)
            n = numbers[1] if len(numbers) > 1 else 0
            start = self._last_fall_s if self.energy_build else None
            self._open = _Infer(n, self.pending_warmups, t, start_s=start)
        elif name == "infer_end":
            self.timeline.set_load_current(t, self.idle_current_a)
            if self._open is not None:
                self._open.loop_end_s = t
                if not self.energy_build:
                    self._loops.append(self._open)
                    self._open = None
                    self._match_laps()
        else:
            log.warning("ebdut-posix: unknown event %r", line)
        self.timeline.advance_to(t)
        self._publish()

    def on_output_line(self, line: str) -> None:
        """One line the firmware printed (performance build: collects the infer's laps)."""
        if self.energy_build:
            return
        if line.startswith("m-infer-start-"):
            self._laps = []
            return
        match = LAP_RE.match(line)
        if match and self._laps is not None:
            self._laps.append(int(match.group(1)))
            if len(self._laps) == 2:
                self._lap_pairs.append((self._laps[0], self._laps[1]))
                self._laps = None
                self._match_laps()

    def on_command(self, command: str) -> None:
        """A command the host sent (``%`` stripped): remembers an infer's warm-up count."""
        tokens = command.split()
        if tokens[:1] == ["infer"]:
            try:
                self.pending_warmups = int(tokens[2]) if len(tokens) > 2 else DEFAULT_WARMUPS
            except ValueError:
                self.pending_warmups = DEFAULT_WARMUPS

    def horizon_s(self) -> float:
        """How far anyone may make the timeline final (:meth:`Timeline.set_horizon`): the
        wall clock minus ``lag_s``, or the last event handled if that is later."""
        return max(time.monotonic() - self._wall0_s - self.lag_s, self._last_event_s)

    def advance_idle(self, wall_s: float) -> None:
        """Wall time ``wall_s`` (timeline seconds) has passed: make ``wall_s - lag_s`` final."""
        if self._origin is not None:
            self.timeline.advance_to(wall_s - self.lag_s)
            self._publish()

    # ---- windows -------------------------------------------------------------------------
    @property
    def windows(self) -> list[InferWindow]:
        with self._cond:
            return list(self._windows)

    def wait_windows(self, count: int, timeout_s: float) -> list[InferWindow]:
        """Wait (bounded) until ``count`` windows are published; all windows so far."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._windows) >= count, timeout=timeout_s)
            return list(self._windows)

    def _on_fall(self, t: float) -> None:
        self._last_fall_s = t
        infer = self._open
        if self.energy_build and infer is not None and infer.loop_end_s is not None:
            self._open = None
            if infer.start_s is None:
                log.warning("ebdut-posix: infer without a start pulse; no window recorded")
                return
            self._finishing.append(_Finishing(infer.start_s, t, infer, None))

    def _match_laps(self) -> None:
        while self._loops and self._lap_pairs:
            infer, (lap0, lap1) = self._loops.popleft(), self._lap_pairs.popleft()
            start, end = self.to_timeline_s(lap0), self.to_timeline_s(lap1)
            self._finishing.append(_Finishing(start, end, infer, (lap0, lap1)))

    def _publish(self) -> None:
        now = self.timeline.now_s
        ready = [f for f in self._finishing if f.end_s <= now]
        if not ready:
            return
        self._finishing = [f for f in self._finishing if f.end_s > now]
        with self._cond:
            for f in ready:
                loop_s = (f.infer.loop_end_s or f.infer.begin_s) - f.infer.begin_s
                self._windows.append(
                    InferWindow(
                        index=len(self._windows),
                        mode=self.mode,
                        start_s=f.start_s,
                        end_s=f.end_s,
                        inferences=f.infer.inferences,
                        warmups=f.infer.warmups,
                        energy_j=self.timeline.energy_j(f.start_s, f.end_s),
                        loop_s=loop_s,
                        lap_us=f.lap_us,
                    )
                )
            self._cond.notify_all()

    def _place(self, t: float) -> float:
        now = self.timeline.now_s
        if t >= now:
            return t
        self.late_events += 1
        log.warning(
            "ebdut-posix event at %.6f s arrived after the timeline passed it (%.6f s); "
            "placed at now (raise lag_s)",
            t,
            now,
        )
        return now
