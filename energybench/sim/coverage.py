"""Does the uncertainty hold? Seeded window energies of each simulated meter against the truth.

Each window draws one unit of the meter's true error model (:mod:`energybench.sim.error_models`:
gain, offset, voltage, clock error, white noise) and one DUT current pattern (idle before and
after, inference bursts inside, the edges anywhere between samples); the unit's samples are
rendered from the exact pattern (point values, or averages over each bin), on the unit's own
clock, the edges placed as the analysis places them (between two point samples; in the middle
of the bin an event falls in), the window integrated by :func:`~energybench.analysis.integrate.
integrate_windows` and its U (k=2) taken from :func:`~energybench.calibration.budget.
window_budget` with what the lab's bench file states (the profile for the rest), exactly as a
run does. Coverage is the share of windows whose true energy lies within ±U; U/RMS compares the
mean U with the root-mean-square actual error (a U far larger than the errors is vacuous).

This is the model level (no serial DUT, no wire protocol): fast enough for a test, and the same
analysis and budget code a run uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energybench.analysis.integrate import integrate_windows
from energybench.analysis.trace import Trace
from energybench.analysis.window_steps import window_steps
from energybench.analysis.windows import Window
from energybench.calibration.budget import MeterBudget, find_profile, window_budget
from energybench.calibration.meter_figures import MeterFigures
from energybench.errors import ConfigError
from energybench.sim.error_models import DrawnUnit, error_model

SUPPLY_V = 1.8
SAMPLES_PER_WINDOW = 4000  # keeps 200 windows of a 1 MS/s meter fast


@dataclass(frozen=True)
class CoverageCase:
    """How one simulated meter samples: its profile's driver, rate, kind, range in use."""

    name: str
    driver: str
    sample_rate_hz: float
    sample_kind: str  # "point" or "bin"
    current_range_a: float | None = None  # the range in use (None: the widest)


CASES: dict[str, CoverageCase] = {
    c.name: c
    for c in (
        CoverageCase("keysight_n6705c", "keysight_n6705c", 1 / 40.96e-6, "bin", 0.1),
        CoverageCase("keithley_2450", "keithley_2450", 5_000.0, "bin", 0.1),
        CoverageCase("keithley_2460", "keithley_2460", 5_000.0, "bin"),
        CoverageCase("keithley_2461", "keithley_2461", 100_000.0, "bin"),
        CoverageCase("keithley_2600b", "keithley_2600b", 10_000.0, "bin", 0.1),
        CoverageCase("keysight_b2900", "keysight_b2900", 10_000.0, "bin", 0.1),
        CoverageCase("lpm01a", "lpm01a", 1_000.0, "bin"),
        CoverageCase("otii", "otii", 4_000.0, "bin"),
        CoverageCase("joulescope", "joulescope", 1_000_000.0, "point", 10.0),
        CoverageCase("nordic_ppk2", "nordic_ppk2", 100_000.0, "point"),
        CoverageCase("sim_stream", "sim_stream", 10_000.0, "point"),
    )
}


@dataclass(frozen=True)
class CoverageResult:
    name: str
    windows: int
    covered: int
    mean_u_j: float
    rms_error_j: float
    unknown: int  # windows whose U was unknown (never covered)

    @property
    def coverage(self) -> float:
        return self.covered / self.windows if self.windows else math.nan

    @property
    def u_over_rms(self) -> float:
        return self.mean_u_j / self.rms_error_j if self.rms_error_j > 0 else math.inf


@dataclass(frozen=True)
class _Pattern:
    """A piecewise-constant current (A) in true time: values[k] on [times[k], times[k+1])."""

    times: np.ndarray
    values: np.ndarray
    start_s: float
    stop_s: float
    inferences: int

    def charge(self, t: np.ndarray) -> np.ndarray:
        """∫0^t i dt (exact: piecewise linear between the breakpoints)."""
        q = np.concatenate(([0.0], np.cumsum(self.values[:-1] * np.diff(self.times))))
        return np.interp(t, self.times, q)

    def at(self, t: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(self.values) - 1)
        return self.values[k]


def _pattern(rng: np.random.Generator, duration_s: float, dt_s: float) -> _Pattern:
    idle, active = rng.uniform(1e-3, 3e-3), rng.uniform(8e-3, 15e-3)
    start = dt_s * rng.uniform(20.0, 21.0)
    n = int(rng.integers(5, 12))
    parts = rng.uniform(0.5, 1.5, size=2 * n - 1)  # active, idle, ..., active
    parts *= duration_s / parts.sum()
    times = np.concatenate(([0.0, start], start + np.cumsum(parts)))
    stop = float(times[-1])
    times = np.append(times, stop + 40 * dt_s)
    values = np.concatenate(([idle], np.tile([active, idle], n)[:-1], [idle, idle]))
    return _Pattern(times, values, start, stop, n)


def _render(pattern: _Pattern, unit: DrawnUnit, case: CoverageCase, rng: np.random.Generator):
    """The unit's samples and the window's placed edges (sample positions)."""
    dt_true = (1.0 + unit.clock_error) / case.sample_rate_hz  # the unit's own clock
    m = int(pattern.times[-1] / dt_true)
    k = np.arange(m + 1, dtype=np.float64)
    if case.sample_kind == "bin":
        q = pattern.charge(k * dt_true)
        true_i = np.diff(q) / dt_true
    else:
        true_i = pattern.at(k[:-1] * dt_true)
    current = true_i * (1 + unit.gain_error) + unit.offset_a
    if unit.noise_rms_a:
        current = current + rng.normal(0.0, unit.noise_rms_a, size=current.shape)
    voltage = SUPPLY_V * (1 + unit.voltage_gain_error) + unit.offset_v
    x_start, x_stop = pattern.start_s / dt_true, pattern.stop_s / dt_true
    if case.sample_kind == "bin":  # an event is known to its bin: its middle
        edges = (math.floor(x_start) + 0.5, math.floor(x_stop) + 0.5)
    else:  # a digital line changes between the two samples around the edge
        edges = (math.ceil(x_start) - 0.5, math.ceil(x_stop) - 0.5)
    return current, voltage, edges


def run_coverage(
    name: str,
    *,
    windows: int = 200,
    seed: int = 0,
    figures: MeterFigures | str | None = "lab",
) -> CoverageResult:
    """Coverage of ``windows`` seeded window energies of meter ``name``; ``figures`` is what
    the bench file states ("lab": the lab's figures; None: the profile alone)."""
    if name not in CASES:
        raise ConfigError(f"no coverage case {name!r} (known: {', '.join(CASES)})", context=name)
    case, model = CASES[name], error_model(name)
    stated = model.figures() if figures == "lab" else figures
    meter = MeterBudget(find_profile(case.driver), stated)  # type: ignore[arg-type]
    duration_s = SAMPLES_PER_WINDOW / case.sample_rate_hz
    errors, us, covered, unknown = [], [], 0, 0
    for w in range(windows):
        rng = np.random.default_rng([seed, w])
        unit = model.draw(int(rng.integers(2**31)))
        pattern = _pattern(rng, duration_s, 1 / case.sample_rate_hz)
        current, voltage, (a, b) = _render(pattern, unit, case, rng)
        trace = Trace.from_arrays(
            current,
            voltage,
            case.sample_rate_hz,
            sample_kind=case.sample_kind,  # type: ignore[arg-type]
        )
        (result,) = integrate_windows(trace, [Window(0, a, b, pattern.inferences)])
        q = pattern.charge(np.array([pattern.start_s, pattern.stop_s]))
        truth = SUPPLY_V * float(q[1] - q[0])
        steps = window_steps(trace, a, b)
        budget = window_budget(
            meter,
            energy_j=result.energy_j,
            duration_s=result.duration_s,
            mean_current_a=result.mean_current_a,
            mean_voltage_v=result.mean_power_w / result.mean_current_a,
            current_range_a=case.current_range_a,
            sample_rate_hz=case.sample_rate_hz,
            notes=[],
            sample_kind=case.sample_kind,
            edge_power_step_w=steps.edge_step_w,
            sampling_j=steps.sampling_standard_j(case.sample_rate_hz)
            if case.sample_kind == "point"
            else 0.0,
        )
        error = result.energy_j - truth
        errors.append(error)
        if budget.unknown:
            unknown += 1
            continue
        us.append(budget.expanded_j)
        covered += abs(error) <= budget.expanded_j
    rms = math.sqrt(float(np.mean(np.square(errors)))) if errors else math.nan
    mean_u = float(np.mean(us)) if us else math.nan
    return CoverageResult(name, windows, int(covered), mean_u, rms, unknown)
