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
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench._data import data_dir
from energybench.errors import ConfigError
from energybench.instruments.capabilities import SYNC_MODES, InstrumentInfo


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

    def matches(self, info: InstrumentInfo) -> bool:
        return info.matches(self.identity)


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
    return InstrumentProfile(name, path, driver, identity, kind, tuple(modes), rate, data)


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
