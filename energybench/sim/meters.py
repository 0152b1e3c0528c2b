"""The virtual lab's catalogue of simulated meters: how to build each simulator on a lab's
timeline and the bench-file lines (sync mode, line, options) that point the runner at it.

Simulators come from other modules that may not be installed in every checkout; a meter whose
module is missing is reported unavailable (with the reason), never faked.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from energybench.errors import ConfigError
from energybench.sim.lab import VirtualLab


@dataclass(frozen=True)
class SimMeter:
    name: str
    module: str
    cls: str
    sync_mode: str
    line: str
    description: str
    role: str = "meter"  # "meter": external supply; "supply": it also powers the DUT
    sim_options: dict[str, Any] = field(default_factory=dict)
    bench_options: dict[str, Any] = field(default_factory=dict)

    def load(self) -> type:
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise ConfigError(f"simulator not available here ({exc})", context=self.name) from exc
        return getattr(module, self.cls)


STREAM_RATE_HZ = 10_000  # point samples; plenty for exact window energy on the virtual lab

SIM_METERS: dict[str, SimMeter] = {
    m.name: m
    for m in (
        SimMeter(
            "stream",
            "energybench.sim.instruments.stream_source",
            "SimStreamSource",
            "digital_channel",
            "gpi[0]",
            "Joulescope-like streaming source (GPI sync)",
            sim_options={"sample_rate_hz": STREAM_RATE_HZ},
            bench_options={"sample_rate_hz": STREAM_RATE_HZ},
        ),
        SimMeter(
            "n6705c",
            "energybench.sim.instruments.keysight.keysight_n6705c",
            "SimKeysightN6705C",
            "analog_channel",
            "PIN1",
            "Keysight N6705C + N6781A (VMETer sync channel)",
            role="supply",
            # scope captures per window: the Elog's >= 307 µs bins would average away the fast
            # DUT's 100 µs timestamp pulse
            bench_options={"acquisition": "capture", "sample_interval_s": 40.96e-6},
        ),
        SimMeter(
            "lpm01a",
            "energybench.sim.instruments.lpm01a.lpm01a",
            "SimLpm01a",
            "event_marker",
            "d7",
            "STM32 LPM01A PowerShield (D7 event markers)",
            role="supply",
            sim_options={"idle_speed": 20.0},  # idle time paced by the host: see SimLpm01a
            bench_options={"sample_rate_hz": 1000},
        ),
        SimMeter(
            "otii",
            "energybench.sim.instruments.otii.otii",
            "SimOtiiArc",
            "digital_channel",
            "i1",
            "Qoitech Otii Arc (digital input sampled with the current)",
            role="supply",
            bench_options={"sample_rate_hz": 4000},  # the Arc's fixed rate
        ),
        SimMeter(
            "b2900",
            "energybench.sim.instruments.keysight.keysight_b2900",
            "SimKeysightB2900",
            "hw_trigger_start",
            "EXT1",
            "Keysight B2901A SMU (DIO trigger)",
            role="supply",
        ),
        SimMeter(
            "keithley2461",
            "energybench.sim.instruments.keithley.keithley_2461",
            "SimKeithley2461",
            "hw_trigger_start_stop",
            "DIG1",
            "Keithley 2461 SMU (digital I/O trigger on both edges)",
            role="supply",
        ),
        SimMeter(
            "keithley2600b",
            "energybench.sim.instruments.keithley.keithley_2600b",
            "SimKeithley2600B",
            "hw_trigger_start",
            "DIO1",
            "Keithley 2600B SMU (TSP, digital I/O trigger)",
            role="supply",
        ),
    )
}
DEFAULT_ORDER = (
    "stream",
    "n6705c",
    "lpm01a",
    "otii",
    "b2900",
    "keithley2461",
    "keithley2600b",
)


def available_meters() -> dict[str, str]:
    """Name → description of every simulated meter whose simulator and driver are present."""
    from energybench.instruments.registry import list_drivers

    drivers = {d.name for d in list_drivers() if d.available}
    found = {}
    for name in DEFAULT_ORDER:
        meter = SIM_METERS[name]
        try:
            cls = meter.load()
        except ConfigError:
            continue
        if cls.driver in drivers:
            found[name] = meter.description
    return found


def attach_meter(
    lab: VirtualLab, name: str, *, measurement: Any = None, seed: int = 0, **options: Any
) -> Any:
    """Build the simulator on the lab's timeline and attach it (started with the lab)."""
    if name not in SIM_METERS:
        raise ConfigError(f"unknown simulated meter (known: {', '.join(SIM_METERS)})", context=name)
    meter = SIM_METERS[name]
    cls = meter.load()
    sim = cls(lab.timeline, measurement=measurement, seed=seed, **{**meter.sim_options, **options})
    lab.add_instrument(name, sim, role="meter", sync_mode=meter.sync_mode)
    return sim


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def bench_toml(lab: VirtualLab, name: str, **bench_options: Any) -> str:
    """The lab's bench file with the sync mode, line and meter options of meter ``name``."""
    meter = SIM_METERS[name]
    text = lab.bench_toml()
    lines = []
    section = ""
    options = {**meter.bench_options, **bench_options}
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        if section == "sync" and line.startswith("mode ="):
            line = f"mode = {_toml_value(meter.sync_mode)}"
        elif section == "sync" and line.startswith("line ="):
            line = f"line = {_toml_value(meter.line)}"
        lines.append(line)
        if line == "[meter]" and options:
            inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in options.items())
            lines.append(f"options = {{ {inner} }}")
    return "\n".join(lines) + "\n"
