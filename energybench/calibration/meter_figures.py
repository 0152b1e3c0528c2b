"""Accuracy figures a bench file supplies for its meter (``[meter] accuracy = {...}``): they
take precedence over the shipped profile's, entry by entry, so a user who knows a figure the
vendor does not publish (a calibration certificate, their own characterisation) gets an
uncertainty instead of "unknown". Every figure is ±(gain × reading + offset) as in the profiles
(a rectangular limit), except ``noise_rms_a`` (the standard deviation of one sample's white
noise at the rate in use). ``source`` is required: it names where the figures come from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from energybench.errors import ConfigError

FIGURE_KEYS = ("gain", "offset_a", "voltage_gain", "offset_v", "timebase_ppm", "noise_rms_a")


@dataclass(frozen=True)
class MeterFigures:
    """The bench file's accuracy figures (None: not given, the profile's entry stands)."""

    source: str
    gain: float | None = None
    offset_a: float | None = None
    voltage_gain: float | None = None
    offset_v: float | None = None
    timebase_ppm: float | None = None
    noise_rms_a: float | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[meter].accuracy") -> MeterFigures:
        """Parse ``[meter] accuracy``; ConfigError names the key (every figure a number >= 0,
        ``source`` a non-empty text, no other key)."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"must be a table, got {table!r}", context=where)
        known = {f.name for f in fields(cls)}
        for key in table:
            if key not in known:
                raise ConfigError(
                    f"unknown key {key!r} (known: source, {', '.join(FIGURE_KEYS)})",
                    context=f"{where}.{key}",
                )
        source = table.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(
                "name where the figures come from (a certificate, a data sheet, a measurement)",
                context=f"{where}.source",
            )
        values: dict[str, float] = {}
        for key in FIGURE_KEYS:
            if key not in table:
                continue
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"must be a number >= 0, got {value!r}", context=f"{where}.{key}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"must be a number >= 0, got {value!r}", context=f"{where}.{key}")
            values[key] = float(value)
        return cls(source=source, **values)

    def to_table(self) -> dict[str, Any]:
        """The figures as a bench file writes them (given keys only)."""
        out: dict[str, Any] = {
            k: getattr(self, k) for k in FIGURE_KEYS if getattr(self, k) is not None
        }
        out["source"] = self.source
        return out
