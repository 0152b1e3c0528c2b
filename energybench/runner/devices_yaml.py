"""The MLCommons runner's ``devices.yaml``, for users who have one.

It lists devices by type (``interface``, ``power``, ``dut``) with USB VID:PID pairs instead of
ports, a ``baud`` (an int or a per-mode table) and, on the power entry, the DUT ``voltage``. We
find the ports by VID:PID among the serial ports present and build the same :class:`Bench`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from energybench.errors import ConfigError
from energybench.runner.bench import Bench, parse_bench
from energybench.runner.bench_schema import Problems, suggestion

# The keys the MLCommons runner reads from a device entry (its device_manager.py and power
# managers); energybench uses name, type, preference, baud, usb, port and voltage.
DEVICE_KEYS = (
    "name",
    "type",
    "preference",
    "baud",
    "usb",
    "port",
    "voltage",
    "echo",
    "interface",
    "raw_sampling_rate",
    "virtual_sampling_rate",
    "check_name",
    "usb_description",
)
DEVICE_TYPES = ("interface", "power", "dut")

# Power monitors of the MLCommons runner → our drivers, sync modes and safe limits.
_POWER = {
    "lpm01a": ("lpm01a", "event_marker", "d7", 3.3, 0.05),
    "js220": ("joulescope", "digital_channel", "gpi[0]", 15.0, 1.0),
}


def _usb_ids(entry: dict) -> list[tuple[int, int]]:
    ids = []
    for vid, pids in (entry.get("usb") or {}).items():
        for pid in pids if isinstance(pids, list) else [pids]:
            ids.append((int(vid), int(pid)))
    return ids


def _find_port(entry: dict, where: str) -> str:
    from serial.tools import list_ports

    wanted = _usb_ids(entry)
    for port in list_ports.comports():
        if (port.vid, port.pid) in wanted:
            return port.device
    ids = ", ".join(f"{v:04x}:{p:04x}" for v, p in wanted) or "none given"
    raise ConfigError(f"no serial port with USB id {ids} is connected", context=where)


def devices_to_bench_table(
    devices: list[dict[str, Any]], where: str, ports: dict[str, str] | None = None
) -> dict:
    """The bench table for a devices list; ``ports`` may name ports by device name."""
    ports = ports or {}
    by_type: dict[str, list[dict]] = {}
    p = Problems(where)
    for k, entry in enumerate(devices):
        if not isinstance(entry, dict) or "type" not in entry or "name" not in entry:
            raise ConfigError(f"every device needs a name and a type, got {entry!r}", context=where)
        path = f"devices[{k}] ({entry['name']})"
        p.unknown(entry, DEVICE_KEYS, path)
        if entry["type"] not in DEVICE_TYPES:
            p.add(f"{path}.type: {entry['type']!r} is not a device type"
                  f"{suggestion(str(entry['type']), DEVICE_TYPES)}")  # fmt: skip
        by_type.setdefault(entry["type"], []).append(entry)
    p.raise_if_any()

    def pick(kind: str) -> dict | None:
        entries = sorted(by_type.get(kind, []), key=lambda e: -int(e.get("preference", 0)))
        return entries[0] if entries else None

    def port_of(entry: dict) -> str:
        given = ports.get(entry["name"]) or entry.get("port")
        return given or _find_port(entry, f"{where}: {entry['name']}")

    power, dut, interface = pick("power"), pick("dut"), pick("interface")
    if power is None or dut is None:
        raise ConfigError("devices.yaml needs a 'power' and a 'dut' device", context=where)
    if power["name"] not in _POWER:
        raise ConfigError(
            f"power device {power['name']!r} is not supported (supported: {', '.join(_POWER)})",
            context=where,
        )
    driver, sync_mode, line, max_v, max_a = _POWER[power["name"]]
    resource = port_of(power) if driver == "lpm01a" else ports.get(power["name"], "")
    table: dict[str, Any] = {
        "bench": {"name": f"devices.yaml ({power['name']} + {dut['name']})"},
        "meter": {"driver": driver, "resource": resource},
        "sync": {"mode": sync_mode, "line": line, "polarity": "falling"},
        "dut": {"port": port_of(dut), "baud": dut.get("baud", 115200)},
    }
    if "voltage" in power:
        table["supply"] = {
            "voltage_v": float(power["voltage"]),
            "current_limit_a": max_a,
            "max_voltage_v": max_v,
            "max_current_a": max_a,
        }
    if interface is not None:
        table["interface"] = {"port": port_of(interface), "baud": interface.get("baud", 115200)}
    return table


def load_devices_yaml(path: Path, ports: dict[str, str] | None = None) -> Bench:
    import yaml

    try:
        devices = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read devices.yaml: {exc}", context=str(path)) from exc
    if not isinstance(devices, list):
        raise ConfigError("devices.yaml must be a list of devices", context=str(path))
    bench = parse_bench(devices_to_bench_table(devices, str(path), ports), str(path))
    return dataclasses.replace(bench, source=Path(path))
