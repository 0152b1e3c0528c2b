"""Keysight N6705B/C DC Power Analyzer with N6781A/N6785A SMU modules
(docs/instruments/keysight-n6705c.md).

One driver is the DUT's supply, a triggered meter (scope-mode arrays, up to ~512 K points, sample
id 0 = the trigger edge on a digital-port pin or the trigger BNC) and a streaming meter (Elog,
:mod:`keysight_elog`). A second SMU module in VMETer emulation can digitize the timestamp pin in
parallel (``analog_channel`` sync), giving both window edges. Every configuration batch drains
the error queue; the sample interval reported is the one the instrument accepted.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from energybench.analysis.trace import SourceInfo, Trace
from energybench.errors import (
    AcquisitionError,
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    UsageError,
)
from energybench.instruments.analog_sync import AnalogEdgeFinder
from energybench.instruments.capabilities import (
    Capture,
    CaptureRequest,
    CaptureSettings,
    InstrumentInfo,
    SyncSpec,
)
from energybench.instruments.catalogue import supply_check
from energybench.instruments.keysight_elog import ElogStreaming
from energybench.instruments.keysight_n6705c_rails import N6705Rails
from energybench.instruments.keysight_sync import SyncPlan, plan_sync
from energybench.instruments.scpi import ScpiDriver
from energybench.instruments.shutdown import CONFIRM_STEP, ShutdownReport, confirm_output_off
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

MAX_POINTS = 512 * 1024
# STAT:OPER bit 5, MEAS-active: set from INIT:ACQ until the acquisition is over, through the wait
# for its trigger. The N6705B/C has no "waiting for the measurement trigger" bit: its bit 3 is
# "not used, 0 is returned" (N6705C Operating and Service Guide p.350, Operation Status; bit 3 =
# WTG-meas exists only on N6700C-family mainframes), so a missing edge cannot be told apart from
# a long capture by the status alone.
MEASUREMENT_ACTIVE = 32
SUPPORTED_MODULES = ("N6781A", "N6785A")


def _fmt(value: float) -> str:
    return f"{value:.9g}"


@dataclass
class _CaptureState:
    settings: CaptureSettings
    plan: SyncPlan
    measure_voltage: bool
    channels: str


class KeysightN6705C(N6705Rails, ElogStreaming, ScpiDriver):
    """Supply + triggered meter + Elog streaming meter on one N6705 output (``channel``); further
    outputs as rails digitized in the same captures (:mod:`keysight_n6705c_rails`)."""

    kind = "supply+meter"
    sync_modes = ("hw_trigger_start", "analog_channel")
    max_channel = 4  # output numbers 1..4 of the four-slot mainframe

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        sync_channel: int = 2,
        *,
        big_endian: bool = False,
        io_voltage_v: float = 1.8,
    ) -> None:
        ScpiDriver.__init__(self, transport, limits)
        for name, value in (("channel", channel), ("sync_channel", sync_channel)):
            if not 1 <= value <= self.max_channel:
                raise ConfigError(f"must be 1..{self.max_channel}, got {value}", context=name)
        if channel == sync_channel:
            raise ConfigError("sync_channel must differ from channel", context="sync_channel")
        if not io_voltage_v > 0:
            raise ConfigError(f"must be > 0 V, got {io_voltage_v}", context="io_voltage_v")
        self.channel = channel
        self.sync_channel = sync_channel
        self.big_endian = big_endian
        self.io_voltage_v = io_voltage_v
        self.channel_count: int | None = None
        self.module_model = ""
        self.supply_check = supply_check("keysight_n6705c", limits)
        self._voltage_v: float | None = None
        self._current_limit_a: float | None = None
        self._capture: _CaptureState | None = None
        self.last_sync_trace: Trace | None = None
        self.rail_channels: dict[int, float | None] = {}
        self._rail_ranges_a: dict[int, float] = {}
        ElogStreaming.__init__(self)

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits | None = None, **kw) -> KeysightN6705C:
        """Open ``resource`` (VISA socket/INSTR or tcp://host:port) and wrap it (10 s timeout
        unless ``timeout_s`` is given)."""
        kw.setdefault("timeout_s", 10.0)
        return super().open(resource, limits, **kw)

    # ---- identity ------------------------------------------------------------------------
    def identify(self) -> InstrumentInfo:
        info = super().identify()
        self.channel_count = int(float(self.transport.query("SYST:CHAN?")))
        if self.channel > self.channel_count:
            raise ConfigError(
                f"channel {self.channel} does not exist ({self.channel_count} installed)",
                context=self.resource,
            )
        self.module_model = self.module(self.channel)
        self.supply_check.use_model(self.module_model)  # the module is what sources
        if self.module_model not in SUPPORTED_MODULES:
            log.warning(
                "%s: channel %d holds %s; EMUL, CURR:LIM and VMETer sync need an N6781A/N6785A",
                self.resource,
                self.channel,
                self.module_model,
            )
        return info

    def module(self, channel: int | None = None) -> str:
        """The module model installed at ``channel`` (``SYST:CHAN:MOD?``)."""
        return self.transport.query(f"SYST:CHAN:MOD? (@{channel or self.channel})").strip()

    # ---- supply --------------------------------------------------------------------------
    def configure_supply(
        self, voltage_v: float, current_limit_a: float, *, emulation: str = "PS2Q"
    ) -> None:
        """Emulation mode, current limit, then voltage; both checked before anything is sent."""
        voltage_v = self.supply_check.voltage(voltage_v)
        current_limit_a = self.supply_check.current_limit(current_limit_a)
        ch = f"(@{self.channel})"
        self.send_batch(
            [
                f"EMUL {emulation},{ch}",
                f"CURR:LIM {_fmt(current_limit_a)},{ch}",
                f"VOLT {_fmt(voltage_v)},{ch}",
            ]
        )
        self._current_limit_a, self._voltage_v = current_limit_a, voltage_v

    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        self.send_batch([f"VOLT {_fmt(voltage_v)},(@{self.channel})"])
        self._voltage_v = voltage_v

    def set_current_limit(self, current_a: float) -> None:
        current_a = self.supply_check.current_limit(current_a)
        self.send_batch([f"CURR:LIM {_fmt(current_a)},(@{self.channel})"])
        self._current_limit_a = current_a

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._current_limit_a is not None, enabled, f"OUTP (@{self.channel})")
        self.send_batch([f"OUTP {'ON' if enabled else 'OFF'},(@{self.channel})"])

    def output_enabled(self) -> bool:
        return self.transport.query(f"OUTP? (@{self.channel})").strip() in ("1", "+1", "ON")

    # ---- shared configuration ------------------------------------------------------------
    def _plan(self, sync: SyncSpec | None) -> SyncPlan:
        return plan_sync(sync, self.sync_modes)

    def _channels(self, plan: SyncPlan) -> str:
        used = [self.channel, *self.rail_channels, *([self.sync_channel] if plan.analog else [])]
        return "(@" + ",".join(str(n) for n in used) + ")"

    def _other_channels(self, plan: SyncPlan) -> list[int]:
        """Installed channels this capture does not use (known after :meth:`identify`)."""
        used = {self.channel, *self.rail_channels, *([self.sync_channel] if plan.analog else [])}
        return [n for n in range(1, (self.channel_count or 0) + 1) if n not in used]

    def _format_commands(self) -> list[str]:
        return ["FORM REAL", f"FORM:BORD {'NORM' if self.big_endian else 'SWAP'}"]

    def _trigger_commands(self, plan: SyncPlan) -> list[str]:
        if plan.pin is None:
            return []
        polarity = "NEG" if plan.polarity == "falling" else "POS"
        return [f"DIG:PIN{plan.pin}:FUNC TINP", f"DIG:PIN{plan.pin}:POL {polarity}"]

    def _range_command(self, current_range_a: float | None) -> str:
        if current_range_a is not None and not current_range_a > 0:
            raise ConfigError(f"must be > 0 A, got {current_range_a}", context="current_range_a")
        value = "MAX" if current_range_a is None else _fmt(current_range_a)
        return f"SENS:CURR:RANG {value},(@{self.channel})"

    def _query_float(self, command: str) -> float:
        reply = self.transport.query(command)
        try:
            return float(reply.split(",")[0])
        except ValueError:
            raise InstrumentError(f"expected a number, got {reply!r}", context=command) from None

    # ---- triggered meter (scope-mode arrays) ---------------------------------------------
    def configure_capture(self, request: CaptureRequest) -> CaptureSettings:
        """Digitize ``duration_s`` after and ``pretrigger_s`` before the trigger edge."""
        plan = self._plan(request.sync)
        if not (request.duration_s > 0 and request.sample_interval_s > 0):
            raise ConfigError("duration_s and sample_interval_s must be > 0", context="capture")
        if request.pretrigger_s < 0:
            raise ConfigError("must be >= 0", context="pretrigger_s")
        estimate = (request.duration_s + request.pretrigger_s) / request.sample_interval_s
        if estimate > MAX_POINTS:
            raise ConfigError(
                f"{estimate:.0f} points exceed the {MAX_POINTS}-point array buffer; "
                "use a longer interval or the Elog stream",
                context="capture",
            )
        range_command = self._range_command(request.current_range_a)
        chs, ch = self._channels(plan), f"(@{self.channel})"
        batch = self._format_commands()
        if plan.analog:
            sc = f"(@{self.sync_channel})"
            batch += [f"EMUL VMET,{sc}", f"SENS:FUNC:CURR OFF,{sc}", f"SENS:FUNC:VOLT ON,{sc}"]
        for other in self._other_channels(plan):  # fewer digitized parameters: a finer interval
            batch += [f"SENS:FUNC:CURR OFF,(@{other})", f"SENS:FUNC:VOLT OFF,(@{other})"]
        batch += [
            f"SENS:FUNC:CURR ON,{ch}",
            f"SENS:FUNC:VOLT {'ON' if request.measure_voltage else 'OFF'},{ch}",
            range_command,
            *self._rail_capture_commands(request.measure_voltage),
            f"SENS:SWE:TINT {_fmt(request.sample_interval_s)},{chs}",
        ]
        self.send_batch(batch)
        interval = self._query_float(f"SENS:SWE:TINT? {ch}")
        pre = round(request.pretrigger_s / interval)
        points = pre + math.ceil(request.duration_s / interval - 1e-9)
        if points > MAX_POINTS:
            raise ConfigError(
                f"{points} points at the accepted {interval:g} s interval exceed the "
                f"{MAX_POINTS}-point buffer",
                context="capture",
            )
        self.send_batch(
            [
                f"SENS:SWE:POIN {points},{chs}",
                f"SENS:SWE:OFFS:POIN {-pre},{chs}",
                *self._trigger_commands(plan),
                f"TRIG:ACQ:SOUR {plan.source},{chs}",
            ]
        )
        current_range = self._query_float(f"SENS:CURR:RANG? {ch}")
        self._query_rail_ranges()
        settings = CaptureSettings(interval, points, pre, current_range)
        self._capture = _CaptureState(settings, plan, request.measure_voltage, chs)
        return settings

    def arm(self) -> None:
        """Start the acquisition; it fills the pre-trigger buffer, then waits for the edge."""
        state = self._require_capture()
        commands = [f"INIT:ACQ {state.channels}"]
        if state.plan.bus_trigger:
            commands.append(f"TRIG:ACQ {state.channels}")
        self.send_batch(commands)

    def abort(self) -> None:
        state = self._require_capture()
        self.send_batch([f"ABOR:ACQ {state.channels}"])

    def _require_capture(self) -> _CaptureState:
        if self._capture is None:
            raise UsageError("configure_capture() first", context=self.resource)
        return self._capture

    def wait_complete(self, timeout_s: float) -> None:
        """Poll the operation status until the acquisition is over (MEAS-active clears)."""
        state = self._require_capture()
        deadline = time.monotonic() + timeout_s
        delay = 0.002
        while True:
            status = int(self._query_float(f"STAT:OPER:COND? (@{self.channel})"))
            if not status & MEASUREMENT_ACTIVE:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeoutError(
                    self._still_active_message(state, timeout_s), context=self.resource
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)

    @staticmethod
    def _still_active_message(state: _CaptureState, timeout_s: float) -> str:
        """Why an acquisition can still be active: the status cannot say whether it waits for
        its trigger, but the capture's own length after the trigger is known."""
        settings = state.settings
        after_s = (settings.n_points - settings.pretrigger_points) * settings.sample_interval_s
        edge = f"trigger source {state.plan.source}, {state.plan.polarity} edge"
        if timeout_s > after_s:
            return (
                f"acquisition still active after {timeout_s:g} s; it ends {after_s:g} s after its "
                f"trigger, so no trigger came ({edge}) or it came in the last {after_s:g} s: "
                "check the timestamp wiring (an N6705 does not report waiting for a trigger)"
            )
        return (
            f"acquisition still active after {timeout_s:g} s; it ends {after_s:g} s after its "
            f"trigger ({edge}): allow more than {after_s:g} s"
        )

    def _fetch_array(self, what: str, channel: int, count: int, timeout_s: float) -> np.ndarray:
        try:
            return self.transport.query_block(
                f"FETC:ARR:{what}? (@{channel})",
                "f4",
                big_endian=self.big_endian,
                count=count,
                timeout_s=timeout_s,
            )
        except InstrumentError as exc:
            errors = self.read_errors()
            if errors:
                exc.add_note("instrument errors: " + "; ".join(errors))
            raise

    def fetch(self, timeout_s: float) -> Capture:
        """Wait (bounded) for the acquisition, then read the arrays."""
        state = self._require_capture()
        deadline = time.monotonic() + timeout_s
        self.wait_complete(timeout_s)
        settings = state.settings

        def remaining() -> float:
            return max(deadline - time.monotonic(), 0.0) + self.transport.timeout_s

        n = settings.n_points
        current = self._fetch_array("CURR", self.channel, n, remaining())
        if state.measure_voltage:
            voltage: np.ndarray | float = self._fetch_array("VOLT", self.channel, n, remaining())
        else:
            voltage = (
                self._voltage_v
                if self._voltage_v is not None
                else self._query_float(f"VOLT? (@{self.channel})")
            )
        limit = settings.current_range_a
        if limit and np.any(np.abs(current) >= limit * (1 - 1e-6)):
            raise AcquisitionError(
                f"current reached the {limit:g} A measurement range (over-range): "
                "use a wider range",
                context=self.resource,
            )
        first = -settings.pretrigger_points
        rate = 1.0 / settings.sample_interval_s
        digital, edges = {}, ()
        if state.plan.analog:
            sync = self._fetch_array("VOLT", self.sync_channel, n, remaining())
            finder = AnalogEdgeFinder(self.io_voltage_v, state.plan.polarity, "point")
            edges = tuple(finder.feed(sync, first))
            if not state.plan.bus_trigger:  # the trigger placed this edge exactly at id 0
                edges = tuple(0.0 if abs(e) <= 1.0 else e for e in edges)
            digital = {"timestamp": finder.logic(sync)}
            self.last_sync_trace = Trace.from_arrays(
                np.zeros(n), sync, rate, first_sample_id=first, source=self._source("VMETer")
            )
        elif not state.plan.bus_trigger:
            edges = (0.0,)
        trace = Trace.from_arrays(
            current,
            voltage,
            rate,
            digital=digital,
            first_sample_id=first,
            source=self._source("scope arrays"),
        )
        rails = self._fetch_rails(n, first, rate, state.measure_voltage, remaining)
        return Capture(trace, settings, edges, rails)

    def _source(self, description: str) -> SourceInfo:
        info = self.info
        return SourceInfo(
            instrument=f"{info.vendor} {info.model}" if info else "Keysight N6705",
            serial_number=info.serial_number if info else "",
            resource=self.resource,
            description=f"channel {self.channel}: {description}",
        )

    # ---- shutdown ------------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Abort acquisitions, every output off, drain errors, read the DUT's output back:
        idempotent, never raises; the report says which steps succeeded."""
        count = self.channel_count or max(self.channel, self.sync_channel)
        every = ",".join(str(n) for n in range(1, count + 1))
        # The DUT's output first, each output on its own: a channel the mainframe lacks (count
        # unknown before identify()) must not make the instrument reject the others' OUTP OFF.
        outputs = [self.channel, *(n for n in range(1, count + 1) if n != self.channel)]
        write = self.transport.write
        off_steps = [(f"output {n} off", lambda n=n: write(f"OUTP OFF,(@{n})")) for n in outputs]
        report = self.run_shutdown_steps(
            [
                ("abort acquisition", lambda: write(f"ABOR:ACQ (@{every})")),
                ("abort Elog", lambda: write(f"ABOR:ELOG (@{every})")),
                *off_steps,
                ("drain errors", self.log_errors),
                ("discard stale replies", self.transport.clear),
                (CONFIRM_STEP, confirm_output_off(self, self.resource)),  # OUTP? (@n) -> 0
            ],
            output=[name for name, _ in off_steps] + [CONFIRM_STEP],
        )
        self._stream_running = False
        return report
