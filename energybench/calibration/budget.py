"""Expanded uncertainty (k=2) of the energy figures — the budget, per window:

- current: the meter profile's accuracy ``±(gain·I + offset)`` for the range in use (the
  range the capture reports, the bench's ``current_range_a``, else the widest: meters never
  auto-range mid-window), taken as a rectangular distribution: ``u_I = (gain·Ī + offset)/√3``;
- voltage: likewise from a voltage entry (0 with a note when the profile has none);
- timebase: ``±ppm`` of the meter's clock scales every Δt: ``u = ppm·1e-6/√3`` relative;
- edge placement: each edge lies within ±½ sample of its placed position (digital lines) →
  ``u_t = 0.5/(fs·√3)`` per edge, two edges, at the window's mean power: ``u = P̄·√2·u_t``.
- range switch (a meter that switched range inside the window): the energy of the samples
  settling after each switch, rectangular: ``u = E_switch/√3`` (set by the runner from
  :mod:`energybench.analysis.ranges`; 0 otherwise).
These combine in quadrature into ``u_E`` of the window energy (conservatively all taken as
common to every window). The median over the windows adds the statistical term
``1.2533·s/√n`` (standard error of a median, s the windows' standard deviation) in quadrature
with that; the reported ``U = 2·u``. Entries the profile marks ``verified = false`` are used
but listed in the notes.

For comparisons between runs the terms are also kept apart (:func:`uncertainty_components`):
current, voltage and timebase are *systematic* (the same instrument, range and calibration err
the same way in every window and every run), the edge placement is *random* (independent per
window, like the window-to-window scatter).
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass

from energybench.calibration.correction import Correction
from energybench.errors import ConfigError
from energybench.instruments.capabilities import InstrumentInfo
from energybench.instruments.profiles import InstrumentProfile, load_profiles

log = logging.getLogger(__name__)

K = 2.0
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)  # 1.2533


def find_profile(driver: str, identity: dict[str, str] | None = None) -> InstrumentProfile | None:
    """The shipped profile of ``driver`` (narrowed by the instrument's identity when given)."""
    try:
        profiles = [p for p in load_profiles() if p.driver == driver]
    except ConfigError as exc:
        log.warning("instrument profiles unreadable: %s", exc)
        return None
    if identity and len(profiles) > 1:
        info = InstrumentInfo(identity.get("vendor", ""), identity.get("model", ""))
        profiles = [p for p in profiles if p.matches(info)] or profiles
    return profiles[0] if profiles else None


def widest_current_range_a(profile: InstrumentProfile) -> float:
    """The largest current range the profile lists (inf when its entries cover every range)."""
    entries = profile.data.get("accuracy", {}).get("current", [])
    ranges = [float(e["range_a"]) for e in entries if "range_a" in e]
    return max(ranges) if ranges else math.inf


@dataclass
class WindowBudget:
    """The standard uncertainty terms of one window energy (J) and the expanded total."""

    current_j: float
    voltage_j: float
    timebase_j: float
    edges_j: float
    range_switch_j: float = 0.0  # set by the caller: energy of a range switch's settling samples

    @property
    def standard_j(self) -> float:
        return math.sqrt(
            self.current_j**2 + self.voltage_j**2 + self.timebase_j**2 + self.edges_j**2
            + self.range_switch_j**2
        )  # fmt: skip

    @property
    def expanded_j(self) -> float:
        return K * self.standard_j

    @property
    def systematic_j(self) -> float:
        """The terms common to every window measured with one instrument setup."""
        return math.sqrt(self.current_j**2 + self.voltage_j**2 + self.timebase_j**2)


def window_budget(
    profile: InstrumentProfile | None,
    *,
    energy_j: float,
    duration_s: float,
    mean_current_a: float,
    mean_voltage_v: float,
    current_range_a: float | None,
    sample_rate_hz: float,
    notes: list[str],
    correction: Correction | None = None,
) -> WindowBudget:
    """The budget of one window (see the module docstring). ``current_range_a`` is the range
    in use (None: the widest, what the meter uses when none is set). With a ``correction``
    covering the range, the current term is the calibration's coefficient uncertainty in place
    of the datasheet's, and its skew uncertainty joins the edge term."""
    mean_power = energy_j / duration_s if duration_s > 0 else 0.0
    u_edge_s = 0.5 / (sample_rate_hz * math.sqrt(3))
    edges = mean_power * math.sqrt(2) * u_edge_s
    calibrated = correction.for_range("current", current_range_a) if correction else None
    if calibrated is not None and correction is not None and mean_current_a > 0:
        edges = math.hypot(edges, mean_power * correction.skew_std_s)
        rel_i = calibrated.standard_uncertainty(mean_current_a) / mean_current_a
        _note(notes, f"current term from calibration {', '.join(correction.record_ids)}")
        rel_v = 0.0
        if profile is not None:
            rel_v = _relative_standard(
                profile, "voltage", mean_voltage_v, mean_voltage_v, notes,
                f"no voltage accuracy in {profile.path.name}: voltage term 0",
            )  # fmt: skip
        timebase = profile.timebase_ppm() if profile is not None else None
        rel_t = timebase[0] * 1e-6 / math.sqrt(3) if timebase is not None else 0.0
        e = abs(energy_j)
        return WindowBudget(e * rel_i, e * rel_v, e * rel_t, edges)
    if profile is None:
        _note(notes, "no instrument profile: uncertainty from edges and window spread only")
        return WindowBudget(0.0, 0.0, 0.0, edges)
    source = profile.path.name
    rel_t = 0.0
    in_use = current_range_a if current_range_a is not None else widest_current_range_a(profile)
    rel_i = _relative_standard(
        profile, "current", in_use if math.isfinite(in_use) else mean_current_a,
        mean_current_a, notes, f"no current accuracy for the range in use in {source}",
    )  # fmt: skip
    rel_v = _relative_standard(
        profile, "voltage", mean_voltage_v, mean_voltage_v, notes,
        f"no voltage accuracy in {source}: voltage term 0",
    )  # fmt: skip
    timebase = profile.timebase_ppm()
    if timebase is not None:
        rel_t = timebase[0] * 1e-6 / math.sqrt(3)
        if not timebase[1]:
            _note(notes, f"timebase accuracy from {source} is marked unverified")
    return WindowBudget(abs(energy_j) * rel_i, abs(energy_j) * rel_v, abs(energy_j) * rel_t, edges)


@dataclass(frozen=True)
class MeterBudget:
    """The budget source of one bench's meter: its shipped profile's accuracy figures, for
    :func:`window_budget` (no profile: edges and the windows' spread only, noted)."""

    profile: InstrumentProfile | None

    @classmethod
    def for_meter(cls, driver: str, identity: dict[str, str] | None = None) -> MeterBudget:
        return cls(find_profile(driver, identity))

    @property
    def source(self) -> str | None:
        """The profile file the figures come from."""
        return self.profile.path.name if self.profile else None


def median_expanded_uncertainty(values: list[float], systematic_standard: list[float]) -> float:
    """U (k=2) of the median of per-inference values: the windows' systematic standard
    uncertainty (their median) with the statistical term 1.2533·s/√n in quadrature."""
    n = len(values)
    if n == 0:
        return math.nan
    systematic = statistics.median(systematic_standard) if systematic_standard else 0.0
    statistical = MEDIAN_SE_FACTOR * statistics.stdev(values) / math.sqrt(n) if n > 1 else 0.0
    return K * math.hypot(systematic, statistical)


def uncertainty_components(
    values: list[float], systematic_standard: list[float], edges_standard: list[float]
) -> dict[str, float | int]:
    """The standard (k=1) uncertainty terms per inference, kept apart for comparisons between
    runs: ``systematic_standard`` (current, voltage, timebase; the median over the windows),
    ``edges_standard_per_window`` (edge placement, random per window; the median over the
    windows) and ``statistical_standard`` (1.2533·s/√n: the window scatter's share of the
    median's uncertainty)."""
    n = len(values)
    if n == 0:
        return {}
    return {
        "windows": n,
        "systematic_standard": statistics.median(systematic_standard)
        if systematic_standard
        else 0.0,
        "edges_standard_per_window": statistics.median(edges_standard) if edges_standard else 0.0,
        "statistical_standard": MEDIAN_SE_FACTOR * statistics.stdev(values) / math.sqrt(n)
        if n > 1
        else math.nan,
        "coverage_factor": int(K),
    }


def _relative_standard(
    profile: InstrumentProfile,
    quantity: str,
    range_value: float,
    reading: float,
    notes: list[str],
    missing: str,
) -> float:
    """Relative standard uncertainty of a reading from the profile's ±(gain·x + offset) spec,
    taken as a rectangular distribution (divide by √3); 0 with a note when there is none."""
    spec = profile.accuracy(quantity, range_value)
    if spec is not None and not spec.known:
        _note(notes, f"{quantity} accuracy unknown in {profile.path.name}: term left out")
        return 0.0
    if spec is None or reading <= 0:
        _note(notes, missing)
        return 0.0
    if not spec.verified:
        _note(notes, f"{quantity} accuracy from {profile.path.name} is marked unverified")
    return spec.limit(reading) / math.sqrt(3) / reading


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)
