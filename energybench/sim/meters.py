"""The virtual lab's simulated meters, derived from the driver catalogue by name: for each
catalogued driver the lab simulates (``energybench.instruments.catalogue``), how to build its
simulator on a lab's timeline and the bench-file lines (sync mode, line, options) that point the
runner at it. The mapping lives here so that the simulators stay outside the runner and
instruments import graph; tests/test_catalogue.py checks that it covers exactly the catalogue's
simulated drivers.

Meters are named by their registry name (``keysight_n6705c``); the lab's former short names
(``n6705c``, ``stream``, ...) are catalogue aliases, resolved by :func:`sim_meter`. Simulators
come from modules that may not be installed in every checkout; a meter whose module is missing
is reported unavailable (with the reason), never faked.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from energybench.errors import ConfigError
from energybench.instruments import catalogue
from energybench.sim.error_models import LAB_FIGURES, datasheet_measurement
from energybench.sim.lab import VirtualLab


@dataclass(frozen=True)
class SimMeter:
    name: str  # the driver's registry name
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

    def build(self, timeline: Any, **options: Any) -> Any:
        """The simulator on ``timeline`` (not started), the meter's own options applied."""
        return self.load()(timeline, **{**self.sim_options, **options})


STREAM_RATE_HZ = 10_000  # point samples; plenty for exact window energy on the virtual lab
_INSTRUMENTS = "energybench.sim.instruments"
_KEITHLEY = f"{_INSTRUMENTS}.keithley.keithley_2461"


def _keithley_24xx(model: str) -> SimMeter:
    digitizer = model == "2461"
    return SimMeter(
        f"keithley_{model}",
        _KEITHLEY,
        "SimKeithley2461",
        "hw_trigger_start_stop",
        "DIG1",
        f"Keithley {model} SMU ({'digitizer' if digitizer else 'integrating ADC'}, digital I/O "
        "trigger on both edges)",
        role="supply",
        sim_options={"model": model},
        # the integrating ADC's shortest reading is 0.01 NPLC (167 µs at 60 Hz)
        bench_options={} if digitizer else {"sample_interval_s": 200e-6},
    )


_SIMULATORS = (
    SimMeter(
        "sim_stream",
        f"{_INSTRUMENTS}.stream_source",
        "SimStreamSource",
        "digital_channel",
        "gpi[0]",
        "Joulescope-like streaming source (GPI sync)",
        sim_options={"sample_rate_hz": STREAM_RATE_HZ},
        bench_options={"sample_rate_hz": STREAM_RATE_HZ},
    ),
    SimMeter(
        "keysight_n6705c",
        f"{_INSTRUMENTS}.keysight.keysight_n6705c",
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
        f"{_INSTRUMENTS}.lpm01a.lpm01a",
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
        f"{_INSTRUMENTS}.otii.otii",
        "SimOtiiArc",
        "digital_channel",
        "i1",
        "Qoitech Otii Arc (digital input sampled with the current)",
        role="supply",
        bench_options={"sample_rate_hz": 4000},  # the Arc's fixed rate
    ),
    SimMeter(
        "nordic_ppk2",
        f"{_INSTRUMENTS}.nordic.ppk2",
        "SimNordicPpk2",
        "digital_channel",
        "d0",
        "Nordic PPK2 source meter (D0 logic input sampled with the current)",
        role="supply",
        sim_options={"idle_speed": 20.0},  # idle time paced by the host, as the LPM01A's
        bench_options={"sample_rate_hz": 100_000},  # the PPK2's one rate
    ),
    SimMeter(
        "keysight_b2900",
        f"{_INSTRUMENTS}.keysight.keysight_b2900",
        "SimKeysightB2900",
        "hw_trigger_start",
        "EXT1",
        "Keysight B2901A SMU (DIO trigger)",
        role="supply",
    ),
    _keithley_24xx("2461"),
    SimMeter(
        "keithley_2600b",
        f"{_INSTRUMENTS}.keithley.keithley_2600b",
        "SimKeithley2600B",
        "hw_trigger_start",
        "DIO1",
        "Keithley 2600B SMU (TSP, digital I/O trigger)",
        role="supply",
    ),
    _keithley_24xx("2450"),
    _keithley_24xx("2460"),
)
SIMULATORS: dict[str, SimMeter] = {m.name: m for m in _SIMULATORS}
# the lab's meters, in catalogue order (the first is the demo's default)
SIM_METERS: dict[str, SimMeter] = {
    name: SIMULATORS[name] for name in catalogue.names() if name in SIMULATORS
}


def sim_meter(name: str) -> SimMeter:
    """The simulated meter named by its registry name or a catalogue alias (``n6705c``)."""
    try:
        resolved = catalogue.resolve(name)
    except ConfigError:
        known = ", ".join(catalogue.with_aliases(n) for n in SIM_METERS)
        raise ConfigError(
            f"no simulated meter {name!r} (the lab has: {known})", context=name
        ) from None
    if resolved not in SIM_METERS:
        reason = catalogue.entry(resolved).no_simulator or "no simulator mapped in sim/meters.py"
        raise ConfigError(
            f"the virtual lab has no simulator for {resolved}: {reason} "
            f"(simulated: {', '.join(SIM_METERS)})",
            context=name,
        )
    return SIM_METERS[resolved]


def available_meters() -> dict[str, str]:
    """Name → description of every simulated meter whose simulator and driver are present."""
    from energybench.instruments.registry import list_drivers

    drivers = {d.name for d in list_drivers() if d.available}
    found = {}
    for name, meter in SIM_METERS.items():
        try:
            meter.load()
        except ConfigError:
            continue
        if name in drivers:
            found[name] = meter.description
    return found


def attach_meter(
    lab: VirtualLab, name: str, *, measurement: Any = None, seed: int = 0, **options: Any
) -> Any:
    """Build the simulator on the lab's timeline and attach it (started with the lab).
    ``measurement="datasheet"``: a unit drawn from the meter's true error model
    (:mod:`energybench.sim.error_models`, seeded by ``seed``), current and voltage."""
    meter = sim_meter(name)
    if isinstance(measurement, str):
        if measurement != "datasheet":
            raise ConfigError(
                f"measurement must be a MeasurementModel or 'datasheet', got {measurement!r}",
                context="measurement",
            )
        options = {**datasheet_measurement(meter.name, meter.load(), seed), **options}
        sim = meter.build(lab.timeline, seed=seed, **options)
        lab.add_instrument(meter.name, sim, role="meter", sync_mode=meter.sync_mode)
        return sim
    sim = meter.build(lab.timeline, measurement=measurement, seed=seed, **options)
    lab.add_instrument(meter.name, sim, role="meter", sync_mode=meter.sync_mode)
    return sim


def attach_supply(
    lab: VirtualLab, name: str = "keysight_n6705c", *, seed: int = 0, latency_jitter_s: float = 1e-3
) -> Any:
    """A simulated source-measure instrument attached as the bench's supply only (it drives
    the rail; another meter measures), e.g. the N6705C beside ``sim_stream`` for calibrating
    against a reference resistor at several voltages. Its output changes take effect after a
    seeded command latency of up to ``latency_jitter_s`` (a real supply's), so the current
    steps fall at no fixed phase of the meter's sample clock."""
    meter = sim_meter(name)
    if meter.role != "supply":
        raise ConfigError(f"{meter.name} cannot source the rail", context=name)
    sim = meter.build(lab.timeline, seed=seed)
    instrument = getattr(sim, "instrument", None)
    if instrument is not None and hasattr(instrument, "latency_jitter_s"):
        instrument.latency_jitter_s = latency_jitter_s
    lab.add_instrument(f"{meter.name}-supply", sim, role="supply")
    return sim


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def bench_toml(
    lab: VirtualLab, name: str, *, lab_figures: bool = False, **bench_options: Any
) -> str:
    """The lab's bench file with the sync mode, line and meter options of meter ``name``;
    with ``lab_figures`` its ``[meter] accuracy`` states the figures of the meter's true error
    model that its profile lacks (:data:`~energybench.sim.error_models.LAB_FIGURES`). An
    option given as None is left out (e.g. ``sample_rate_hz=None``: the meter's native rate)."""
    meter = sim_meter(name)
    text = lab.bench_toml()
    lines = []
    section = ""
    merged = {**meter.bench_options, **bench_options}
    options = {k: v for k, v in merged.items() if v is not None}
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        if section == "sync" and line.startswith("mode ="):
            line = f"mode = {toml_value(meter.sync_mode)}"
        elif section == "sync" and line.startswith("line ="):
            line = f"line = {toml_value(meter.line)}"
        lines.append(line)
        if line == "[meter]" and options:
            inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in options.items())
            lines.append(f"options = {{ {inner} }}")
        if line == "[meter]" and lab_figures:
            table = LAB_FIGURES[meter.name].to_table()
            inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in table.items())
            lines.append(f"accuracy = {{ {inner} }}")
    return "\n".join(lines) + "\n"
