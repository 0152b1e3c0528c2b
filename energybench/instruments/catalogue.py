"""The driver catalogue: every driver energybench ships, listed once.

Each entry is keyed by its registry name, the entry-point name in the group
``energybench.instruments`` (pyproject.toml maps that name to the class; nothing else does),
and gives its profile (``instruments/<profile>``), the capability protocols it implements,
its example bench file, the lab's former short names (aliases) and, when the virtual lab
cannot simulate it, the reason. The contract tests, the lab's meter list
(``energybench.sim.meters``, which maps the same names to simulator classes) and
``energybench instruments list`` are derived from it; tests/test_catalogue.py checks that every
list agrees. Adding a driver: docs/adding-a-driver.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from energybench._data import data_dir
from energybench.errors import ConfigError

if TYPE_CHECKING:  # imported where used: the names and aliases stay cheap for the CLI's help
    from energybench.instruments.profiles import InstrumentProfile
    from energybench.instruments.supply_limits import SafetyLimits, SupplyLimitCheck

CAPABILITIES = ("PowerSupply", "TriggeredMeter", "StreamingMeter")  # capabilities.py protocols


@dataclass(frozen=True)
class CatalogueEntry:
    name: str  # the registry (entry-point) name: the one name used everywhere
    title: str
    profile: str  # file name in instruments/
    example: str  # bench file in instruments/examples/
    capabilities: tuple[str, ...]
    aliases: tuple[str, ...] = ()  # the lab's former short names, still accepted by --meter
    no_simulator: str = ""  # why the virtual lab has no simulator ("" : it has one)

    @property
    def simulated(self) -> bool:
        return not self.no_simulator

    @property
    def sources_power(self) -> bool:
        return "PowerSupply" in self.capabilities

    @property
    def profile_path(self) -> Path:
        return data_dir("instruments") / self.profile

    @property
    def example_path(self) -> Path:
        return data_dir("instruments") / "examples" / self.example


_SUPPLY_TRIGGERED = ("PowerSupply", "TriggeredMeter")
_SUPPLY_STREAMING = ("PowerSupply", "StreamingMeter")

# The lab offers its meters in this order (the first is the demo's default).
CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        "sim_stream",
        "virtual lab streaming source (Joulescope-like, GPI sampled with the current)",
        "sim_stream.toml",
        "sim_stream.bench.toml",
        ("StreamingMeter",),
        aliases=("stream",),
    ),
    CatalogueEntry(
        "keysight_n6705c",
        "Keysight N6705B/C DC Power Analyzer with N6781A/N6785A SMU modules",
        "keysight_n6705c.toml",
        "keysight_n6705c.bench.toml",
        ("PowerSupply", "TriggeredMeter", "StreamingMeter"),
        aliases=("n6705c",),
    ),
    CatalogueEntry(
        "lpm01a",
        "STMicroelectronics X-NUCLEO-LPM01A PowerShield",
        "lpm01a.toml",
        "lpm01a.bench.toml",
        _SUPPLY_STREAMING,
    ),
    CatalogueEntry(
        "otii",
        "Qoitech Otii Arc / Ace (TCP JSON API)",
        "otii_arc.toml",
        "otii_arc.bench.toml",
        _SUPPLY_STREAMING,
    ),
    CatalogueEntry(
        "nordic_ppk2",
        "Nordic Power Profiler Kit II (source or ampere meter, D0-D7 sampled with the current)",
        "nordic_ppk2.toml",
        "nordic_ppk2.bench.toml",
        _SUPPLY_STREAMING,
    ),
    CatalogueEntry(
        "keysight_b2900",
        "Keysight B2901A/B2902A/B2911A/B2912A SMU",
        "keysight_b2900.toml",
        "keysight_b2900.bench.toml",
        _SUPPLY_TRIGGERED,
        aliases=("b2900",),
    ),
    CatalogueEntry(
        "keithley_2461",
        "Keithley 2461 SourceMeter (SCPI, digitizer)",
        "keithley_2461.toml",
        "keithley_2461.bench.toml",
        _SUPPLY_TRIGGERED,
        aliases=("keithley2461",),
    ),
    CatalogueEntry(
        "keithley_2600b",
        "Keithley 2600B System SourceMeter (TSP)",
        "keithley_2600b.toml",
        "keithley_2600b.bench.toml",
        _SUPPLY_TRIGGERED,
        aliases=("keithley2600b",),
    ),
    CatalogueEntry(
        "keithley_2450",
        "Keithley 2450 SourceMeter (SCPI, integrating ADC)",
        "keithley_2450.toml",
        "keithley_2450.bench.toml",
        _SUPPLY_TRIGGERED,
    ),
    CatalogueEntry(
        "keithley_2460",
        "Keithley 2460 SourceMeter (SCPI, integrating ADC)",
        "keithley_2460.toml",
        "keithley_2460.bench.toml",
        _SUPPLY_TRIGGERED,
    ),
    CatalogueEntry(
        "joulescope",
        "Jetperch Joulescope JS110 / JS220 (optional extra: joulescope)",
        "joulescope_js220.toml",
        "joulescope.bench.toml",
        ("StreamingMeter",),
        no_simulator=(
            "the driver runs the joulescope package against a USB device; the lab's "
            "sim_stream serves the same GPI-sampled stream over TCP instead"
        ),
    ),
)

_BY_NAME = {entry.name: entry for entry in CATALOGUE}
_ALIASES = {alias: entry.name for entry in CATALOGUE for alias in entry.aliases}


def names() -> list[str]:
    return [entry.name for entry in CATALOGUE]


def resolve(name: str) -> str:
    """The registry name for ``name`` or one of its aliases (the one place aliases resolve)."""
    if name in _BY_NAME:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    known = ", ".join(with_aliases(e.name) for e in CATALOGUE)
    raise ConfigError(f"no driver {name!r} in the catalogue (known: {known})", context="driver")


def with_aliases(name: str) -> str:
    """``keysight_n6705c (alias n6705c)``: a registry name as messages list it."""
    aliases = _BY_NAME[name].aliases
    return name + (f" (alias {', '.join(aliases)})" if aliases else "")


def entry(name: str) -> CatalogueEntry:
    """The catalogue entry of a registry name or alias."""
    return _BY_NAME[resolve(name)]


@functools.cache
def _profile(path: Path) -> InstrumentProfile:
    from energybench.instruments.profiles import load_profile

    return load_profile(path)


def profile(name: str) -> InstrumentProfile:
    """The shipped profile of a catalogued driver (parsed once per process)."""
    return _profile(entry(name).profile_path)


def supply_check(name: str, bench: SafetyLimits | None) -> SupplyLimitCheck:
    """The supply-limit check of driver ``name``: its profile's ratings and the bench limits."""
    from energybench.instruments.supply_limits import SupplyLimitCheck

    prof = profile(name)
    if not prof.supply:
        raise ConfigError(
            f"{prof.path.name} gives no [[supply]] ratings for a driver that sources power",
            context=name,
        )
    return SupplyLimitCheck(name, prof.supply, bench)
