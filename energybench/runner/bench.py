"""The bench file (TOML): which meter and supply, their limits, how the timestamp pin is synced,
where the DUT and the interface board are. Every problem in a file is reported, each naming its
field, in one ConfigError. The MLCommons runner's ``devices.yaml`` is accepted too.

Example::

    [bench]
    name = "N6705C + L4R5ZI"
    [meter]
    driver = "keysight_n6705c"
    resource = "TCPIP::192.0.2.10::5025::SOCKET"
    channel = 1
    [supply]                # optional; defaults to the meter instrument
    voltage_v = 1.8
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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.errors import ConfigError
from energybench.instruments.capabilities import SYNC_MODES

SYNC_ALIASES = {"hardware_trigger": "hw_trigger_start", "none": "host_timestamp"}
MODES = ("energy", "performance", "accuracy")


@dataclass(frozen=True)
class InstrumentConfig:
    driver: str
    resource: str
    channel: int = 1
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SupplyConfig:
    voltage_v: float
    current_limit_a: float
    max_voltage_v: float
    max_current_a: float
    instrument: InstrumentConfig | None = None  # None: the meter is the supply


@dataclass(frozen=True)
class SyncConfig:
    mode: str
    line: str = ""
    polarity: str = "falling"
    min_pulse_s: float = 0.0


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
    sync: SyncConfig
    dut: PortConfig
    interface: PortConfig | None = None
    source: Path | None = None


class _Problems:
    """Collects every problem of a file so the user fixes them in one go."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def get(self, table: dict, key: str, kind: type | tuple, path: str, default: Any = ...) -> Any:
        if key not in table:
            if default is ...:
                self.items.append(f"{path}.{key}: missing")
                return None
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = "/".join(k.__name__ for k in kinds)
            self.items.append(f"{path}.{key}: must be {names}, got {value!r}")
            return None
        return value

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.items.append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(
                f"{len(self.items)} problem(s): " + "; ".join(self.items),
                context=self.where,
                problems=list(self.items),
            )


def _instrument(p: _Problems, table: dict, path: str) -> InstrumentConfig | None:
    driver = p.get(table, "driver", str, path)
    resource = p.get(table, "resource", str, path)
    channel = p.get(table, "channel", int, path, 1)
    options = p.get(table, "options", dict, path, {})
    if driver is None or resource is None:
        return None
    return InstrumentConfig(driver, resource, channel or 1, options or {})


def _port(p: _Problems, table: dict, path: str, default_baud: int | None = None) -> PortConfig:
    port = p.get(table, "port", str, path)
    baud = p.get(table, "baud", (int, dict), path, default_baud if default_baud else ...)
    bauds: dict[str, int] = {}
    if isinstance(baud, int):
        bauds = dict.fromkeys(MODES, baud)
    elif isinstance(baud, dict):
        for mode, value in baud.items():
            p.check(mode in MODES, f"{path}.baud.{mode}: unknown mode (use {', '.join(MODES)})")
            p.check(isinstance(value, int) and value > 0, f"{path}.baud.{mode}: must be > 0")
            bauds[mode] = value
        for mode in MODES:
            p.check(mode in bauds, f"{path}.baud.{mode}: missing")
    flash = p.get(table, "flash", dict, path, {}) or {}
    for build, command in flash.items():
        p.check(
            build in ("energy", "performance"),
            f"{path}.flash.{build}: unknown build (use energy, performance)",
        )
        p.check(isinstance(command, str) and command.strip() != "", f"{path}.flash.{build}: "
                "must be a command line")  # fmt: skip
    return PortConfig(port or "", bauds, dict(flash))


def parse_bench(table: dict, where: str = "bench file") -> Bench:
    """Validate a bench table (parsed TOML)."""
    p = _Problems(where)
    for section in ("meter", "sync", "dut"):
        p.check(isinstance(table.get(section), dict), f"[{section}]: missing section")
    p.raise_if_any()
    name = p.get(table.get("bench", {}), "name", str, "bench", "bench")
    meter = _instrument(p, table["meter"], "meter")
    supply = None
    if "supply" in table:
        s = table["supply"]
        instrument = _instrument(p, s, "supply") if "driver" in s or "resource" in s else None
        supply = SupplyConfig(
            p.get(s, "voltage_v", float, "supply"),
            p.get(s, "current_limit_a", float, "supply"),
            p.get(s, "max_voltage_v", float, "supply"),
            p.get(s, "max_current_a", float, "supply"),
            instrument,
        )
        if None not in (supply.voltage_v, supply.max_voltage_v):
            p.check(
                0 < supply.voltage_v <= supply.max_voltage_v,
                f"supply.voltage_v: {supply.voltage_v} V exceeds max_voltage_v "
                f"{supply.max_voltage_v} V",
            )
        if None not in (supply.current_limit_a, supply.max_current_a):
            p.check(
                0 < supply.current_limit_a <= supply.max_current_a,
                f"supply.current_limit_a: {supply.current_limit_a} A exceeds max_current_a "
                f"{supply.max_current_a} A",
            )
    sync_table = table["sync"]
    mode = p.get(sync_table, "mode", str, "sync")
    mode = SYNC_ALIASES.get(mode, mode)
    p.check(
        mode is None or mode in SYNC_MODES,
        f"sync.mode: {mode!r} is not one of {', '.join(SYNC_MODES)}",
    )
    polarity = p.get(sync_table, "polarity", str, "sync", "falling")
    p.check(polarity in ("falling", "rising"), "sync.polarity: must be 'falling' or 'rising'")
    sync = SyncConfig(
        mode or "",
        str(p.get(sync_table, "line", (str, int), "sync", "")),
        polarity or "falling",
        p.get(sync_table, "min_pulse_s", float, "sync", 0.0),
    )
    dut = _port(p, table["dut"], "dut")
    interface = _port(p, table["interface"], "interface", 115200) if "interface" in table else None
    p.raise_if_any()
    return Bench(name, meter, supply, sync, dut, interface)  # type: ignore[arg-type]


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
