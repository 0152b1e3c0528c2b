"""Pieces the simulated Keithley SMUs share: reading buffers with absolute sample times, and
rendering a stretch of the timeline the way an SMU's ADC sees it (gain/offset/noise from a
:class:`MeasurementModel`, then saturation at the top of the current range)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline

OVER_RANGE_FACTOR = 1.05  # Keithley ranges read up to 105 % of full scale


@dataclass
class SimBuffer:
    """A reading buffer that fills once: readings past ``capacity`` are discarded."""

    name: str
    capacity: int
    current: list[np.ndarray] = field(default_factory=list)
    source: list[np.ndarray] = field(default_factory=list)
    times_s: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def clear(self) -> None:
        self.current.clear()
        self.source.clear()
        self.times_s.clear()
        self.count = 0

    def append(self, current: np.ndarray, source: np.ndarray, times_s: np.ndarray) -> int:
        """Store what fits; the number of readings stored."""
        room = max(0, self.capacity - self.count)
        take = min(room, len(current))
        if take:
            self.current.append(np.asarray(current[:take], dtype=np.float64))
            self.source.append(np.asarray(source[:take], dtype=np.float64))
            self.times_s.append(np.asarray(times_s[:take], dtype=np.float64))
            self.count += take
        return take

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(current, source, absolute time) of every stored reading."""
        if not self.count:
            empty = np.empty(0)
            return empty, empty, empty
        self.current = [np.concatenate(self.current)]
        self.source = [np.concatenate(self.source)]
        self.times_s = [np.concatenate(self.times_s)]
        return self.current[0], self.source[0], self.times_s[0]

    def relative_s(self) -> np.ndarray:
        """Seconds since the first reading in the buffer (the RELative element)."""
        _, _, t = self.columns()
        return t - t[0] if t.size else t


@dataclass
class AdcModel:
    """How one simulated SMU measures: a current error model, a voltage error model."""

    current: MeasurementModel
    voltage: MeasurementModel

    @classmethod
    def build(
        cls, measurement: MeasurementModel | None, voltage: MeasurementModel | None, seed: int
    ) -> AdcModel:
        current = measurement if measurement is not None else MeasurementModel(seed=seed)
        volts = voltage if voltage is not None else MeasurementModel(seed=seed + 1)
        return cls(current, volts)

    def render(
        self,
        timeline: Timeline,
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        *,
        averaging: bool,
        current_range_a: float,
        voltage_readback: bool,
        programmed_voltage_v: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(current, source value, absolute times) of ``n`` readings from ``t0_s``.

        ``averaging``: each reading averages its whole interval (aperture = interval), else it
        is the value at the reading's start. Readings saturate at 105 % of the range.
        """
        kind = "bin" if averaging else "point"
        rendering = timeline.render(t0_s, sample_rate_hz, n, kind=kind)
        current = self.current.apply(rendering.current_a)
        limit = OVER_RANGE_FACTOR * current_range_a
        current = np.clip(current, -limit, limit)
        if voltage_readback:
            source = self.voltage.apply(rendering.voltage_v)
        else:
            source = np.full(n, float(programmed_voltage_v))
        times = t0_s + np.arange(n, dtype=np.float64) / sample_rate_hz
        return current, source, times


def readings_before(t0_s: float, t_stop_s: float, sample_rate_hz: float) -> int:
    """How many readings started in [t0, t_stop): the one in progress at t_stop completes."""
    span = (t_stop_s - t0_s) * sample_rate_hz
    return max(0, math.ceil(span - 1e-9))
