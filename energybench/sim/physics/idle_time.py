"""Idle time for simulators that report a growing stream (the stream source, the Otii): while
they wait on the timeline, virtual time passes at ``speed`` × wall time (the DUT is idle).

The clock is anchored at (wall, virtual) and restarted whenever something else moved the
timeline (a producer's append or another meter), so producer time and idle time never add up;
an advance that a producer overtook restarts it too, or idle time would stall until wall time
caught up with the producer. At the timeline's realtime pace simulation time is wall time: idle
time then reaches the wall clock and never passes it, whatever the speed or anchor (a clock
anchored at a DUT's committed busy phase would otherwise drift ahead of the wall, and the DUT
would sleep ever longer to catch up).
"""

from __future__ import annotations

import time

from energybench.sim.physics.timeline import Timeline


class IdleTime:
    """The idle-time clock of one simulator session on ``timeline``."""

    def __init__(self, timeline: Timeline, speed: float) -> None:
        self.timeline = timeline
        self.speed = speed
        self._anchor: tuple[float, float] | None = None  # (wall, virtual) when idle time began
        self._reached = -1.0  # the timeline time last seen or reached by this clock

    def restart(self) -> None:
        """Start again from the timeline's present (e.g. a new recording or stream)."""
        self._anchor = None

    def target_s(self) -> float:
        """The virtual time idle time has reached by now."""
        if self.timeline.pace == "realtime":
            return self.timeline.wall_time_s()
        now = self.timeline.now_s
        if self._anchor is None or now != self._reached:  # someone else moved the clock
            self._anchor, self._reached = (time.monotonic(), now), now
        wall0, virtual0 = self._anchor
        return virtual0 + self.speed * (time.monotonic() - wall0)

    def advance_to(self, target_s: float) -> float:
        """Make the timeline final up to ``target_s``; the timeline's time after it."""
        self._reached = self.timeline.pass_idle_time(target_s)
        if self._reached > target_s:  # a producer moved the clock past the target
            self._anchor = None
        return self._reached
