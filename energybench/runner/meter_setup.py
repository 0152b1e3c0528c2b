"""What a streaming meter records at, and in which current range, before anything is armed.

Rate: the bench's ``sample_rate_hz``, else the meter's native rate (the driver's
``native_sample_rate_hz(sync)``), else its profile's ``max_sample_rate_hz``; never a
house default that throws away the meter's resolution (docs/bench-file.md#sample-rate).

Range: the bench's ``current_range_a`` (a number: that fixed range); ``"auto"``, or nothing on a
meter whose driver lists fixed ranges (``current_ranges_a``): a ranging pass picks one
(:mod:`energybench.runner.ranging`); nothing on any other meter: the meter's own default
(the widest, or the PPK2's own switching, recorded per sample).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from energybench.calibration.budget import find_profile
from energybench.errors import ConfigError
from energybench.runner.instruments import BenchInstruments

AUTO = "auto"


@dataclass(frozen=True)
class SampleRate:
    """The rate a stream records at and where it came from."""

    value_hz: float
    source: str  # "bench file", "driver native rate", "profile <file> max_sample_rate_hz"

    def to_dict(self) -> dict[str, Any]:
        return {"value_hz": self.value_hz, "source": self.source}


def stream_rate(instruments: BenchInstruments) -> SampleRate:
    """The rate of the bench's streaming meter (see the module docstring)."""
    asked = instruments.option("sample_rate_hz")
    if asked is not None:
        return SampleRate(float(asked), "bench file")
    native = getattr(instruments.meter, "native_sample_rate_hz", None)
    if callable(native):
        return SampleRate(float(native(instruments.bench.sync)), "driver native rate")
    driver = instruments.bench.meter.driver
    profile = find_profile(driver, instruments.meter_info)
    top = profile.data.get("instrument", {}).get("max_sample_rate_hz") if profile else None
    if top:
        return SampleRate(float(top), f"profile {profile.path.name} max_sample_rate_hz")
    raise ConfigError(
        f"driver {driver!r} names no native rate and has no profile with max_sample_rate_hz: "
        "set [meter] options.sample_rate_hz",
        context="meter.options.sample_rate_hz",
    )


def meter_ranges_a(instruments: BenchInstruments) -> tuple[float, ...]:
    """The fixed current ranges the meter's driver can set, smallest first (empty: none)."""
    ranges = getattr(instruments.meter, "current_ranges_a", None)
    return tuple(sorted(float(r) for r in ranges)) if ranges else ()


def wants_ranging(instruments: BenchInstruments) -> bool:
    """Whether a ranging pass picks the current range: ``"auto"``, or no range on a meter
    with fixed ranges. ConfigError for ``"auto"`` on a meter that has none to pick from."""
    asked = instruments.option("current_range_a")
    if asked is not None and asked != AUTO:
        return False
    has_ranges = instruments.streaming and bool(meter_ranges_a(instruments))
    if asked == AUTO and not has_ranges:
        raise ConfigError(
            f"current_range_a = 'auto' needs a streaming meter whose driver lists its fixed "
            f"ranges; {instruments.bench.meter.driver} does not: set a number or leave it out",
            context="meter.options.current_range_a",
        )
    return has_ranges


def fixed_range_of(options: Mapping[str, Any]) -> float | None:
    """The fixed range a bench file's ``[meter] options`` state (None: unset or ``"auto"``)."""
    asked = options.get("current_range_a")
    return None if asked is None or asked == AUTO else float(asked)


def fixed_range_a(instruments: BenchInstruments) -> float | None:
    """The bench's fixed range (None: not a number)."""
    return fixed_range_of(instruments.bench.meter.options)
