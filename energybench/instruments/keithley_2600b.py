"""Keithley 2600B SMUs over TSP: supply and a capture armed by a digital I/O edge
(docs/instruments/keithley-2600b.md).

TSP statements are written as plain lines; queries are wrapped in ``print(...)``. The capture
uses the SMU trigger model: ``smua.trigger.arm.stimulus = digio.trigger[N].EVENT_ID`` arms on
the timestamp edge, then ``smua.trigger.count`` readings are taken back to back (interval =
NPLC / line frequency, at most 20,000 readings/s) into ``nvbuffer1`` (current) and ``nvbuffer2``
(voltage) with timestamps. Only the start edge is hardware-referenced (``hw_trigger_start``): the
window length must be known (strategy C). Buffers are read with ``printbuffer`` as ``#0``
REAL32/REAL64 blocks (value count always passed) or ASCII; timestamps always at float64.
"""

from __future__ import annotations

import logging
import math
import time
from typing import ClassVar

import numpy as np

from energybench.errors import (
    AcquisitionError,
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
)
from energybench.instruments.capabilities import (
    Capture,
    CaptureRequest,
    CaptureSettings,
    InstrumentInfo,
    SyncMode,
)
from energybench.instruments.catalogue import supply_check
from energybench.instruments.keithley_common import (
    build_trace,
    check_grid,
    check_over_range,
    parse_line,
    pick_range,
)
from energybench.instruments.scpi import MAX_ERROR_READS, ScpiDriver
from energybench.instruments.shutdown import CONFIRM_STEP, ShutdownReport, confirm_output_off
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.02
FORMATS = {"REAL32": ("format.REAL32", "f4"), "REAL64": ("format.REAL64", "f8"), "ASCII": ("", "")}


class Keithley2600B(ScpiDriver):
    """Keithley 2601B/2602B/2604B/2611B/2612B/2614B/2634B/2635B/2636B, one SMU channel."""

    kind = "supply+meter"
    max_channel = 2  # 1 = smua, 2 = smub (two-channel models)
    sync_modes: tuple[SyncMode, ...] = ("hw_trigger_start",)
    current_ranges_a = (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0)  # [U]
    min_interval_s = 1 / 20_000  # 0.001 NPLC, measure to memory (keithley-2600b.md#speed)
    max_nplc = 25.0
    # Readings a dedicated buffer holds "with timestamp and source setting": "> 60,000"
    # (SPEC-2602B Rev B p.11; > 140,000 without). The driver collects timestamps, so it asks
    # nvbuffer<n>.capacity after setting that up and uses this figure only without an answer.
    max_buffer_points = 60_000
    digio_lines = range(1, 15)
    # digio.trigger[N].mode per edge: TRIG_RISINGA detects rising input edges whatever the
    # line's programmed state; TRIG_RISING sees none while that state is low (2600 Series
    # Reference Manual p.12-20, which points to TRIG_RISINGA).
    trigger_modes: ClassVar[dict[str, str]] = {
        "falling": "digio.TRIG_FALLING",
        "rising": "digio.TRIG_RISINGA",
    }

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        data_format: str = "REAL32",
        big_endian: bool = False,
    ) -> None:
        if channel not in (1, 2):
            raise ConfigError(
                f"channel must be 1 (smua) or 2 (smub), not {channel}", context="channel"
            )
        if data_format not in FORMATS:
            raise ConfigError(
                f"data_format must be one of {sorted(FORMATS)}", context="data_format"
            )
        super().__init__(transport, limits)
        self.supply_check = supply_check("keithley_2600b", limits)
        self.channel = channel
        self.smu = "smua" if channel == 1 else "smub"
        self.data_format = data_format
        self.big_endian = big_endian
        self._current_limit_set = False
        self._line_frequency_hz: float | None = None
        self._plan: tuple[int, float, float, float, bool, int] | None = None

    def identify(self) -> InstrumentInfo:
        info = super().identify()
        if not info.matches(r"Keithley.*,\s*Model 26\d\d[AB]"):
            raise InstrumentError(
                f"connected instrument is {info.vendor} {info.model}, not a Keithley 2600B",
                context=self.resource,
            )
        self.supply_check.use_model(info.model)
        return info

    def _print(self, expression: str) -> str:
        try:
            return self.transport.query(f"print({expression})")
        except InstrumentTimeoutError:
            self.transport.clear()  # a late reply must not answer the next query
            raise

    def _number(self, expression: str) -> float:
        """A numeric ``print(...)`` query; a reply that is not a number is an InstrumentError."""
        reply = self._print(expression)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentError(
                f"print({expression}) answered {reply!r}, not a number", context=self.resource
            ) from None

    def read_errors(self) -> list[str]:
        """Drain ``errorqueue`` as ``code,"message"`` entries (bounded)."""
        count = int(self._number("errorqueue.count"))
        entries = []
        for _ in range(min(count, MAX_ERROR_READS)):
            fields = self._print("errorqueue.next()").split("\t")
            try:
                code = int(float(fields[0])) if fields[0].strip() else 0
            except ValueError:
                raise InstrumentError(
                    f"errorqueue.next() answered {fields!r}", context=self.resource
                ) from None
            if code == 0:
                break
            entries.append(f'{code},"{fields[1] if len(fields) > 1 else ""}"')
        if count > MAX_ERROR_READS:
            entries.append(f"(error queue held {count} entries; read {MAX_ERROR_READS})")
        return entries

    # ---- PowerSupply ---------------------------------------------------------------------
    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        smu = self.smu
        self.send_batch(
            [f"{smu}.source.func = {smu}.OUTPUT_DCVOLTS", f"{smu}.source.levelv = {voltage_v:.9g}"]
        )

    def set_current_limit(self, current_a: float) -> None:
        current_a = self.supply_check.current_limit(current_a)
        self.send_batch([f"{self.smu}.source.limiti = {current_a:.9g}"])
        self._current_limit_set = True

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._current_limit_set, enabled, "output")
        state = "OUTPUT_ON" if enabled else "OUTPUT_OFF"
        self.send_batch([f"{self.smu}.source.output = {self.smu}.{state}"])

    def output_enabled(self) -> bool:
        return self._number(f"{self.smu}.source.output") == 1.0

    # ---- TriggeredMeter ------------------------------------------------------------------
    def line_frequency_hz(self) -> float:
        if self._line_frequency_hz is None:
            self._line_frequency_hz = self._number("localnode.linefreq")
        return self._line_frequency_hz

    def configure_capture(self, request: CaptureRequest) -> CaptureSettings:
        if request.pretrigger_s:
            raise ConfigError("the 2600B trigger model has no pre-trigger", context="pretrigger_s")
        if not request.duration_s > 0 or not request.sample_interval_s >= self.min_interval_s:
            raise ConfigError(
                f"duration_s must be > 0 and sample_interval_s >= {self.min_interval_s:g} s "
                "(20,000 readings/s)",
                context="capture request",
            )
        current_range = pick_range(self.current_ranges_a, request.current_range_a, "range")
        line = 0
        if request.sync is not None:
            if request.sync.mode not in self.sync_modes:
                raise ConfigError(
                    f"sync mode {request.sync.mode!r} is not one of {self.sync_modes}",
                    context="sync.mode",
                )
            line = parse_line(request.sync, self.digio_lines, "sync.line")
            edge = self.trigger_modes[request.sync.polarity]
        nplc = request.sample_interval_s * self.line_frequency_hz()
        if nplc > self.max_nplc:
            raise ConfigError(
                f"{nplc:g} NPLC exceeds {self.max_nplc:g}", context="sample_interval_s"
            )
        n_points = math.ceil(request.duration_s / request.sample_interval_s - 1e-9)
        self._plan = None
        s = self.smu
        commands = [
            f"{s}.abort()",
            f"{s}.measure.autorangei = {s}.AUTORANGE_OFF",
            f"{s}.measure.rangei = {current_range:g}",
            f"{s}.measure.autozero = {s}.AUTOZERO_OFF",
            f"{s}.measure.nplc = {max(nplc, 0.001):.6g}",
            f"{s}.nvbuffer1.clear()",
            f"{s}.nvbuffer1.collecttimestamps = 1",
            f"{s}.nvbuffer2.clear()",
            f"{s}.nvbuffer2.collecttimestamps = 1",
        ]
        if self.data_format == "ASCII":
            commands += ["format.data = format.ASCII", "format.asciiprecision = 10"]
        else:
            order = "BIGENDIAN" if self.big_endian else "LITTLEENDIAN"
            commands += [
                f"format.data = {FORMATS[self.data_format][0]}",
                f"format.byteorder = format.{order}",
            ]
        if line:
            commands += [
                f"digio.trigger[{line}].mode = {edge}",
                f"digio.trigger[{line}].clear()",
                f"{s}.trigger.arm.stimulus = digio.trigger[{line}].EVENT_ID",
            ]
        else:
            commands += [f"{s}.trigger.arm.stimulus = 0"]
        measure = (
            f"{s}.trigger.measure.iv({s}.nvbuffer1, {s}.nvbuffer2)"
            if request.measure_voltage
            else f"{s}.trigger.measure.i({s}.nvbuffer1)"
        )
        commands += [
            f"{s}.trigger.arm.count = 1",
            f"{s}.trigger.count = {n_points}",
            f"{s}.trigger.measure.stimulus = 0",
            f"{s}.trigger.source.action = {s}.DISABLE",
            measure,
            f"{s}.trigger.measure.action = {s}.ENABLE",
        ]
        self.send_batch(commands)
        capacity = self.buffer_points(request.measure_voltage)
        if n_points > capacity:
            raise ConfigError(
                f"{n_points} readings exceed the {capacity}-reading buffer (with timestamps); "
                "nothing was armed: lower the rate or the duration",
                context="duration_s",
            )
        accepted_nplc = self._number(f"{s}.measure.nplc")
        accepted_range = self._number(f"{s}.measure.rangei")
        aperture = accepted_nplc / self.line_frequency_hz()
        interval = max(aperture, self.min_interval_s)
        self._plan = (n_points, interval, aperture, accepted_range, request.measure_voltage, line)
        return CaptureSettings(interval, n_points, 0, accepted_range)

    def buffer_points(self, both: bool = True) -> int:
        """Readings the capture's buffers hold as now set up (``nvbuffer<n>.capacity``, which
        shrinks when timestamps are collected); the documented ``max_buffer_points`` when the
        instrument gives no number."""
        buffers = ["nvbuffer1", "nvbuffer2"] if both else ["nvbuffer1"]
        expression = ", ".join(f"{self.smu}.{b}.capacity" for b in buffers)
        try:
            return int(min(float(v) for v in self._print(expression).split("\t")))
        except (ValueError, InstrumentError, InstrumentTimeoutError) as exc:
            errors = self.read_errors()
            log.warning(
                "%s: no buffer capacity from print(%s) (%s); using the documented %d readings",
                self.resource,
                expression,
                "; ".join(errors) or exc,
                self.max_buffer_points,
            )
            return self.max_buffer_points

    def arm(self) -> None:
        if self._plan is None:
            raise AcquisitionError("configure_capture() before arm()", context=self.resource)
        self.send_batch([f"{self.smu}.trigger.initiate()"])

    def abort(self) -> None:
        self.send_batch([f"{self.smu}.abort()"])

    def _read(self, buffers: list[str], n: int, dtype: str) -> np.ndarray:
        width = len(buffers)
        command = f"printbuffer(1, {n}, {', '.join(buffers)})"
        timeout_s = self.transport.timeout_s + n * width * 16 / 1e6
        if not dtype:
            reply = self.transport.query(command, timeout_s=timeout_s)
            try:
                values = np.array([float(v) for v in reply.split(",")], dtype=np.float64)
            except ValueError:
                raise InstrumentError(
                    f"printbuffer answered non-numbers: {reply[:60]!r}", context=self.resource
                ) from None
            if values.size != n * width:
                raise InstrumentError(
                    f"printbuffer returned {values.size} values, expected {n * width}",
                    context=self.resource,
                )
        else:
            values = self.transport.query_block(
                command, dtype, big_endian=self.big_endian, count=n * width, timeout_s=timeout_s
            )
        return values.reshape(n, width).astype(np.float64)

    def fetch(self, timeout_s: float) -> Capture:
        if self._plan is None:
            raise AcquisitionError("configure_capture() before fetch()", context=self.resource)
        n_points, interval, aperture, current_range, measure_voltage, line = self._plan
        s = self.smu
        deadline = time.monotonic() + timeout_s
        while (n := int(self._number(f"{s}.nvbuffer1.n"))) < n_points:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeoutError(
                    f"{n} of {n_points} readings after {timeout_s:g} s "
                    f"(no edge on digio line {line}?)",
                    context=self.resource,
                )
            time.sleep(min(POLL_INTERVAL_S, remaining))
        if n != n_points:
            raise AcquisitionError(
                f"buffer holds {n} readings, expected {n_points}", context=self.resource
            )
        buffers = [f"{s}.nvbuffer1.readings"]
        if measure_voltage:
            buffers.append(f"{s}.nvbuffer2.readings")
        data = self._read(buffers, n, FORMATS[self.data_format][1])
        if self.data_format == "ASCII":
            stamps = self._read([f"{s}.nvbuffer1.timestamps"], n, "")[:, 0]
        else:
            self.transport.write("format.data = format.REAL64")
            stamps = self._read([f"{s}.nvbuffer1.timestamps"], n, "f8")[:, 0]
            self.transport.write(f"format.data = {FORMATS[self.data_format][0]}")
        rate = 1.0 / interval
        check_grid(stamps - stamps[0], rate, self.resource)
        check_over_range(data[:, 0], current_range, self.resource)
        voltage = data[:, 1] if measure_voltage else self._number(f"{s}.source.levelv")
        kind = "bin" if aperture >= interval * 0.999 else "point"
        trace = build_trace(
            data[:, 0],
            voltage,
            rate,
            kind,
            self.info,
            self.resource,
            f"Keithley 2600B {s} capture armed on digio line {line}" if line else "immediate",
        )
        settings = CaptureSettings(interval, n, 0, current_range)
        return Capture(trace, settings, (0.0,) if line else ())

    # ---- shutdown ------------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Abort, source 0 V, output off, drain errors, read the output back: idempotent,
        never raises."""
        s = self.smu
        return self.run_shutdown_steps(
            [
                ("discard stale replies", self.transport.clear),
                ("abort", lambda: self.transport.write(f"{s}.abort()")),
                ("level 0 V", lambda: self.transport.write(f"{s}.source.levelv = 0")),
                ("output off", lambda: self.transport.write(f"{s}.source.output = {s}.OUTPUT_OFF")),
                ("drain errors", self.log_errors),
                (CONFIRM_STEP, confirm_output_off(self, self.resource)),  # source.output -> 0
            ],
            output=("output off", CONFIRM_STEP),
        )
