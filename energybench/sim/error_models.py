"""The true error model of each simulated meter: the limits every unit of the simulated model
stays within (gain, offset, clock), and its white noise. A seeded draw makes one unit: its
gain and offset errors uniform within ±limit (as a data sheet's "±(gain·reading + offset)"
promises of every unit), its clock error uniform within ±ppm.

The lab states this model in its bench file (:data:`LAB_FIGURES`, written as ``[meter]
accuracy`` by ``bench_toml(..., lab_figures=True)``) for the figures the meter's shipped
profile does not document; the figures a profile documents are the lab's model too, so the
uncertainty budget is checked against the profile where there is one. ``attach_meter(...,
measurement="datasheet")`` gives a simulator a drawn unit (gain, offset, noise: the lab's
instruments do not simulate a clock error; :mod:`energybench.sim.coverage` does).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from energybench.calibration.meter_figures import FIGURE_KEYS, MeterFigures
from energybench.errors import ConfigError
from energybench.sim.physics.measurement import MeasurementModel

LAB_SOURCE = "virtual lab error model (energybench.sim.error_models)"


@dataclass(frozen=True)
class ErrorModel:
    """One simulated meter's true error model (limits; noise as a standard deviation)."""

    gain: float  # ±relative current gain error
    offset_a: float  # ±current offset
    voltage_gain: float
    offset_v: float
    timebase_ppm: float  # ±clock error
    noise_rms_a: float = 0.0  # white noise of one current sample
    # the figures the lab's bench file states: those the shipped profile lacks (the others are
    # the profile's own, at the range the lab's DUT uses)
    stated: tuple[str, ...] = FIGURE_KEYS

    def draw(self, seed: int) -> DrawnUnit:
        """One unit of this model (seeded)."""
        rng = np.random.default_rng(seed)
        u = rng.uniform(-1.0, 1.0, size=5)
        return DrawnUnit(
            gain_error=self.gain * u[0],
            offset_a=self.offset_a * u[1],
            voltage_gain_error=self.voltage_gain * u[2],
            offset_v=self.offset_v * u[3],
            clock_error=self.timebase_ppm * 1e-6 * u[4],
            noise_rms_a=self.noise_rms_a,
        )

    def figures(self) -> MeterFigures:
        """What the lab's bench file states (``[meter] accuracy``)."""
        values = {k: getattr(self, k) for k in self.stated}
        return MeterFigures(source=LAB_SOURCE, **values)


@dataclass(frozen=True)
class DrawnUnit:
    """The errors of one simulated unit."""

    gain_error: float
    offset_a: float
    voltage_gain_error: float
    offset_v: float
    clock_error: float  # relative: the unit's sample interval is (1 + clock_error)/fs
    noise_rms_a: float

    def current_model(self, seed: int) -> MeasurementModel:
        return MeasurementModel(
            gain_error=self.gain_error, offset=self.offset_a, noise_rms=self.noise_rms_a, seed=seed
        )

    def voltage_model(self, seed: int) -> MeasurementModel:
        return MeasurementModel(
            gain_error=self.voltage_gain_error, offset=self.offset_v, seed=seed + 1
        )


_ALL = FIGURE_KEYS
_NOT_CURRENT = ("voltage_gain", "offset_v", "timebase_ppm", "noise_rms_a")
ERROR_MODELS: dict[str, ErrorModel] = {
    # the stream source: nothing documented (the profile's ideal zeros hold only for an ideal
    # source): every figure stated
    "sim_stream": ErrorModel(1e-3, 20e-6, 5e-4, 1e-3, 25.0, noise_rms_a=50e-6),
    # N6781A 100 mA range ±(0.025 % + 10 µA) from the profile; voltage and clock from the lab
    "keysight_n6705c": ErrorModel(2.5e-4, 10e-6, 2e-4, 1e-3, 50.0, 2e-6, _NOT_CURRENT),
    # ±2 % (ST); no offset term documented: the lab's 1 µA, voltage and clock stated
    "lpm01a": ErrorModel(0.02, 1e-6, 1e-3, 2e-3, 100.0, 1e-6, ("offset_a", *_NOT_CURRENT)),
    "otii": ErrorModel(1e-3, 5e-6, 1e-3, 1e-3, 50.0, 5e-6, _ALL),
    "nordic_ppk2": ErrorModel(0.01, 2e-6, 5e-3, 5e-3, 100.0, 20e-6, _ALL),
    # B2900A 100 mA range ±(0.02 % + 20 µA), 2 V range ±(0.02 % + 350 µV), TIMER ±50 ppm: all
    # documented; the lab states its noise only
    "keysight_b2900": ErrorModel(2e-4, 20e-6, 2e-4, 350e-6, 50.0, 1e-6, ("noise_rms_a",)),
    "keithley_2461": ErrorModel(1e-3, 100e-6, 1e-3, 1e-3, 50.0, 5e-6, _ALL),
    # 2602B 100 mA range ±(0.02 % + 20 µA) and ±100 ppm documented; voltage from the lab
    "keithley_2600b": ErrorModel(
        2e-4, 20e-6, 2e-4, 1e-3, 100.0, 1e-6, ("voltage_gain", "offset_v", "noise_rms_a")
    ),
    # SPEC-2450 100 mA range ±(0.025 % + 6 µA) documented; voltage and clock from the lab
    "keithley_2450": ErrorModel(2.5e-4, 6e-6, 2e-4, 1e-3, 50.0, 1e-6, _NOT_CURRENT),
    "keithley_2460": ErrorModel(5e-4, 50e-6, 5e-4, 1e-3, 50.0, 2e-6, _ALL),
    # no lab simulator (the coverage model only): Jetperch's 10 A range ±(0.25 % + 1.5 mA) and
    # ±25 ppm documented; voltage from the lab
    "joulescope": ErrorModel(
        2.5e-3, 1.5e-3, 1e-3, 1e-3, 25.0, 100e-6, ("voltage_gain", "offset_v", "noise_rms_a")
    ),
}
LAB_FIGURES: dict[str, MeterFigures] = {name: m.figures() for name, m in ERROR_MODELS.items()}


def error_model(name: str) -> ErrorModel:
    """The error model of the simulated meter ``name`` (its registry name)."""
    try:
        return ERROR_MODELS[name]
    except KeyError:
        raise ConfigError(
            f"no error model for {name!r} (the lab has: {', '.join(ERROR_MODELS)})", context=name
        ) from None


def datasheet_measurement(name: str, simulator: type, seed: int) -> dict[str, MeasurementModel]:
    """The keyword arguments giving ``simulator`` one drawn unit of meter ``name``'s model
    (current, and voltage where the simulator measures it)."""
    unit = error_model(name).draw(seed)
    kwargs = {"measurement": unit.current_model(seed)}
    if "voltage_measurement" in inspect.signature(simulator).parameters:
        kwargs["voltage_measurement"] = unit.voltage_model(seed)
    return kwargs
