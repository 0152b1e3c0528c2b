"""Expanded uncertainty (k=2) of the energy figures — the budget, per window:

- current: the meter profile's accuracy ``±(gain·I + offset)`` for the range in use (the
  smallest listed range holding the window's peak current; the worst entry when ranges are not
  given), taken as a rectangular distribution: ``u_I = (gain·Ī + offset)/√3``;
- voltage: likewise from a voltage entry (0 with a note when the profile has none);
- timebase: ``±ppm`` of the meter's clock scales every Δt: ``u = ppm·1e-6/√3`` relative;
- edge placement: each edge lies within ±½ sample of its placed position (digital lines) →
  ``u_t = 0.5/(fs·√3)`` per edge, two edges, at the window's mean power: ``u = P̄·√2·u_t``.
These combine in quadrature into ``u_E`` of the window energy (systematic: the same instrument
for every window). The median over the windows adds the statistical term
``1.2533·s/√n`` (standard error of a median, s the windows' standard deviation) in quadrature
with the systematic part; the reported ``U = 2·u``. Entries the profile marks
``verified = false`` are used but listed in the notes.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench._data import data_dir
from energybench.errors import ConfigError

log = logging.getLogger(__name__)

K = 2.0
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)  # 1.2533
_UNIT = {"": 1.0, "a": 1.0, "ma": 1e-3, "ua": 1e-6, "µa": 1e-6, "na": 1e-9, "v": 1.0, "mv": 1e-3}


@dataclass(frozen=True)
class AccuracySpec:
    gain: float
    offset: float
    range: float | None
    verified: bool


@dataclass
class MeterAccuracy:
    """The accuracy entries of one instrument profile."""

    source: str
    current: list[AccuracySpec] = field(default_factory=list)
    voltage: list[AccuracySpec] = field(default_factory=list)
    timebase_ppm: float = 0.0
    timebase_verified: bool = True

    def pick(self, quantity: str, peak: float) -> AccuracySpec | None:
        specs = self.current if quantity == "current" else self.voltage
        if not specs:
            return None
        ranged = sorted((s for s in specs if s.range is not None), key=lambda s: s.range)  # type: ignore[arg-type, return-value]
        for spec in ranged:
            if spec.range >= peak:  # type: ignore[operator]
                return spec
        return max(specs, key=lambda s: (s.gain, s.offset))


def _range(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        m = re.match(r"^\s*([\d.eE+-]+)\s*([a-zA-Zµ]*)\s*$", value)
        if m and m.group(2).lower() in _UNIT:
            return float(m.group(1)) * _UNIT[m.group(2).lower()]
    return None


def _spec(entry: dict, quantity: str) -> AccuracySpec:
    unit = "a" if quantity == "current" else "v"
    offset = entry.get("offset", entry.get(f"offset_{unit}", 0.0))
    return AccuracySpec(
        float(entry.get("gain", 0.0)),
        float(offset),
        _range(entry.get("range")),
        bool(entry.get("verified", True)),
    )


def parse_accuracy(table: dict, source: str) -> MeterAccuracy:
    """Both profile layouts: ``[[accuracy]] quantity=...`` and ``[[accuracy.current]]``."""
    out = MeterAccuracy(source)
    acc = table.get("accuracy")
    try:
        if isinstance(acc, list):
            for entry in acc:
                quantity = entry.get("quantity", "current")
                if quantity in ("current", "voltage"):
                    getattr(out, quantity).append(_spec(entry, quantity))
        elif isinstance(acc, dict):
            for quantity in ("current", "voltage"):
                entries = acc.get(quantity, [])
                entries = entries if isinstance(entries, list) else [entries]
                getattr(out, quantity).extend(_spec(e, quantity) for e in entries)
            timebase = acc.get("timebase", {})
            out.timebase_ppm = float(timebase.get("ppm", 0.0))
            out.timebase_verified = bool(timebase.get("verified", True))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"unreadable accuracy table: {exc}", context=source) from exc
    return out


def load_meter_accuracy(driver: str, profile: Path | None = None) -> MeterAccuracy | None:
    """The accuracy of the profile named like the driver (instruments/<driver>.toml)."""
    path = profile
    if path is None:
        try:
            folder = data_dir("instruments")
        except ConfigError:
            return None
        path = folder / f"{driver}.toml"
        if not path.is_file():
            matches = [
                p
                for p in folder.glob("*.toml")
                if f'driver = "{driver}"' in p.read_text(encoding="utf-8")
            ]
            if not matches:
                return None
            path = matches[0]
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read instrument profile: {exc}", context=str(path)) from exc
    return parse_accuracy(table, str(path))


@dataclass
class WindowBudget:
    """The standard uncertainty terms of one window energy (J) and the expanded total."""

    current_j: float
    voltage_j: float
    timebase_j: float
    edges_j: float

    @property
    def standard_j(self) -> float:
        return math.sqrt(
            self.current_j**2 + self.voltage_j**2 + self.timebase_j**2 + self.edges_j**2
        )

    @property
    def expanded_j(self) -> float:
        return K * self.standard_j


def window_budget(
    accuracy: MeterAccuracy | None,
    *,
    energy_j: float,
    duration_s: float,
    mean_current_a: float,
    mean_voltage_v: float,
    peak_current_a: float,
    sample_rate_hz: float,
    notes: list[str],
) -> WindowBudget:
    """The budget of one window (see the module docstring)."""
    mean_power = energy_j / duration_s if duration_s > 0 else 0.0
    u_edge_s = 0.5 / (sample_rate_hz * math.sqrt(3))
    edges = mean_power * math.sqrt(2) * u_edge_s
    if accuracy is None:
        _note(
            notes, "no instrument accuracy profile: uncertainty from edges and window spread only"
        )
        return WindowBudget(0.0, 0.0, 0.0, edges)
    rel_i = rel_v = 0.0
    spec = accuracy.pick("current", peak_current_a)
    if spec is not None and mean_current_a > 0:
        rel_i = (spec.gain * mean_current_a + spec.offset) / math.sqrt(3) / mean_current_a
        if not spec.verified:
            _note(notes, f"current accuracy from {accuracy.source} is marked unverified")
    else:
        _note(notes, f"no current accuracy entry in {accuracy.source}")
    vspec = accuracy.pick("voltage", mean_voltage_v)
    if vspec is not None and mean_voltage_v > 0:
        rel_v = (vspec.gain * mean_voltage_v + vspec.offset) / math.sqrt(3) / mean_voltage_v
        if not vspec.verified:
            _note(notes, f"voltage accuracy from {accuracy.source} is marked unverified")
    else:
        _note(notes, f"no voltage accuracy entry in {accuracy.source}: voltage term 0")
    rel_t = accuracy.timebase_ppm * 1e-6 / math.sqrt(3)
    if not accuracy.timebase_verified:
        _note(notes, f"timebase accuracy from {accuracy.source} is marked unverified")
    return WindowBudget(abs(energy_j) * rel_i, abs(energy_j) * rel_v, abs(energy_j) * rel_t, edges)


def median_expanded_uncertainty(values: list[float], systematic_standard: list[float]) -> float:
    """U (k=2) of the median of per-inference values: the windows' systematic standard
    uncertainty (their median) with the statistical term 1.2533·s/√n in quadrature."""
    n = len(values)
    if n == 0:
        return math.nan
    systematic = sorted(systematic_standard)[n // 2] if systematic_standard else 0.0
    if n > 1:
        mean = sum(values) / n
        s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        statistical = MEDIAN_SE_FACTOR * s / math.sqrt(n)
    else:
        statistical = 0.0
    return K * math.hypot(systematic, statistical)


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)
