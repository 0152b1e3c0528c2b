"""The bench file (TOML): which meter and supply, their limits, how the timestamp pin is synced,
where the DUT and the interface board are. Every problem in a file is reported, each naming its
field, in one ConfigError; an unknown section or key is a problem with the closest valid name
(the schema is :mod:`energybench.runner.bench_schema`). The MLCommons runner's ``devices.yaml``
is accepted too.

Example::

    [bench]
    name = "N6705C + L4R5ZI"
    [meter]
    driver = "keysight_n6705c"
    resource = "TCPIP::192.0.2.10::5025::SOCKET"
    channel = 1
    options = { sample_interval_s = 40.96e-6, io_voltage_v = 1.8 }  # runner + driver options
    # optional: figures the profile lacks or you know better (docs/bench-file.md)
    accuracy = { timebase_ppm = 20, source = "our N6705C calibration certificate 2026-03" }
    [supply]                # optional: the DUT's rail; no driver (or the meter's driver, resource
    voltage_v = 1.8         # and channel) means the meter powers it over the same connection
    current_limit_a = 0.05
    max_voltage_v = 3.6
    max_current_a = 0.2
    [sync]
    mode = "analog_channel"  # see energybench.instruments.capabilities.SyncMode
    line = "2"
    polarity = "falling"
    [dut]
    port = "/dev/ttyACM0"
    baud = { energy = 9600, performance = 115200, accuracy = 115200 }
    # optional: how to program each build, for `--mode all` in one command
    flash = { energy = "st-flash write kws_energy.bin 0x8000000", performance = "..." }
    [interface]              # optional: the IO manager relaying to the DUT in energy mode
    port = "/dev/ttyACM1"
    baud = 115200
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.calibration.meter_figures import MeterFigures
from energybench.calibration.procedure import calibration_settings
from energybench.errors import ConfigError
from energybench.instruments.capabilities import PIN_POLARITIES, SYNC_MODES, SyncSpec
from energybench.runner.bench_rails import DEFAULT_RAIL, RailConfig, parse_rails
from energybench.runner.bench_schema import (
    BUILDS,
    REQUIRED_SECTIONS,
    SECTIONS,
    SUPPLY_LIMIT_KEYS,
    SYNC_ALIASES,
    Problems,
    check_accuracy,
    check_channel,
    check_instrument_keys,
    check_mode_table,
    check_options,
    check_sections,
    driver_class,
    suggestion,
)
from energybench.workloads.definitions import MODES


@dataclass(frozen=True)
class InstrumentConfig:
    driver: str
    resource: str
    channel: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    accuracy: MeterFigures | None = None  # [meter] accuracy: figures for the budget


@dataclass(frozen=True)
class SupplyConfig:
    voltage_v: float
    current_limit_a: float
    max_voltage_v: float
    max_current_a: float
    instrument: InstrumentConfig | None = None  # None: the meter is the supply


@dataclass(frozen=True)
class PortConfig:
    port: str
    baud: dict[str, int]
    # [dut] flash = { energy = "cmd ...", performance = "cmd ..." }: programs the build a mode
    # needs (energy vs performance timestamps), so `--mode all` runs in one command
    flash: dict[str, str] = field(default_factory=dict)

    def baud_for(self, mode: str) -> int:
        return self.baud[mode]


@dataclass(frozen=True)
class Bench:
    name: str
    meter: InstrumentConfig
    supply: SupplyConfig | None
    sync: SyncSpec
    dut: PortConfig
    interface: PortConfig | None = None
    source: Path | None = None
    # [calibration]: store, validity_days, procedure, reference (docs/calibration.md)
    calibration: dict[str, Any] = field(default_factory=dict)
    rail: str = DEFAULT_RAIL  # the rail [meter] measures
    rails: tuple[RailConfig, ...] = ()  # further measured rails ([rails.<name>])


def _instrument(
    p: Problems, table: dict, path: str, *, runner_options: bool
) -> tuple[InstrumentConfig | None, type | None]:
    named = table.get("driver")
    cls = driver_class(p, named if isinstance(named, str) else None, path)
    check_instrument_keys(p, table, cls, path)  # first: a misspelt key is not also "missing"
    driver = p.get(table, "driver", str, path)
    resource = p.get(table, "resource", str, path)
    channel = p.get(table, "channel", int, path, 1)
    options = p.get(table, "options", dict, path, {})
    check_channel(p, channel, cls, path)
    check_options(p, options or {}, cls, path, runner_options)
    accuracy = check_accuracy(p, table, path)
    if driver is None or resource is None or channel is None:
        return None, cls
    return InstrumentConfig(driver, resource, channel, options or {}, accuracy), cls


def _supply_instrument(
    p: Problems, table: dict, meter: dict
) -> tuple[InstrumentConfig | None, type | None]:
    """None when the meter powers the DUT: no instrument keys, or the meter's driver with no
    other resource, channel or options (one connection serves both roles); else the supply's
    own instrument (its driver then required)."""
    own = [k for k in ("resource", "channel", "options") if k in table]
    if "driver" in table:
        # (a meter without a driver is reported there; the supply is not judged against it)
        same = table["driver"] == meter.get("driver", table["driver"]) and all(
            table[k] == meter.get(k, 1 if k == "channel" else None) for k in own
        )
    else:
        same = not own
    if same:
        check_instrument_keys(p, table, None, "supply")
        return None, None
    return _instrument(p, table, "supply", runner_options=False)


def _port(p: Problems, table: dict, path: str, default_baud: int | None = None) -> PortConfig:
    port = p.get(table, "port", str, path)
    p.check(port is None or port.strip() != "", f"{path}.port: must not be empty")
    baud = p.get(table, "baud", (int, dict), path, default_baud if default_baud else ...)
    bauds: dict[str, int] = {}
    if isinstance(baud, int):
        p.check(baud > 0, f"{path}.baud: must be > 0, got {baud}")
        bauds = dict.fromkeys(MODES, baud)
    elif isinstance(baud, dict):
        check_mode_table(p, baud, MODES, f"{path}.baud")
        for mode in MODES:
            value = p.get(baud, mode, int, f"{path}.baud")
            if value is not None:
                p.check(value > 0, f"{path}.baud.{mode}: must be > 0, got {value}")
                bauds[mode] = value
    flash = p.get(table, "flash", dict, path, {}) or {}
    check_mode_table(p, flash, BUILDS, f"{path}.flash")
    for build, command in flash.items():
        p.check(isinstance(command, str) and command.strip() != "", f"{path}.flash.{build}: "
                "must be a command line")  # fmt: skip
    return PortConfig(port or "", bauds, {k: v for k, v in flash.items() if k in BUILDS})


def _supply(p: Problems, s: dict, meter: dict) -> SupplyConfig:
    instrument, _ = _supply_instrument(p, s, meter)
    values = [p.get(s, key, float, "supply") for key in SUPPLY_LIMIT_KEYS]
    for key, value in zip(SUPPLY_LIMIT_KEYS, values, strict=True):
        p.check(
            value is None or (math.isfinite(value) and value > 0),
            f"supply.{key}: must be > 0, got {value}",
        )
    supply = SupplyConfig(*values, instrument)  # type: ignore[arg-type]
    if None not in (supply.voltage_v, supply.max_voltage_v):
        p.check(
            supply.voltage_v <= supply.max_voltage_v,
            f"supply.voltage_v: {supply.voltage_v} V exceeds max_voltage_v "
            f"{supply.max_voltage_v} V",
        )
    if None not in (supply.current_limit_a, supply.max_current_a):
        p.check(
            supply.current_limit_a <= supply.max_current_a,
            f"supply.current_limit_a: {supply.current_limit_a} A exceeds max_current_a "
            f"{supply.max_current_a} A",
        )
    return supply


def _sync(p: Problems, table: dict) -> SyncSpec | None:
    """``[sync]`` as the capabilities' SyncSpec (None when a value is wrong: the problems say
    which). Mode and polarity are looked up, so they carry their Literal types."""
    name = p.get(table, "mode", str, "sync")
    name = SYNC_ALIASES.get(name, name)
    mode = next((m for m in SYNC_MODES if m == name), None)
    if name is not None and mode is None:
        p.add(f"sync.mode: {name!r} is not a sync mode{suggestion(name, SYNC_MODES)}")
    edge = p.get(table, "polarity", str, "sync", "falling")
    polarity = next((e for e in PIN_POLARITIES if e == edge), None)
    if edge is not None and polarity is None:
        p.add(f"sync.polarity: {edge!r} is not a polarity{suggestion(edge, PIN_POLARITIES)}")
    min_pulse_s = p.get(table, "min_pulse_s", float, "sync", 0.0)
    p.check(
        min_pulse_s is None or (math.isfinite(min_pulse_s) and min_pulse_s >= 0),
        f"sync.min_pulse_s: must be >= 0, got {min_pulse_s}",
    )
    line = p.get(table, "line", (str, int), "sync", "")
    if mode is None or polarity is None:
        return None
    return SyncSpec(mode, str(line or ""), polarity, min_pulse_s or 0.0)


def parse_bench(table: dict, where: str = "bench file") -> Bench:
    """Validate a bench table (parsed TOML): every section and key known (the closest valid
    name suggested for a misspelt one), every value typed and in range."""
    p = Problems(where)
    check_sections(p, table)
    if any(not isinstance(table.get(k), dict) for k in REQUIRED_SECTIONS):
        p.raise_if_any()  # without them the keys' problems would only repeat it
    sections = {k: table.get(k) if isinstance(table.get(k), dict) else {} for k in SECTIONS}
    name = p.get(sections["bench"], "name", str, "bench", "bench")
    meter, _ = _instrument(p, sections["meter"], "meter", runner_options=True)
    supply = _supply(p, sections["supply"], sections["meter"]) if "supply" in table else None
    sync = _sync(p, sections["sync"])
    dut = _port(p, sections["dut"], "dut")
    interface = None
    if "interface" in table:
        interface = _port(p, sections["interface"], "interface", 115200)
    calibration = {}
    try:
        calibration = calibration_settings(sections["calibration"])
    except ConfigError as exc:
        p.add(f"{exc.context}: {exc.message}")
    rail, rails = parse_rails(p, table.get("rails"), sections["meter"])
    p.raise_if_any()
    return Bench(
        name, meter, supply, sync, dut, interface,  # type: ignore[arg-type]
        rail=rail, rails=rails, calibration=calibration,
    )  # fmt: skip


def load_bench(path: Path) -> Bench:
    """Read a bench file (TOML), or an MLCommons runner devices.yaml."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        from energybench.runner.devices_yaml import load_devices_yaml

        return load_devices_yaml(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read bench file: {exc}", context=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", context=str(path)) from exc
    return dataclasses.replace(parse_bench(table, str(path)), source=path)
