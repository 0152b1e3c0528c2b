"""The physical truth of one simulated bench, in simulation time.

A :class:`Timeline` holds, as append-only piecewise-constant series:
- the DUT's load current on the measured rail (A),
- the supply's voltage set-point (V) and output state, with an optional output resistance
  (the rail voltage is ``v = V_set - R_out * i`` while the output is on, 0 while off; the DUT
  draws no current while unpowered),
- the levels of named GPIO pins (the timestamp pin among them),
- an optional reference load (a precision resistor, :meth:`connect_reference`): while it is
  connected the DUT is off the rail, the rail current is ``V_set / R`` and the sync pin named
  with it is driven by the reference fixture (low while the output is on: its falling edge
  marks the current step).

Everything before ``now_s`` is final. Producers (the simulated DUT) append at or after ``now_s``
and advance it; consumers (simulated instruments) query any interval before ``now_s``: exact
energy and charge, exact edge times, and renderings at a sample rate (bin averages or point
samples). This is the ground truth tests compare measurements against.

Time is virtual by default: nothing sleeps, activity is appended as fast as it is computed.
With ``pace="realtime"`` :meth:`sleep_until` waits for the wall clock, for live demos.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.physics.steps import Steps

Pace = Literal["virtual", "realtime"]


@dataclass(frozen=True)
class Rendering:
    """Samples of the timeline: ``n`` samples from ``t0_s`` at ``sample_rate_hz``."""

    t0_s: float
    sample_rate_hz: float
    current_a: np.ndarray
    voltage_v: np.ndarray
    pins: dict[str, np.ndarray]


class Timeline:
    """Append-only physical truth of one bench; thread-safe."""

    def __init__(
        self,
        *,
        supply_voltage_v: float = 0.0,
        output_on: bool = False,
        output_resistance_ohm: float = 0.0,
        pins: Iterable[tuple[str, bool]] = (("timestamp", True),),
        pace: Pace = "virtual",
    ) -> None:
        if pace not in ("virtual", "realtime"):
            raise ConfigError(f"pace must be 'virtual' or 'realtime', got {pace!r}", context="pace")
        if output_resistance_ohm < 0:
            raise ConfigError("output resistance must be >= 0", context="output_resistance_ohm")
        self.pace: Pace = pace
        self.output_resistance_ohm = float(output_resistance_ohm)
        self._load = Steps(0.0)
        self._setpoint = Steps(supply_voltage_v)
        self._output = Steps(1.0 if output_on else 0.0)
        self._pins: dict[str, Steps] = {name: Steps(1.0 if lvl else 0.0) for name, lvl in pins}
        self._ref_g = Steps(0.0)  # reference conductance (S); > 0: DUT off the rail
        self._ref_pin: str | None = None
        self._now_s = 0.0
        self._horizon: Callable[[], float] | None = None
        self._power_on_listeners: list[Callable[[float], None]] = []
        self._cond = threading.Condition()
        self._rail_cache: tuple | None = None
        self._wall0 = time.monotonic()
        self.max_late_s = 0.0  # realtime pace: see sleep_until
        self._reporters: list[Callable[[], float]] = []
        self.max_report_wait_s = 0.0  # realtime pace: see wait_reported
        self._load_listeners: list[Callable[[float, float], None]] = []

    # ---- clock -------------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        """Everything before this simulation time is final."""
        return self._now_s

    def advance_to(self, t_s: float) -> float:
        """Make the timeline final up to ``t_s`` (no-op if already past); wakes waiters.

        With a horizon set (:meth:`set_horizon`), a time beyond it is not forced: the call
        waits (bounded: the gap plus 1 s of wall time) until the owner has made it final, and
        returns ``now_s``, which may then still be short of ``t_s``.
        """
        with self._cond:
            if t_s > self._now_s and self._horizon is not None:
                limit = self._horizon()
                if t_s > limit:
                    self._cond.wait_for(lambda: self._now_s >= t_s, timeout=t_s - limit + 1.0)
                    t_s = min(t_s, self._horizon())
            if t_s > self._now_s:
                self._now_s = float(t_s)
                self._cond.notify_all()
            return self._now_s

    def set_horizon(self, horizon: Callable[[], float] | None) -> None:
        """Let a producer that runs on its own clock (the firmware DUT process, at realtime
        pace) own the timeline's clock: nobody may make it final beyond ``horizon()`` (its
        events up to then are in), so a meter's idle advance or capture end cannot overrun
        an event still in flight. ``None`` removes the horizon."""
        with self._cond:
            self._horizon = horizon

    def hold(self):
        """Hold the timeline (a re-entrant lock) so a read of ``now_s`` and the appends that
        follow are atomic: meters that advance idle time wait meanwhile."""
        return self._cond

    def advance_by(self, duration_s: float) -> float:
        with self._cond:
            return self.advance_to(self._now_s + max(0.0, duration_s))

    def wait_until(self, t_s: float, timeout_s: float) -> bool:
        """Wait (bounded, in wall time) until the timeline is final up to ``t_s``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._now_s >= t_s, timeout=timeout_s)

    def sleep_until(self, t_s: float) -> None:
        """Realtime pace: wait for the wall clock to reach ``t_s``; virtual pace: return.
        :attr:`max_late_s` keeps the latest wake-up past its target: the pacing's slack on a
        loaded host (targets are absolute, so lateness never adds up)."""
        if self.pace == "realtime":
            delay = t_s - (time.monotonic() - self._wall0)
            if delay > 0:
                time.sleep(delay)
                self.max_late_s = max(self.max_late_s, self.wall_time_s() - t_s)

    def wall_time_s(self) -> float:
        """Seconds of wall time since the timeline was created (realtime pace reference)."""
        return time.monotonic() - self._wall0

    def reportable_s(self) -> float:
        """How far a meter may report: ``now_s``, and at realtime pace never past the wall
        clock (a DUT commits a busy phase ahead of time, then sleeps through it; a meter that
        streamed it at once would run ahead of real time)."""
        if self.pace == "realtime":
            return min(self._now_s, self.wall_time_s())
        return self._now_s

    def pass_idle_time(self, t_s: float) -> float:
        """Let idle time pass up to ``t_s`` (the DUT draws its present level meanwhile): at
        virtual pace at once, at realtime pace never beyond the wall clock, since simulation
        time is wall time there and a clock run ahead would make the DUT sleep to catch up.
        Returns ``now_s``."""
        if self.pace == "realtime":
            t_s = min(t_s, self.wall_time_s())
        return self.advance_to(t_s)

    def add_reporter(self, reported_s: Callable[[], float]) -> None:
        """A streaming meter's watermark: ``reported_s()`` is the time up to which it has sent
        its data (``inf`` while it streams nothing, or while its host is not reading)."""
        with self._cond:
            self._reporters.append(reported_s)

    def wait_reported(self, t_s: float, timeout_s: float = 0.5) -> bool:
        """Realtime pace: wait (bounded) until every streaming meter has sent its data up to
        ``t_s``. A DUT calls it before its output at ``t_s`` leaves, so a host never reads a
        reply before the meter's data of the same instant (a real meter's latency is
        milliseconds, a UART reply's tens of them; on a loaded host the simulator's threads
        could otherwise invert that order). :attr:`max_report_wait_s` keeps the longest wait."""
        if self.pace != "realtime" or not self._reporters:
            return True
        started = time.monotonic()
        while min(fn() for fn in self._reporters) < t_s:
            waited = time.monotonic() - started
            if waited >= timeout_s:
                self.max_report_wait_s = max(self.max_report_wait_s, waited)
                return False
            time.sleep(0.001)
        self.max_report_wait_s = max(self.max_report_wait_s, time.monotonic() - started)
        return True

    def catch_up(self) -> float:
        """At realtime pace, let idle time pass up to the wall clock (an instrument that starts
        or ends something *now*, e.g. a recording); a no-op at virtual pace. Returns ``now_s``."""
        if self.pace == "realtime":
            return self.pass_idle_time(self.wall_time_s())
        return self._now_s

    def idle_until(self, t_s: float, timeout_s: float) -> bool:
        """Let idle time pass up to ``t_s`` and wait (bounded, wall time) until it is final:
        at realtime pace that means until the wall clock gets there (an acquisition ending at
        ``t_s`` completes then). True once ``now_s >= t_s``."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while self.pass_idle_time(t_s) < t_s:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.pace == "realtime":
                ahead = t_s - self.wall_time_s()
                time.sleep(min(remaining, max(ahead, 0.001), 0.05))
            else:  # a horizon (a DUT on its own clock) holds the timeline back
                self.wait_until(t_s, min(remaining, 0.05))
        return True

    # ---- producers ---------------------------------------------------------------------
    def set_load_current(self, t_s: float, current_a: float) -> None:
        """The DUT's load current from ``t_s`` on (what it draws while powered)."""
        with self._cond:
            self._check_append(t_s)
            self._load.set(t_s, current_a)
            for listener in self._load_listeners:  # another rail following this one's activity
                listener(t_s, current_a)

    def add_load_listener(self, listener: Callable[[float, float], None]) -> None:
        """Call ``listener(t_s, current_a)`` (under the timeline's lock) whenever the DUT's load
        current on this rail changes: how a second rail of the same DUT follows its activity."""
        with self._cond:
            self._load_listeners.append(listener)

    def connect_reference(self, t_s: float, resistance_ohm: float, sync_pin: str | None) -> None:
        """From ``t_s`` on the rail's load is a resistor of ``resistance_ohm`` (the DUT is
        disconnected) and ``sync_pin`` (if any) follows the reference fixture."""
        if not resistance_ohm > 0:
            raise ConfigError("reference resistance must be > 0", context="resistance_ohm")
        with self._cond:
            self._check_append(t_s)
            if sync_pin is not None:
                self._pin(sync_pin)
            self._ref_pin = sync_pin
            self._ref_g.set(t_s, 1.0 / resistance_ohm)

    def disconnect_reference(self, t_s: float) -> None:
        """From ``t_s`` on the DUT is back on the rail."""
        with self._cond:
            self._check_append(t_s)
            self._ref_g.set(t_s, 0.0)

    def set_supply(
        self, t_s: float, *, voltage_v: float | None = None, output_on: bool | None = None
    ) -> None:
        with self._cond:
            self._check_append(t_s)
            was_on = self._output.at(t_s) > 0.5
            if voltage_v is not None:
                self._setpoint.set(t_s, voltage_v)
            if output_on is not None:
                self._output.set(t_s, 1.0 if output_on else 0.0)
            listeners = list(self._power_on_listeners) if output_on and not was_on else []
        for listener in listeners:  # outside the lock: a DUT reboot appends to the timeline
            listener(t_s)

    def add_power_on_listener(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(t_s)`` whenever the supply output switches on (the DUT boots)."""
        with self._cond:
            self._power_on_listeners.append(listener)

    def set_pin(self, name: str, t_s: float, level: bool) -> None:
        with self._cond:
            self._check_append(t_s)
            self._pin(name).set(t_s, 1.0 if level else 0.0)

    def add_pin(self, name: str, level: bool) -> None:
        """A new pin at ``level`` from t=0; a pin that exists already is left as it is."""
        with self._cond:
            self._pins.setdefault(name, Steps(1.0 if level else 0.0))

    def _check_append(self, t_s: float) -> None:
        if t_s < self._now_s:
            raise ConfigError(f"cannot change the past: {t_s} s < now {self._now_s} s")

    def _pin(self, name: str) -> Steps:
        try:
            return self._pins[name]
        except KeyError:
            raise ConfigError(f"unknown pin {name!r}", context="pin") from None

    # ---- queries (ground truth) ----------------------------------------------------------
    @property
    def pin_names(self) -> tuple[str, ...]:
        return tuple(self._pins)

    def supply_state(self, t_s: float) -> tuple[float, bool]:
        with self._cond:
            return self._setpoint.at(t_s), self._output.at(t_s) > 0.5

    def current_at(self, t_s: float) -> float:
        """Rail current at ``t_s`` (0 while the output is off)."""
        with self._cond:
            g = self._ref_g.at(t_s)
            load = g * self._setpoint.at(t_s) if g > 0 else self._load.at(t_s)
            return load * self._output.at(t_s)

    def pin_at(self, name: str, t_s: float) -> bool:
        with self._cond:
            if name == self._ref_pin and self._ref_g.at(t_s) > 0:
                return self._output.at(t_s) < 0.5
            return self._pin(name).at(t_s) > 0.5

    def _pieces(
        self, t0_s: float, t1_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Constant pieces of [t0, t1): start times, durations, current, set-point voltage."""
        cuts = {t0_s, t1_s}
        for series in (self._load, self._setpoint, self._output, self._ref_g):
            cuts.update(series.breakpoints_in(t0_s, t1_s))
        edges = np.array(sorted(cuts), dtype=np.float64)
        starts = edges[:-1]
        setpoint = self._setpoint.values_at(starts)
        current = self._load_values(starts, setpoint) * self._output.values_at(starts)
        return starts, np.diff(edges), current, setpoint

    def energy_j(self, t0_s: float, t1_s: float) -> float:
        """Exact ∫ v·i dt over [t0, t1) at the DUT's supply terminals."""
        if t1_s < t0_s:
            raise ConfigError(f"interval ends ({t1_s}) before it starts ({t0_s})")
        with self._cond:
            _, dt, i, v_set = self._pieces(t0_s, t1_s)
        power = (v_set - self.output_resistance_ohm * i) * i
        return float(np.sum(power * dt, dtype=np.float64))

    def charge_c(self, t0_s: float, t1_s: float) -> float:
        """Exact ∫ i dt over [t0, t1)."""
        with self._cond:
            _, dt, i, _ = self._pieces(t0_s, t1_s)
        return float(np.sum(i * dt, dtype=np.float64))

    def edges(
        self,
        name: str,
        polarity: Literal["falling", "rising", "both"] = "falling",
        t0_s: float = 0.0,
        t1_s: float = float("inf"),
    ) -> np.ndarray:
        """Exact transition times of a pin in [t0, t1)."""
        with self._cond:
            series = self._pin(name)
            t, v, _ = series.arrays()
        if len(t) < 2:
            return np.empty(0)
        times, before, after = t[1:], v[:-1], v[1:]
        if polarity == "falling":
            keep = (before > 0.5) & (after < 0.5)
        elif polarity == "rising":
            keep = (before < 0.5) & (after > 0.5)
        else:
            keep = before != after
        times = times[keep]
        return times[(times >= t0_s) & (times < t1_s)]

    def render(
        self, t0_s: float, sample_rate_hz: float, n: int, kind: Literal["bin", "point"] = "bin"
    ) -> Rendering:
        """Ideal samples: bin averages over [t_k, t_k+1/fs) or point values at t_k.

        Pins are always point samples at t_k. Voltage bins use the averaged current in the
        output-resistance drop (exact when the current is constant within the bin).
        """
        if sample_rate_hz <= 0 or n < 0:
            raise ConfigError("render needs sample_rate_hz > 0 and n >= 0")
        k = np.arange(n + 1, dtype=np.float64)
        times = t0_s + k / sample_rate_hz
        with self._cond:
            if kind == "bin":
                on_charge = self._rail_charge_at(times)
                current = np.diff(on_charge) * sample_rate_hz
                setpoint = np.diff(self._setpoint.integral_at(times)) * sample_rate_hz
            else:
                pts = times[:-1]
                setpoint = self._setpoint.values_at(pts)
                current = self._load_values(pts, setpoint) * self._output.values_at(pts)
            output = self._output.values_at(times[:-1])
            voltage = (setpoint - self.output_resistance_ohm * current) * output
            pins = {name: s.values_at(times[:-1]) > 0.5 for name, s in self._pins.items()}
            if self._ref_pin is not None:
                fixture = self._ref_g.values_at(times[:-1]) > 0
                if fixture.any():
                    pin = pins[self._ref_pin]
                    pins[self._ref_pin] = np.where(fixture, output < 0.5, pin)
        return Rendering(t0_s, sample_rate_hz, current, voltage, pins)

    def _load_values(self, times: np.ndarray, setpoint: np.ndarray) -> np.ndarray:
        """The load current before the output switch: the DUT's, or ``V_set·G`` while the
        reference resistor is connected."""
        g = self._ref_g.values_at(times)
        return np.where(g > 0, setpoint * g, self._load.values_at(times))

    def _rail_steps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Breakpoints of the rail current, its value and running integral; rebuilt only after
        an append changed a series it depends on (renders call this once per chunk)."""
        series = (self._load, self._output, self._ref_g, self._setpoint)
        arrays = tuple(s.arrays() for s in series)
        cached = self._rail_cache
        if cached is not None and all(a is b for a, b in zip(cached[0], arrays, strict=True)):
            return cached[1]
        cuts = arrays[0][0]
        for other in arrays[1:]:
            cuts = np.union1d(cuts, other[0])
        setpoint = self._setpoint.values_at(cuts)
        cut_current = self._load_values(cuts, setpoint) * self._output.values_at(cuts)
        cut_charge = np.concatenate(([0.0], np.cumsum(cut_current[:-1] * np.diff(cuts))))
        self._rail_cache = (arrays, (cuts, cut_current, cut_charge))
        return self._rail_cache[1]

    def _rail_charge_at(self, times: np.ndarray) -> np.ndarray:
        """∫_0^t load·output dt at each time, exact, vectorised over sorted times."""
        cuts, cut_current, cut_charge = self._rail_steps()
        k = np.searchsorted(cuts, times, side="right") - 1
        return cut_charge[k] + cut_current[k] * (times - cuts[k])

    def interval_averages(
        self, starts_s: np.ndarray, duration_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean rail current and mean rail voltage over ``[t, t + duration_s)`` for each
        start time (an integrating meter's aperture, which need not tile time like render)."""
        if duration_s <= 0:
            raise ConfigError("interval_averages needs duration_s > 0")
        starts = np.asarray(starts_s, dtype=np.float64)
        ends = starts + duration_s
        with self._cond:
            current = (self._rail_charge_at(ends) - self._rail_charge_at(starts)) / duration_s
            setpoint = (
                self._setpoint.integral_at(ends) - self._setpoint.integral_at(starts)
            ) / duration_s
            output = self._output.values_at(starts)
        return current, (setpoint - self.output_resistance_ohm * current) * output
