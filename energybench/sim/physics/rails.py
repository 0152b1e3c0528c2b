"""A DUT with two measured rails: the core rail is the lab's :class:`Timeline`; the I/O rail
(GPIOs, UART pins, flash interface) is a :class:`RailTimeline`, its own load current, supply
set-point and output on the same clock and pins. Its current follows the DUT's activity on the
core rail through a different profile (:class:`IoRailProfile`): a fixed I/O idle draw, a modest
rise while the core computes, a larger one while the UART lines toggle. Exact energy per rail
is the ground truth of multi-rail runs (``rail.energy_j(t0, t1)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from energybench.errors import ConfigError
from energybench.sim.dut.profiles import DutProfile
from energybench.sim.physics.steps import Steps
from energybench.sim.physics.timeline import Timeline

LEVEL_TOLERANCE = 1e-9  # A: a core level equal to the profile's idle or UART level


@dataclass(frozen=True)
class IoRailProfile:
    """The I/O rail's supply and its current in each of the core's activity states (A)."""

    voltage_v: float = 3.3
    idle_a: float = 0.40e-3  # pull-ups, the flash in standby
    active_a: float = 1.10e-3  # while the core infers: memory-mapped flash reads
    uart_a: float = 2.20e-3  # while the DUT sends or receives: the UART pins toggle

    def __post_init__(self) -> None:
        for name in ("voltage_v", "idle_a", "active_a", "uart_a"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"must be >= 0, got {getattr(self, name)}", context=name)

    def follower(self, dut: DutProfile) -> Callable[[float], float]:
        """The I/O current for a core current of the DUT ``dut`` (its idle and UART levels
        are known; anything above idle that is not the UART level is computing)."""
        idle = dut.idle_current_a
        uart = dut.idle_current_a + dut.uart_current_a

        def io_current_a(core_a: float) -> float:
            if abs(core_a - uart) <= LEVEL_TOLERANCE:
                return self.uart_a
            if core_a <= idle + LEVEL_TOLERANCE:
                return self.idle_a
            return self.active_a

        return io_current_a


class RailTimeline(Timeline):
    """Another rail of the DUT behind ``main``: its own load (``current_of`` the core's), supply
    set-point and output; the clock, pins, pace, horizon and streaming watermarks are
    ``main``'s, so a simulator on this rail sees the same time and the same timestamp pin."""

    def __init__(
        self,
        main: Timeline,
        current_of: Callable[[float], float],
        *,
        supply_voltage_v: float,
        output_on: bool = True,
        output_resistance_ohm: float = 0.0,
    ) -> None:
        if output_resistance_ohm < 0:
            raise ConfigError("output resistance must be >= 0", context="output_resistance_ohm")
        self.main = main
        self.pace = main.pace
        self.output_resistance_ohm = float(output_resistance_ohm)
        self._cond = main.hold()  # one lock: the rails change together
        self._pins = main._pins
        self._rail_cache = None
        self._ref_g, self._ref_pin = Steps(0.0), None  # no reference load on a further rail
        self._power_on_listeners = []  # this rail's power does not boot the DUT
        self._load_listeners = []
        with self._cond:
            self._load = Steps(current_of(main.current_at(0.0)))
            self._setpoint = Steps(supply_voltage_v)
            self._output = Steps(1.0 if output_on else 0.0)
            main.add_load_listener(lambda t_s, core_a: self._load.set(t_s, current_of(core_a)))

    # the clock and its waits are the main rail's
    @property
    def _now_s(self) -> float:  # type: ignore[override]
        return self.main.now_s

    @property
    def now_s(self) -> float:
        return self.main.now_s

    @property
    def max_late_s(self) -> float:  # type: ignore[override]
        return self.main.max_late_s

    @property
    def max_report_wait_s(self) -> float:  # type: ignore[override]
        return self.main.max_report_wait_s

    def advance_to(self, t_s: float) -> float:
        return self.main.advance_to(t_s)

    def set_horizon(self, horizon: Callable[[], float] | None) -> None:
        self.main.set_horizon(horizon)

    def wait_until(self, t_s: float, timeout_s: float) -> bool:
        return self.main.wait_until(t_s, timeout_s)

    def sleep_until(self, t_s: float) -> None:
        self.main.sleep_until(t_s)

    def wall_time_s(self) -> float:
        return self.main.wall_time_s()

    def reportable_s(self) -> float:
        return self.main.reportable_s()

    def pass_idle_time(self, t_s: float) -> float:
        return self.main.pass_idle_time(t_s)

    def add_reporter(self, reported_s: Callable[[], float]) -> None:
        self.main.add_reporter(reported_s)

    def wait_reported(self, t_s: float, timeout_s: float = 0.5) -> bool:
        return self.main.wait_reported(t_s, timeout_s)

    def catch_up(self) -> float:
        return self.main.catch_up()

    def idle_until(self, t_s: float, timeout_s: float) -> bool:
        return self.main.idle_until(t_s, timeout_s)

    def set_pin(self, name: str, t_s: float, level: bool) -> None:
        self.main.set_pin(name, t_s, level)

    def add_pin(self, name: str, level: bool) -> None:
        self.main.add_pin(name, level)

    def set_load_current(self, t_s: float, current_a: float) -> None:
        raise ConfigError("the I/O rail follows the core rail's activity", context="rail")


def add_io_rail(
    main: Timeline, dut: DutProfile, profile: IoRailProfile | None = None, *, output_on=True
) -> RailTimeline:
    """The I/O rail of the DUT ``dut`` whose core rail is ``main``."""
    profile = profile or IoRailProfile()
    return RailTimeline(
        main, profile.follower(dut), supply_voltage_v=profile.voltage_v, output_on=output_on
    )
