"""Instrument profiles: the declarative TOML files in the shipped ``instruments/`` folder.

A profile names its driver and an identity regex (matched case-insensitively against
``"vendor,model"`` from ``*IDN?``), the kind, the sync modes and the maximum sample rate; the
rest (ranges, accuracy and noise per range, each with ``verified``) is kept as parsed for the
uncertainty budget. Required::

    [instrument]
    name = "keysight_n6705c"
    driver = "keysight_n6705c"
    identity = '^(Agilent|Keysight) Technologies,N6705[BC]$'
    kind = "supply+meter"
    sync_modes = ["hw_trigger_start", "analog_channel"]
    max_sample_rate_hz = 195312.5

Accuracy, ±(gain × reading + offset) per range, feeds the uncertainty budget::

    [[accuracy.current]]       # one per range; omit range_a for "every range"
    range_a = 0.1
    gain = 2.5e-4
    offset_a = 10e-6
    source = "vendor document, table or page"   # required on every entry
    verified = false           # true only for facts verified in the instrument's documents
    [[accuracy.voltage]]       # same with range_v / offset_v
    [accuracy.timebase]
    ppm = 50
    source = "vendor document, page"
    verified = false

A figure no vendor document gives is ``"unknown"`` (``gain``, ``offset_a``/``offset_v``,
``ppm``), never 0: the loader refuses a 0 figure unless ``[instrument] ideal = true`` (the
virtual lab's ideal simulator, whose zeros are true). :meth:`AccuracySpec.known` is False for an
unknown figure and the budget then reports the uncertainty as unknown.

What a sourcing instrument can deliver feeds the supply-limit check (``supply_limits``); each
entry names its document, a figure nobody documents is ``"unknown"``::

    [[supply]]
    models = ["N6785A"]        # optional: the identified models it is documented for
    max_voltage_v = 20.0
    max_current_a = 8.0
    envelope = [{ voltage_v = 6.0, current_a = 3.03 }]   # optional
    doc = "vendor document, table or page"
    verified = false
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench._data import data_dir
from energybench.analysis.plausibility import (
    GENERIC_MAX_CURRENT_A,
    GENERIC_MAX_VOLTAGE_V,
    OVER_RANGE_FACTOR,
    Bounds,
)
from energybench.analysis.trace import Trace
from energybench.errors import ConfigError
from energybench.instruments.capabilities import SYNC_MODES, InstrumentInfo
from energybench.instruments.supply_limits import UNKNOWN, SupplyRating, parse_supply_ratings


@dataclass(frozen=True)
class AccuracySpec:
    """±(gain × reading + offset) for one quantity and range, from a profile (None: the
    figure is unknown)."""

    gain: float | None
    offset: float | None
    range_max: float | None
    verified: bool
    source: str = ""

    @property
    def known(self) -> bool:
        return self.gain is not None and self.offset is not None

    def limit(self, reading: float) -> float:
        """The specified error limit at a reading (same unit as the offset)."""
        if self.gain is None or self.offset is None:
            raise ConfigError("the accuracy figure is unknown", context="accuracy")
        return abs(self.gain * reading) + self.offset


@dataclass(frozen=True)
class InstrumentProfile:
    """One instrument profile file."""

    name: str
    path: Path
    driver: str
    identity: str
    kind: str
    sync_modes: tuple[str, ...]
    max_sample_rate_hz: float
    data: Mapping[str, Any] = field(repr=False, default_factory=dict)
    supply: tuple[SupplyRating, ...] = ()  # empty: the instrument sources nothing

    def matches(self, info: InstrumentInfo) -> bool:
        return info.matches(self.identity)

    def accuracy(self, quantity: str, value: float) -> AccuracySpec | None:
        """The spec of the smallest range that holds ``value`` (quantity "current"/"voltage");
        None when the profile gives none."""
        unit = {"current": "a", "voltage": "v"}[quantity]
        specs = [_spec(entry, unit) for entry in self.data.get("accuracy", {}).get(quantity, [])]
        fitting = [s for s in specs if s.range_max is None or abs(value) <= s.range_max]
        if not fitting:
            return None
        return min(fitting, key=lambda s: s.range_max if s.range_max is not None else float("inf"))

    def timebase_ppm(self) -> tuple[float, bool] | None:
        """(ppm, verified); None when the profile gives none or says ``"unknown"``."""
        table = self.data.get("accuracy", {}).get("timebase")
        if table is None or table["ppm"] == UNKNOWN:
            return None
        return float(table["ppm"]), bool(table["verified"])


def _spec(entry: Mapping[str, Any], unit: str) -> AccuracySpec:
    rng = entry.get(f"range_{unit}")
    gain, offset = entry["gain"], entry[f"offset_{unit}"]
    return AccuracySpec(
        None if gain == UNKNOWN else float(gain),
        None if offset == UNKNOWN else float(offset),
        None if rng is None else float(rng),
        bool(entry["verified"]),
        str(entry.get("source", "")),
    )


def _check_accuracy(data: Mapping[str, Any], path: Path, ideal: bool = False) -> None:
    """The accuracy tables have the documented shape (the uncertainty budget reads them): each
    entry names its ``source``, and a figure is a number > 0 or ``"unknown"`` (0 only in an
    ideal simulator's profile)."""
    accuracy = data.get("accuracy", {})
    if not isinstance(accuracy, Mapping):
        raise ConfigError("must be a table", context=f"{path}: accuracy")
    for quantity, unit in (("current", "a"), ("voltage", "v")):
        entries = accuracy.get(quantity, [])
        if not isinstance(entries, list):
            raise ConfigError("must be an array of tables", context=f"{path}: accuracy.{quantity}")
        for k, entry in enumerate(entries):
            where = f"{path}: accuracy.{quantity}[{k}]"
            for key in ("gain", f"offset_{unit}"):
                if entry.get(key) != UNKNOWN:
                    _figure(entry, key, where, ideal)
            _field(entry, "verified", bool, where)
            _field(entry, "source", str, where)
            if f"range_{unit}" in entry:
                _field(entry, f"range_{unit}", (int, float), where)
    if "timebase" in accuracy:
        where = f"{path}: accuracy.timebase"
        if accuracy["timebase"].get("ppm") != UNKNOWN:
            _figure(accuracy["timebase"], "ppm", where, ideal)
        _field(accuracy["timebase"], "verified", bool, where)
        _field(accuracy["timebase"], "source", str, where)


def _figure(table: Mapping[str, Any], key: str, where: str, ideal: bool) -> None:
    """An accuracy figure: a number >= 0, and 0 only for an ideal simulator (an unknown figure
    is written "unknown", never 0)."""
    value = _field(table, key, (int, float), where)
    if value < 0 or (value == 0 and not ideal):
        raise ConfigError(
            f'must be > 0, got {value!r} (a figure no document gives is "unknown", never 0)',
            context=f"{where}.{key}",
        )


def _field(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ConfigError("missing required field", context=f"{where}.{key}")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(
            f"expected {getattr(kind, '__name__', kind)}, got {value!r}", context=f"{where}.{key}"
        )
    return value


def _check_verified(data: Mapping[str, Any], path: Path, where: str = "") -> None:
    """Every ``verified``-like flag must be a boolean (true only for [V] facts)."""
    for key, value in data.items():
        here = f"{where}.{key}" if where else key
        if isinstance(value, Mapping):
            _check_verified(value, path, here)
        elif isinstance(value, list):
            for k, item in enumerate(value):
                if isinstance(item, Mapping):
                    _check_verified(item, path, f"{here}[{k}]")
        elif (key == "verified" or key.endswith("_verified")) and not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", context=f"{path}: {here}")


def load_profile(path: Path) -> InstrumentProfile:
    """Parse and check one profile file; ConfigError names the file and the field."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc}", context=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", context=str(path)) from exc
    where = f"{path}: instrument"
    table = data.get("instrument")
    if not isinstance(table, Mapping):
        raise ConfigError("missing [instrument] table", context=str(path))
    name = _field(table, "name", str, where)
    driver = _field(table, "driver", str, where)
    identity = _field(table, "identity", str, where)
    try:
        re.compile(identity)
    except re.error as exc:
        raise ConfigError(f"invalid regex: {exc}", context=f"{where}.identity") from exc
    kind = _field(table, "kind", str, where)
    modes = _field(table, "sync_modes", list, where)
    unknown = [m for m in modes if m not in SYNC_MODES]
    if unknown:
        raise ConfigError(
            f"unknown sync mode(s) {unknown}; known: {', '.join(SYNC_MODES)}",
            context=f"{where}.sync_modes",
        )
    rate = float(_field(table, "max_sample_rate_hz", (int, float), where))
    if not rate > 0:
        raise ConfigError(f"must be > 0, got {rate}", context=f"{where}.max_sample_rate_hz")
    _check_verified(data, path)
    ideal = table.get("ideal", False)
    if not isinstance(ideal, bool):
        raise ConfigError(f"must be true or false, got {ideal!r}", context=f"{where}.ideal")
    _check_accuracy(data, path, ideal)
    supply = parse_supply_ratings(data.get("supply", []), f"{path}: supply")
    if "supply" in kind.split("+") and not supply:
        raise ConfigError(
            f"kind {kind!r} sources power: give its ratings in [[supply]] (a figure no document "
            'gives is "unknown")',
            context=f"{path}: supply",
        )
    return InstrumentProfile(name, path, driver, identity, kind, tuple(modes), rate, data, supply)


def load_profiles(folder: Path | None = None) -> list[InstrumentProfile]:
    """Every ``*.toml`` profile in ``folder`` (default: the shipped instruments/ folder)."""
    folder = data_dir("instruments") if folder is None else Path(folder)
    return [load_profile(p) for p in sorted(folder.glob("*.toml"))]


def match_profiles(
    info: InstrumentInfo, profiles: Iterable[InstrumentProfile] | None = None
) -> list[InstrumentProfile]:
    """The profiles whose identity regex matches a connected instrument."""
    candidates = load_profiles() if profiles is None else profiles
    return [p for p in candidates if p.matches(info)]


_CURRENT_KEYS = ("max_current_a", "current_a", "current_ranges_a", "range_a")
_VOLTAGE_KEYS = ("max_voltage_v", "voltage_v", "voltage_ranges_v", "voltage_range_v", "range_v")


def _largest(data: Any, keys: tuple[str, ...]) -> float | None:
    """The largest number found under any of ``keys`` anywhere in a profile (ranges, source
    ratings, accuracy-table ranges, per-model tables)."""
    found: list[float] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key in keys and isinstance(value, int | float) and not isinstance(value, bool):
            found.append(abs(float(value)))

    walk(data)
    return max(found) if found else None


def measurement_bounds(profile: InstrumentProfile) -> Bounds:
    """What the instrument could have measured: its widest current and voltage figures (its
    ranges, or its source ratings when wider) times the over-range allowance; generic bounds
    for a quantity the profile gives no figure for."""
    current = _largest(profile.data, _CURRENT_KEYS)
    voltage = _largest(profile.data, _VOLTAGE_KEYS)
    max_a = current * OVER_RANGE_FACTOR if current else GENERIC_MAX_CURRENT_A
    max_v = voltage * OVER_RANGE_FACTOR if voltage else GENERIC_MAX_VOLTAGE_V
    over = f" x{OVER_RANGE_FACTOR:g} over-range"
    parts = [
        f"widest current {current:g} A{over}" if current else f"no current figure: {max_a:g} A",
        f"widest voltage {voltage:g} V{over}" if voltage else f"no voltage figure: {max_v:g} V",
    ]
    return Bounds(max_a, max_v, -max_a, f"{profile.path.name}: {', '.join(parts)}")


def profile_for_trace(
    trace: Trace, profiles: Iterable[InstrumentProfile] | None = None
) -> InstrumentProfile | None:
    """The profile of the instrument a trace names (energybench files record the meter's
    identity; other files a source "vendor model" text); None when none matches."""
    meter = (trace.metadata.get("run") or {}).get("meter") if trace.metadata else None
    candidates: list[InstrumentInfo] = []
    if isinstance(meter, Mapping) and meter.get("model"):
        candidates.append(InstrumentInfo(str(meter.get("vendor", "")), str(meter["model"])))
    words = trace.source.instrument.split()
    candidates += [
        InstrumentInfo(" ".join(words[:k]), " ".join(words[k:])) for k in range(1, len(words))
    ]
    pool = list(load_profiles() if profiles is None else profiles)
    for info in candidates:
        matching = [p for p in pool if p.matches(info)]
        if matching:
            return matching[0]
    return None


def bounds_for_trace(trace: Trace, profiles: Iterable[InstrumentProfile] | None = None) -> Bounds:
    """The bounds of the instrument a trace names (:func:`profile_for_trace`); generic bounds
    when none matches."""
    profile = profile_for_trace(trace, profiles)
    if profile is not None:
        return measurement_bounds(profile)
    name = trace.source.instrument
    why = f"no instrument profile matches {name!r}" if name else "instrument not named in the file"
    return Bounds.generic(why=why)
