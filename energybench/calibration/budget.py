"""Expanded uncertainty (k=2) of the energy figures — the budget, per window. Each term is a
standard uncertainty (k=1) in joules; a ±limit is taken as a rectangular distribution
(limit/√3):

- current: ``±(gain·Ī + offset)`` of the range in use (the range the capture reports, the
  bench's ``current_range_a``, else the widest: the runner never auto-ranges mid-window) from
  the bench file's ``[meter] accuracy`` when it gives the figure, else the meter's profile; a
  calibration covering that range replaces it with its coefficients' standard uncertainties
  (:func:`current_term`);
- voltage: likewise (the range holding the mean voltage);
- timebase: ``±ppm`` of the meter's clock scales every Δt: ``E·ppm·1e-6/√3``;
- edge placement: an edge placed on the sample grid lies within ±½ sample of the true instant
  (point samples, digital lines), within ±1 sample for bins (averaging meters, e.g. 1 ms
  MLCommons-style energy bins with event markers); at the power *step* across the edge (the
  mean power when the step is not known): ``ΔP·√2·h/√3`` for two edges of half-width h;
- skew (calibrated only): the calibration's ``skew_std_s`` shifts both edges: ``ΔP·skew_std``;
- noise: white noise of ``noise_rms_a`` per sample averages over the window's N samples:
  ``V̄·σ·T/√N`` (when the bench file states it);
- sampling (point samples only): a step between two samples is placed anywhere in the sample
  interval while the trapezoid rule splits it in the middle: ``Δt·√(ΣΔp²/12)`` over the
  window's sample-to-sample power changes (given by the caller, from the trace);
- range switch (a meter that switched range inside the window): the energy of the samples
  settling after each switch, ``E_switch/√3`` (set by the runner from
  :mod:`energybench.analysis.ranges`; 0 in a fixed range).

A figure nobody documents is ``"unknown"`` in the profile: the whole uncertainty is then
unknown (:attr:`WindowBudget.unknown` names the entry and the file), never a smaller number
with that term left out. The median over the windows adds the statistical term
``1.2533·s/√n`` (standard error of a median) in quadrature; the reported ``U = 2·u``.

For comparisons between runs the terms are also kept apart (:func:`uncertainty_components`):
current, voltage, timebase and skew are *systematic* (the same setup errs the same way in every
window), edges, noise and sampling are *random* (independent per window).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from energybench.calibration.correction import Correction
from energybench.calibration.meter_figures import MeterFigures
from energybench.calibration.profile_lookup import find_profile, widest_current_range_a
from energybench.instruments.profiles import InstrumentProfile

K = 2.0
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)  # 1.2533
SQRT3 = math.sqrt(3.0)
KNOWN = "known"

__all__ = [
    "KNOWN",
    "K",
    "MeterBudget",
    "Term",
    "WindowBudget",
    "current_term",
    "edge_half_width_s",
    "find_profile",
    "latency_uncertainty_s",
    "median_expanded_uncertainty",
    "uncertainty_components",
    "uncertainty_status",
    "voltage_term",
    "widest_current_range_a",
    "window_budget",
]


@dataclass(frozen=True)
class MeterBudget:
    """The budget source of one bench's meter: its shipped profile, and the figures its bench
    file supplies (they take precedence, figure by figure). No profile and no figures: the
    uncertainty is unknown."""

    profile: InstrumentProfile | None
    figures: MeterFigures | None = None

    @classmethod
    def for_meter(
        cls,
        driver: str,
        identity: dict[str, str] | None = None,
        figures: MeterFigures | None = None,
    ) -> MeterBudget:
        return cls(find_profile(driver, identity), figures)

    @property
    def source(self) -> str | None:
        """Where the figures come from (the profile file, and the bench file's source)."""
        parts = [self.profile.path.name] if self.profile else []
        if self.figures is not None:
            parts.append(f"bench file: {self.figures.source}")
        return "; ".join(parts) or None

    @property
    def name(self) -> str:
        return self.profile.path.name if self.profile else "no instrument profile"


@dataclass(frozen=True)
class Term:
    """One standard uncertainty (k=1) in the quantity's unit, and what it rests on; ``standard``
    None: unknown (``basis`` then names the missing entry)."""

    standard: float | None
    basis: str


@dataclass
class WindowBudget:
    """The standard uncertainty terms of one window energy (J) and the expanded total; with
    ``unknown`` set (the entry nobody documents) every total is NaN."""

    current_j: float
    voltage_j: float
    timebase_j: float
    edges_j: float
    noise_j: float = 0.0
    sampling_j: float = 0.0
    skew_j: float = 0.0
    unknown: str | None = None
    range_switch_j: float = 0.0  # set by the caller: energy of a range switch's settling samples

    @property
    def standard_j(self) -> float:
        return math.hypot(self.systematic_j, self.random_j)

    @property
    def expanded_j(self) -> float:
        return K * self.standard_j

    @property
    def systematic_j(self) -> float:
        """The terms common to every window measured with one instrument setup."""
        if self.unknown:
            return math.nan
        return math.hypot(self.current_j, self.voltage_j, self.timebase_j, self.skew_j)

    @property
    def random_j(self) -> float:
        """The terms independent from window to window (edges, noise, sampling, range
        switches)."""
        return math.hypot(self.edges_j, self.noise_j, self.sampling_j, self.range_switch_j)

    @property
    def status(self) -> str:
        return f"unknown: {self.unknown}" if self.unknown else KNOWN

    def terms(self) -> dict[str, float | str | None]:
        """The terms (J) as results.json lists them (totals None when unknown)."""
        total = None if self.unknown else self.standard_j
        return {
            "current": self.current_j,
            "voltage": self.voltage_j,
            "timebase": self.timebase_j,
            "edges": self.edges_j,
            "noise": self.noise_j,
            "sampling": self.sampling_j,
            "skew": self.skew_j,
            "range_switch": self.range_switch_j,
            "combined_standard": total,
            "expanded_k2": None if total is None else K * total,
            "status": self.status,
        }


def _entry(quantity: str, value: float | None, unit: str) -> str:
    where = f" ({value:g} {unit} range)" if value is not None and math.isfinite(value) else ""
    return f"accuracy.{quantity}{where}"


def current_term(
    meter: MeterBudget,
    *,
    mean_current_a: float,
    range_a: float | None,
    correction: Correction | None = None,
) -> Term:
    """Standard uncertainty (A) of the window's mean current: the calibration's when it covers
    the range in use, else the bench file's figures, else the profile's ±(gain·I + offset)/√3."""
    profile = meter.profile
    in_use = range_a
    if in_use is None and profile is not None:
        widest = widest_current_range_a(profile)
        in_use = widest if math.isfinite(widest) else None
    current = abs(mean_current_a)
    if correction is not None:
        coefficients = correction.for_range("current", in_use)
        if coefficients is not None:
            ids = ", ".join(correction.record_ids) or "calibration"
            return Term(coefficients.standard_uncertainty(current), f"calibration {ids}")
    figures = meter.figures
    gain = offset = None
    basis = ""
    if profile is not None:
        spec = profile.accuracy("current", in_use if in_use is not None else current)
        if spec is not None:
            gain, offset, basis = spec.gain, spec.offset, profile.path.name
    if figures is not None:
        gain = figures.gain if figures.gain is not None else gain
        offset = figures.offset_a if figures.offset_a is not None else offset
        if figures.gain is not None or figures.offset_a is not None:
            basis = f"bench file ({figures.source})"
    if gain is None or offset is None:
        return Term(None, f"{_entry('current', in_use, 'A')} in {meter.name}")
    return Term((gain * current + offset) / SQRT3, basis)


def voltage_term(
    meter: MeterBudget, *, mean_voltage_v: float, correction: Correction | None = None
) -> Term:
    """Standard uncertainty (V) of the window's mean voltage, as :func:`current_term`."""
    profile = meter.profile
    voltage = abs(mean_voltage_v)
    spec = profile.accuracy("voltage", voltage) if profile is not None else None
    if correction is not None:
        coefficients = correction.for_range("voltage", spec.range_max if spec else None)
        if coefficients is not None:
            ids = ", ".join(correction.record_ids) or "calibration"
            return Term(coefficients.standard_uncertainty(voltage), f"calibration {ids}")
    gain = spec.gain if spec else None
    offset = spec.offset if spec else None
    basis = meter.name
    figures = meter.figures
    if figures is not None:
        gain = figures.voltage_gain if figures.voltage_gain is not None else gain
        offset = figures.offset_v if figures.offset_v is not None else offset
        if figures.voltage_gain is not None or figures.offset_v is not None:
            basis = f"bench file ({figures.source})"
    if gain is None or offset is None:
        rng = spec.range_max if spec else None
        return Term(None, f"{_entry('voltage', rng, 'V')} in {meter.name}")
    return Term((gain * voltage + offset) / SQRT3, basis)


def timebase_term(meter: MeterBudget) -> Term:
    """Relative standard uncertainty of the meter's clock (ppm·1e-6/√3)."""
    if meter.figures is not None and meter.figures.timebase_ppm is not None:
        ppm = meter.figures.timebase_ppm
        return Term(ppm * 1e-6 / SQRT3, f"bench file ({meter.figures.source})")
    timebase = meter.profile.timebase_ppm() if meter.profile is not None else None
    if timebase is None:
        return Term(None, f"accuracy.timebase in {meter.name}")
    return Term(timebase[0] * 1e-6 / SQRT3, meter.name)


def edge_half_width_s(sample_rate_hz: float, sample_kind: str) -> float:
    """How far from its placed position an edge may be: ½ sample (point samples), 1 sample
    (bins: an event is known to its bin only)."""
    return (1.0 if sample_kind == "bin" else 0.5) / sample_rate_hz


def window_budget(
    meter: MeterBudget | InstrumentProfile | None,
    *,
    energy_j: float,
    duration_s: float,
    mean_current_a: float,
    mean_voltage_v: float,
    current_range_a: float | None,
    sample_rate_hz: float,
    notes: list[str],
    sample_kind: str = "point",
    edge_power_step_w: float | None = None,
    sampling_j: float = 0.0,
    correction: Correction | None = None,
) -> WindowBudget:
    """The budget of one window (see the module docstring). ``current_range_a`` is the range
    in use (None: the widest); ``edge_power_step_w`` the power change across the window's edges
    (None: the mean power); ``sampling_j`` the sampling term from the trace (point samples);
    ``correction`` a calibration applied to the window (its coefficients then replace the
    datasheet's for the ranges it covers, and its skew uncertainty adds a term)."""
    if not isinstance(meter, MeterBudget):
        meter = MeterBudget(meter)
    mean_power = energy_j / duration_s if duration_s > 0 else 0.0
    step = abs(edge_power_step_w) if edge_power_step_w is not None else abs(mean_power)
    half_width = edge_half_width_s(sample_rate_hz, sample_kind)
    edges = step * math.sqrt(2) * half_width / SQRT3
    skew = step * correction.skew_std_s if correction is not None else 0.0
    n_samples = max(duration_s * sample_rate_hz, 1.0)
    figures = meter.figures
    noise = 0.0
    if figures is not None and figures.noise_rms_a:
        noise = abs(mean_voltage_v) * figures.noise_rms_a * duration_s / math.sqrt(n_samples)
    terms = {
        "current": current_term(
            meter, mean_current_a=mean_current_a, range_a=current_range_a, correction=correction
        ),
        "voltage": voltage_term(meter, mean_voltage_v=mean_voltage_v, correction=correction),
        "timebase": timebase_term(meter),
    }
    unknown = next((t.basis for t in terms.values() if t.standard is None), None)
    if meter.profile is None and figures is None:
        unknown = "no instrument profile matches the meter"
    if unknown:
        _note(
            notes,
            f"uncertainty unknown: no figure for {unknown} (state it in the bench file's "
            "[meter] accuracy, docs/bench-file.md)",
        )
        return WindowBudget(0.0, 0.0, 0.0, edges, noise, sampling_j, skew, unknown=unknown)
    _note_unverified(meter, mean_current_a, current_range_a, notes)
    for term in terms.values():
        if term.basis.startswith("calibration"):
            _note(notes, f"current term from {term.basis}")
            break
    e = abs(energy_j)
    current = terms["current"].standard or 0.0
    voltage = terms["voltage"].standard or 0.0
    rel_i = current / abs(mean_current_a) if mean_current_a else 0.0
    rel_v = voltage / abs(mean_voltage_v) if mean_voltage_v else 0.0
    if not mean_current_a:  # an offset still integrates over the window
        rel_i = 0.0
        e_i = abs(mean_voltage_v) * current * duration_s
    else:
        e_i = e * rel_i
    timebase = e * (terms["timebase"].standard or 0.0)
    return WindowBudget(e_i, e * rel_v, timebase, edges, noise, sampling_j, skew)


def _note_unverified(
    meter: MeterBudget, mean_current_a: float, range_a: float | None, notes: list[str]
) -> None:
    profile = meter.profile
    if profile is None:
        return
    rng = range_a if range_a is not None else widest_current_range_a(profile)
    spec = profile.accuracy("current", rng if math.isfinite(rng) else mean_current_a)
    from_bench = meter.figures is not None and meter.figures.gain is not None
    if spec is not None and not spec.verified and not from_bench:
        _note(notes, f"current accuracy from {profile.path.name} is marked unverified")
    timebase = profile.timebase_ppm()
    if timebase is not None and not timebase[1]:
        _note(notes, f"timebase accuracy from {profile.path.name} is marked unverified")


def uncertainty_status(budgets: Sequence[WindowBudget]) -> str:
    """ "known", or "unknown: <entry> in <file>" of the first window whose budget is unknown."""
    for budget in budgets:
        if budget.unknown:
            return budget.status
    return KNOWN


def latency_uncertainty_s(
    meter: MeterBudget,
    *,
    latency_s: float,
    inferences: int,
    sample_rate_hz: float,
    sample_kind: str = "point",
) -> float | None:
    """Standard uncertainty (k=1) of one window's latency (window duration / N): the meter's
    timebase (relative) and the placement of its two edges on the sample grid; None when the
    timebase is unknown."""
    timebase = timebase_term(meter)
    if timebase.standard is None or inferences <= 0:
        return None
    quantisation = math.sqrt(2) * edge_half_width_s(sample_rate_hz, sample_kind) / SQRT3
    return math.hypot(latency_s * timebase.standard, quantisation / inferences)


def median_expanded_uncertainty(values: list[float], systematic_standard: list[float]) -> float:
    """U (k=2) of the median of per-inference values: the windows' standard uncertainty (their
    median) with the statistical term 1.2533·s/√n in quadrature; NaN when any is unknown."""
    n = len(values)
    if n == 0 or any(math.isnan(s) for s in systematic_standard):
        return math.nan
    systematic = statistics.median(systematic_standard) if systematic_standard else 0.0
    statistical = MEDIAN_SE_FACTOR * statistics.stdev(values) / math.sqrt(n) if n > 1 else 0.0
    return K * math.hypot(systematic, statistical)


def uncertainty_components(
    values: list[float], systematic_standard: list[float], edges_standard: list[float]
) -> dict[str, float | int]:
    """The standard (k=1) uncertainty terms per inference, kept apart for comparisons between
    runs: ``systematic_standard`` (current, voltage, timebase, skew; the median over the
    windows), ``edges_standard_per_window`` (edge placement, noise and sampling, random per
    window; the median over the windows) and ``statistical_standard`` (1.2533·s/√n: the window
    scatter's share of the median's uncertainty)."""
    n = len(values)
    if n == 0:
        return {}
    return {
        "windows": n,
        "systematic_standard": statistics.median(systematic_standard)
        if systematic_standard and not any(math.isnan(s) for s in systematic_standard)
        else (math.nan if systematic_standard else 0.0),
        "edges_standard_per_window": statistics.median(edges_standard) if edges_standard else 0.0,
        "statistical_standard": MEDIAN_SE_FACTOR * statistics.stdev(values) / math.sqrt(n)
        if n > 1
        else math.nan,
        "coverage_factor": int(K),
    }


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)
