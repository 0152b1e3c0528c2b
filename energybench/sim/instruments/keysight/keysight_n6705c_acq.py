"""Measurement engines of the simulated N6705: per-channel state, scope-mode array acquisitions
and the Elog stream, rendered from the timeline through one MeasurementModel per quantity.

Time is the timeline's virtual time. An acquisition armed at ``armed_s`` fills its pre-trigger
buffer first; a trigger edge before that is ignored, as on the real instrument (N6705C User's
Guide p.213). A
completed array acquisition may advance the timeline itself (acquisition takes time; the DUT is
idle meanwhile). The Elog only reports records whose period is already final.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from energybench.errors import AcquisitionError
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline

# Measurement ranges per module (docs/instruments/keysight-n6705c.md#ranges [U]); the widest first.
CURRENT_RANGES_A = {
    "N6781A": (3.0, 0.1, 1e-3, 10e-6),
    "N6785A": (8.0, 1.0, 0.1, 1e-3),
}
VOLTAGE_RANGES_V = {"N6781A": (20.0, 1.0, 0.1), "N6785A": (20.0, 1.0, 0.1)}
SOURCE_MAX = {"N6781A": (20.0, 3.0), "N6785A": (20.0, 8.0)}  # (V, A)
SMU_MODULES = tuple(CURRENT_RANGES_A)

MAX_POINTS = 512 * 1024
TINT_MAX_S = 40000.0
ELOG_PARAM_PERIOD_S = 102.4e-6  # minimum Elog period per logged parameter (REAL format)
ELOG_QUANTUM_S = 20.48e-6
EMULATIONS = ("PS4Q", "PS2Q", "PS1Q", "BATT", "CHAR", "CCL", "CVL", "VMET", "AMET")
SOURCE_EMULATIONS = ("PS4Q", "PS2Q", "PS1Q", "BATT", "CHAR")


def tint_quantum_s(parameters: int, module: str) -> float:
    """Digitizer interval step for the number of digitized parameters (N6705C User's Guide
    p.213)."""
    if parameters <= 1 and module in SMU_MODULES:
        return 5.12e-6
    if parameters <= 2:
        return 10.24e-6
    if parameters <= 4:
        return 20.48e-6
    return 40.96e-6


def quantise_interval(requested_s: float, quantum_s: float) -> float:
    """Round to a whole number of quanta, at least one."""
    return max(1, round(requested_s / quantum_s)) * quantum_s


@dataclass
class Channel:
    """Source and measurement settings of one output (power-on defaults)."""

    number: int
    module: str
    emulation: str = "PS2Q"
    voltage_v: float = 0.0
    current_a: float = 0.1
    current_limit_a: float = 0.1
    ovp_v: float = 22.0
    output_on: bool = False
    func_current: bool = True
    func_voltage: bool = False
    tint_request_s: float = 20.48e-6
    points: int = 1024
    offset_points: int = 0
    current_range_a: float = 0.0  # 0: the widest range
    voltage_range_v: float = 0.0
    trigger_source: str = "BUS"
    elog_current: bool = True
    elog_voltage: bool = False
    elog_period_request_s: float = 0.1
    elog_trigger_source: str = "BUS"
    current_model: MeasurementModel = field(default_factory=MeasurementModel)
    voltage_model: MeasurementModel = field(default_factory=MeasurementModel)

    def __post_init__(self) -> None:
        self.current_range_a = self.current_range_a or CURRENT_RANGES_A[self.module][0]
        self.voltage_range_v = self.voltage_range_v or VOLTAGE_RANGES_V[self.module][0]

    @property
    def sources(self) -> bool:
        return self.emulation in SOURCE_EMULATIONS

    @property
    def scope_parameters(self) -> int:
        return int(self.func_current) + int(self.func_voltage)

    @property
    def elog_parameters(self) -> int:
        return int(self.elog_current) + int(self.elog_voltage)


def make_models(
    current: MeasurementModel | None, voltage: MeasurementModel | None, seed: int
) -> tuple[MeasurementModel, MeasurementModel]:
    """Independent current and voltage models of one channel (distinct noise streams)."""
    ideal = MeasurementModel.ideal()
    return replace(current or ideal, seed=seed), replace(voltage or ideal, seed=seed + 1)


@dataclass
class Wiring:
    """How the DUT's timestamp line reaches the mainframe."""

    pin_name: str = "timestamp"
    digital_pin: int = 1  # digital-port pin wired to the timestamp line
    ext_wired: bool = True  # the rear trigger-in BNC is wired to it too (low-true)
    io_voltage_v: float = 1.8  # level the VMETer module sees for a high pin
    # output number -> the DUT rail it sources (output 1: the lab's timeline; a two-rail DUT's
    # I/O rail on another output, see sim/physics/rails.py)
    rails: dict[int, Timeline] = field(default_factory=dict)

    def rail(self, timeline: Timeline, number: int) -> Timeline | None:
        """The rail output ``number`` sources (None: no DUT rail on it)."""
        return self.rails.get(number, timeline if number == 1 else None)


@dataclass
class Trigger:
    """A trigger source resolved to the timestamp line: polarity, or None for BUS/IMM."""

    source: str  # "BUS", "IMM", "EXT", "PIN<n>"
    polarity: str | None  # "falling" | "rising" | None (not a line trigger)
    connected: bool = True  # False: the pin is not a trigger input or not wired


@dataclass
class Acquisition:
    """One armed scope-mode acquisition of a set of channels."""

    channels: list[int]
    armed_s: float
    interval_s: float
    points: int
    offset_points: int
    trigger: Trigger
    trigger_s: float | None = None
    data: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def earliest_trigger_s(self) -> float:
        return self.armed_s + max(0, -self.offset_points) * self.interval_s

    @property
    def start_s(self) -> float:
        if self.trigger_s is None:  # an invariant of the callers, kept under python -O
            raise AcquisitionError("the acquisition has not triggered", context="sim N6705C")
        return self.trigger_s + self.offset_points * self.interval_s

    @property
    def end_s(self) -> float:
        return self.start_s + self.points * self.interval_s

    @property
    def complete(self) -> bool:
        return bool(self.data)


@dataclass
class ElogSession:
    """A running Elog over a set of channels with common record boundaries."""

    channels: list[int]
    armed_s: float
    period_s: float
    trigger: Trigger
    capacity: int
    start_s: float | None = None
    consumed: int = 0  # records fetched or lost


def find_trigger(
    timeline: Timeline, wiring: Wiring, trigger: Trigger, after_s: float
) -> float | None:
    """The first qualifying edge of the timestamp line at or after ``after_s`` (final part)."""
    if trigger.polarity is None or not trigger.connected:
        return None
    edges = timeline.edges(wiring.pin_name, trigger.polarity, after_s, timeline.now_s)
    return float(edges[0]) if edges.size else None


def pin_bin_average(
    timeline: Timeline, pin: str, t0_s: float, period_s: float, n: int
) -> np.ndarray:
    """Exact fraction of each bin ``[t0 + kP, t0 + (k+1)P)`` during which the pin is high."""
    bounds = t0_s + np.arange(n + 1, dtype=np.float64) * period_s
    t1_s = float(bounds[-1]) if n else t0_s
    edges = timeline.edges(pin, "both", t0_s, t1_s)
    edges = edges[edges > t0_s]  # the level at t0 already includes an edge at t0
    level0 = 1.0 if timeline.pin_at(pin, t0_s) else 0.0
    times = np.concatenate(([t0_s], edges, [t1_s]))
    levels = np.where(np.arange(edges.size + 1) % 2 == 0, level0, 1.0 - level0)
    high = np.concatenate(([0.0], np.cumsum(levels * np.diff(times))))
    return np.diff(np.interp(bounds, times, high)) / period_s


def render_channel(
    timeline: Timeline,
    channel: Channel,
    wiring: Wiring,
    t0_s: float,
    interval_s: float,
    n: int,
    kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Measured (current, voltage) of one channel: point samples or bin averages."""
    rail = wiring.rail(timeline, channel.number)
    if rail is not None and channel.sources:
        rendering = rail.render(t0_s, 1.0 / interval_s, n, kind=kind)  # type: ignore[arg-type]
        current, voltage = rendering.current_a, rendering.voltage_v
    else:
        current = np.zeros(n)
        if channel.emulation == "VMET":
            if kind == "bin":
                level = pin_bin_average(timeline, wiring.pin_name, t0_s, interval_s, n)
            else:
                level = (
                    timeline.render(t0_s, 1.0 / interval_s, n, kind="point")
                    .pins[wiring.pin_name]
                    .astype(np.float64)
                )
            voltage = level * wiring.io_voltage_v
        else:
            voltage = np.full(n, channel.voltage_v if channel.output_on else 0.0)
    channel.current_model.range_max = channel.current_range_a
    channel.voltage_model.range_max = channel.voltage_range_v
    return channel.current_model.apply(current), channel.voltage_model.apply(voltage)


def elog_min_period_s(parameters: int) -> float:
    return ELOG_PARAM_PERIOD_S * max(1, parameters)


def accepted_elog_period_s(requested_s: float, parameters: int) -> float:
    """Rounded to the 20.48 µs sample period, raised to the per-parameter minimum."""
    minimum = elog_min_period_s(parameters)
    return max(minimum, quantise_interval(requested_s, ELOG_QUANTUM_S))


def completed_records(session: ElogSession, now_s: float) -> int:
    if session.start_s is None:
        return 0
    return max(0, math.floor((now_s - session.start_s) / session.period_s + 1e-9))
