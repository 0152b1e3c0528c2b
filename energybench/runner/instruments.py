"""Open the bench's meter and supply through the driver registry, power the DUT safely, and
always leave the bench safe: current limit before output on; acquisition stopped and outputs off
in ``close()`` (called from ``finally``, Ctrl-C, SIGTERM and SIGHUP included), which never raises
and reports what each instrument's shutdown really did."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from energybench.errors import ConfigError
from energybench.instruments.capabilities import (
    MultiOutputMeter,
    PowerSupply,
    StreamingMeter,
    TriggeredMeter,
)
from energybench.instruments.registry import load_driver
from energybench.instruments.shutdown import (
    CONFIRM_STEP,
    ShutdownReport,
    ShutdownStep,
    confirm_output_off,
    run_shutdown_steps,
)
from energybench.instruments.supply_limits import SafetyLimits
from energybench.runner.bench import Bench, InstrumentConfig
from energybench.runner.bench_rails import RailConfig
from energybench.runner.bench_schema import RUNNER_OPTIONS  # the rest goes to open()
from energybench.transport.interrupts import deferred_interrupt

log = logging.getLogger(__name__)


@dataclass
class BenchInstruments:
    """The open meter (and supply, possibly the same object) of one run."""

    bench: Bench
    meter: Any = None
    supply: Any = None
    meter_info: dict[str, str] = field(default_factory=dict)
    supply_info: dict[str, str] = field(default_factory=dict)
    _opened: list[Any] = field(default_factory=list)
    powered: bool = False
    shutdown: list[ShutdownReport] | None = None  # what close() did, instrument by instrument
    # further rails: meters of their own by rail name, and the outputs of the meter that
    # source a rail (switched on before the main rail, off after it)
    rail_meters: dict[str, Any] = field(default_factory=dict)
    rail_infos: dict[str, dict[str, str]] = field(default_factory=dict)
    rail_supplies: list[tuple[RailConfig, Any]] = field(default_factory=list)

    @property
    def streaming(self) -> bool:
        """Whether the meter streams (preferred when it offers both)."""
        return isinstance(self.meter, StreamingMeter) and hasattr(self.meter, "configure_stream")

    @property
    def triggered(self) -> bool:
        return isinstance(self.meter, TriggeredMeter) and hasattr(self.meter, "configure_capture")

    def option(self, name: str, default: Any = None) -> Any:
        return self.bench.meter.options.get(name, default)

    # ---- power --------------------------------------------------------------------------
    def power_on(self) -> None:
        """Voltage and current limit first, then the output (limits checked by the driver)."""
        supply_cfg = self.bench.supply
        if self.supply is None or supply_cfg is None:
            log.info("no controllable supply: the DUT is powered externally")
            return
        for rail, output in self.rail_supplies:
            output.set_voltage(rail.voltage_v)
            output.set_current_limit(rail.current_limit_a)
            output.set_output(True)
        self.supply.set_voltage(supply_cfg.voltage_v)
        self.supply.set_current_limit(supply_cfg.current_limit_a)
        self.supply.set_output(True)
        self.powered = True

    def power_off(self) -> None:
        if self.supply is not None:
            self.supply.set_output(False)
            for _, output in self.rail_supplies:
                output.set_output(False)
            self.powered = False

    def power_cycle(self) -> bool:
        """Off then on (a hung DUT's only cure); False when the supply is not ours."""
        if self.supply is None or self.bench.supply is None:
            return False
        self.power_off()
        self.power_on()
        return True

    def close(self) -> list[ShutdownReport]:
        """Stop everything and switch outputs off; idempotent, never raises. Returns (and
        keeps in ``shutdown``) what each instrument's shutdown really did."""
        if self.shutdown is not None and not self._opened:
            return self.shutdown
        reports: list[ShutdownReport] = []
        with deferred_interrupt():
            for inst in reversed(self._opened):
                reports.append(_shut_down(inst))
                with contextlib.suppress(Exception):
                    inst.close()
            self._opened.clear()
            self.powered = False
        self.shutdown = reports
        return reports


def _shut_down(inst: Any) -> ShutdownReport:
    """The instrument's own safe_shutdown; for a supply whose driver reports nothing about its
    output (a third-party driver), output off and read back here."""
    resource = str(getattr(inst, "resource", type(inst).__name__))
    report = None
    shutdown = getattr(inst, "safe_shutdown", None)
    if shutdown is not None:
        try:
            report = shutdown()
        except Exception as exc:  # a driver bug must not mask the run's own error
            log.exception("safe_shutdown of %s raised", type(inst).__name__)
            report = ShutdownReport(resource, [ShutdownStep("safe_shutdown", False, str(exc))])
    if not isinstance(report, ShutdownReport):
        report = ShutdownReport(resource)
    if isinstance(inst, PowerSupply) and not report.sources_output:
        steps = [("output off", lambda: inst.set_output(False))]
        steps.append((CONFIRM_STEP, confirm_output_off(inst, resource)))
        report.merge(run_shutdown_steps(resource, steps, output=("output off", CONFIRM_STEP)))
    return report


def _identity(instrument: Any) -> dict[str, str]:
    try:
        info = instrument.identify()
    except Exception as exc:
        raise ConfigError(f"instrument did not identify itself: {exc}", context="identify") from exc
    return {
        "vendor": info.vendor,
        "model": info.model,
        "serial_number": info.serial_number,
        "firmware": info.firmware,
        "resource": info.resource,
    }


def _open_driver(inst: InstrumentConfig, limits: SafetyLimits | None):
    """The instrument opened through its registered driver with its driver options."""
    cls = load_driver(inst.driver)
    opener = getattr(cls, "open", None)
    if opener is None:
        raise ConfigError(
            f"driver {inst.driver!r} has no open(resource, ...) classmethod", context=inst.driver
        )
    return opener(inst.resource, limits, channel=inst.channel, **_driver_kw(inst))


def _driver_kw(inst: InstrumentConfig) -> dict[str, Any]:
    """The options of an instrument that go to its driver's open() (not the runner's own)."""
    return {k: v for k, v in inst.options.items() if k not in RUNNER_OPTIONS}


def open_instruments(bench: Bench) -> BenchInstruments:
    """Open the meter and supply of ``bench``; on failure everything opened is closed again."""
    limits = None
    if bench.supply is not None:
        limits = SafetyLimits(bench.supply.max_voltage_v, bench.supply.max_current_a)
    out = BenchInstruments(bench)
    try:
        out.meter = _open_driver(bench.meter, limits)
        out._opened.append(out.meter)
        out.meter_info = _identity(out.meter)
        if not (out.streaming or out.triggered):
            raise ConfigError(
                f"driver {bench.meter.driver!r} is neither a streaming nor a triggered meter",
                context="meter.driver",
            )
        offered = tuple(getattr(out.meter, "sync_modes", ()))
        if bench.sync.mode not in offered:
            raise ConfigError(
                f"{bench.meter.driver} offers sync modes {offered}, not {bench.sync.mode!r}",
                context="sync.mode",
            )
        _open_rails(out, limits)
        supply_cfg = bench.supply
        if supply_cfg is not None and supply_cfg.instrument is not None:
            inst = supply_cfg.instrument
            out.supply = _open_driver(inst, limits)
            out._opened.insert(0, out.supply)
            out.supply_info = _identity(out.supply)
        elif supply_cfg is not None and isinstance(out.meter, PowerSupply):
            out.supply = out.meter
            out.supply_info = out.meter_info
    except BaseException:
        out.close()
        raise
    return out


def open_supply(bench: Bench) -> BenchInstruments | None:
    """The bench's controllable supply alone (performance and accuracy modes), or None when
    the DUT is powered otherwise (no [supply], or a meter that sources nothing)."""
    cfg = bench.supply
    if cfg is None:
        return None
    limits = SafetyLimits(cfg.max_voltage_v, cfg.max_current_a)
    if cfg.instrument is not None:
        inst = cfg.instrument
    elif "supply" in getattr(load_driver(bench.meter.driver), "kind", ""):
        inst = bench.meter
    else:
        return None
    out = BenchInstruments(bench)
    try:
        out.supply = _open_driver(inst, limits)
        out._opened.append(out.supply)
        out.supply_info = _identity(out.supply)
        if inst is bench.meter:  # its further outputs power the other rails in every mode
            out.rail_supplies = _rail_outputs(out.supply, bench)
    except BaseException:
        out.close()
        raise
    return out


def _rail_outputs(meter: Any, bench: Bench) -> list[tuple[RailConfig, Any]]:
    """The meter's further outputs that source a rail of their own."""
    outputs = [r for r in bench.rails if r.same_instrument]
    if outputs and not isinstance(meter, MultiOutputMeter):
        raise ConfigError(
            f"driver {bench.meter.driver!r} cannot digitize a further output in the same "
            "acquisition (no multi-output support): give the rail a meter of its own",
            context=f"rails.{outputs[0].name}.channel",
        )
    return [
        (r, meter.rail_output(r.channel, SafetyLimits(r.max_voltage_v, r.max_current_a)))
        for r in outputs
    ]


def _open_rails(out: BenchInstruments, limits: SafetyLimits | None) -> None:
    """The bench's further rails: outputs of the meter added to its captures, and meters of
    their own opened (each offering the bench's sync mode, streaming or triggered)."""
    bench = out.bench
    out.rail_supplies = _rail_outputs(out.meter, bench)
    if out.rail_supplies:
        out.meter.set_rail_channels({r.channel: r.range_a for r, _ in out.rail_supplies})
    for rail in bench.rails:
        if rail.same_instrument:
            continue
        cfg = InstrumentConfig(rail.driver or "", rail.resource or "", rail.channel, rail.options)
        meter = _open_driver(cfg, limits)
        out._opened.append(meter)
        out.rail_meters[rail.name] = meter
        out.rail_infos[rail.name] = _identity(meter)
        offered = tuple(getattr(meter, "sync_modes", ()))
        if bench.sync.mode not in offered:
            raise ConfigError(
                f"{rail.driver} offers sync modes {offered}, not {bench.sync.mode!r}: it cannot "
                "see the DUT's timestamp line as the bench's meter does",
                context=f"rails.{rail.name}.driver",
            )
