"""Keithley 2450 / 2460 / 2461 SMUs in SCPI mode: supply and GPIO-triggered meter
(docs/instruments/keithley-2400.md).

The DUT's timestamp pin is wired to a digital I/O line in trigger-input mode. The capture is a
trigger model (``:TRIG:LOAD "Empty"`` plus blocks), chosen by the sync mode:

- ``hw_trigger_start_stop`` (default): clear buffer → WAIT edge → acquire INF → WAIT edge →
  acquire 1. The INF acquisition runs from the first edge until the second; the final single
  reading starts at the second edge, so its RELative timestamp is the window length. Both edges
  are therefore known: at sample position 0 and at ``REL_last × rate``.
- ``hw_trigger_start``: WAIT edge → acquire N (a window of known length after the edge).

The 2461 acquires with its digitizer (``:DIG``, 1 kS/s…1 MS/s, aperture AUTO = 1/rate, so each
reading averages its whole interval); the 2450/2460 with the integrating ADC (``:SENS``, NPLC =
interval × line frequency). The accepted rate, aperture and range are read back. Buffers are
fetched as ``#0`` blocks (float64 REAL or float32 SREal, either byte order) with the value count.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from energybench.errors import (
    AcquisitionError,
    ConfigError,
    InstrumentError,
)
from energybench.instruments.capabilities import (
    Capture,
    CaptureRequest,
    CaptureSettings,
    InstrumentInfo,
    SyncMode,
)
from energybench.instruments.catalogue import supply_check
from energybench.instruments.keithley_2400_model import (
    CapturePlan,
    ask_buffer_points,
    check_start_stop,
    find_digitize_block,
    stop_edge_position,
    trigger_model_commands,
    wait_trigger_idle,
)
from energybench.instruments.keithley_common import (
    build_trace,
    check_grid,
    check_over_range,
    parse_line,
    pick_range,
)
from energybench.instruments.scpi import ScpiDriver
from energybench.instruments.shutdown import CONFIRM_STEP, ShutdownReport, confirm_output_off
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

_RANGES_7A = (1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 4.0, 5.0, 7.0)
FETCH_CHUNK_READINGS = 100_000


class Keithley2461(ScpiDriver):
    """Keithley 2461 (digitizer); :class:`Keithley2450`/:class:`Keithley2460` use the ADC."""

    kind = "supply+meter"
    max_channel = 1
    sync_modes: tuple[SyncMode, ...] = ("hw_trigger_start_stop", "hw_trigger_start")
    model = "2461"
    has_digitizer = True
    current_ranges_a: tuple[float, ...] = (*_RANGES_7A[1:], 10.0)  # digitizer ranges [U]
    min_rate_hz, max_rate_hz = 1_000.0, 1_000_000.0
    # Reading-buffer capacity when the instrument does not answer :TRAC:POIN? MAX: 6,875,000
    # STANdard readings, all buffers together (2461 Reference Manual 2461-901-01 Rev A p.3-10).
    max_buffer_points = 6_875_000
    buffer_name = "defbuffer1"
    # The digitize trigger block: :TRIG:BLOC:DIG in the 2461 Reference Manual Rev A (p.6-202);
    # newer firmware names it :TRIG:BLOC:MDIG. Tried in this order, the first one the instrument
    # knows is used (an unknown header is SCPI error -113); see _digitize_block().
    digitize_blocks = (":TRIG:BLOC:DIG", ":TRIG:BLOC:MDIG")
    error_query = ":SYST:ERR?"

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        data_format: str = "REAL",
        big_endian: bool = False,
    ) -> None:
        if channel != 1:
            raise ConfigError(f"the {self.model} has one channel, not {channel}", context="channel")
        if data_format not in ("REAL", "SREAL"):
            raise ConfigError("data_format must be 'REAL' or 'SREAL'", context="data_format")
        super().__init__(transport, limits)
        self.supply_check = supply_check(f"keithley_{self.model}", limits)
        self.channel = channel
        self.data_format = data_format
        self.big_endian = big_endian
        self._current_limit_set = False
        self._line_frequency_hz: float | None = None
        self._plan: CapturePlan | None = None
        self._buffer_points: int | None = None  # the instrument's, once asked
        self.digitize_block: str | None = None  # the one this instrument accepted, once tried

    def identify(self) -> InstrumentInfo:
        info = super().identify()
        if not info.matches(rf"KEITHLEY.*,MODEL {self.model}\b"):
            raise InstrumentError(
                f"connected instrument is {info.vendor} {info.model}; this driver is for the "
                f"Keithley {self.model}",
                context=self.resource,
            )
        self.supply_check.use_model(info.model)
        return info

    # ---- PowerSupply ---------------------------------------------------------------------
    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        self.send_batch([":SOUR:FUNC VOLT", f":SOUR:VOLT {voltage_v:.9g}"])

    def set_current_limit(self, current_a: float) -> None:
        current_a = self.supply_check.current_limit(current_a)
        self.send_batch([":SOUR:FUNC VOLT", f":SOUR:VOLT:ILIM {current_a:.9g}"])
        self._current_limit_set = True

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._current_limit_set, enabled, "output")
        self.send_batch([":OUTP ON" if enabled else ":OUTP OFF"])

    def output_enabled(self) -> bool:
        reply = self.transport.query(":OUTP?").strip().upper()
        if reply not in ("0", "1", "ON", "OFF"):
            raise InstrumentError(f"unexpected reply {reply!r} to :OUTP?", context=self.resource)
        return reply in ("1", "ON")

    # ---- TriggeredMeter ------------------------------------------------------------------
    def line_frequency_hz(self) -> float:
        if self._line_frequency_hz is None:
            self._line_frequency_hz = float(self.transport.query(":SYST:LFR?"))
        return self._line_frequency_hz

    def _validate(self, request: CaptureRequest) -> tuple[SyncMode | None, int, str, float]:
        if request.pretrigger_s:
            raise ConfigError(
                "the Keithley trigger model has no pre-trigger samples", context="pretrigger_s"
            )
        if not request.duration_s > 0 or not request.sample_interval_s > 0:
            raise ConfigError(
                "duration_s and sample_interval_s must be > 0", context="capture request"
            )
        current_range = pick_range(self.current_ranges_a, request.current_range_a, "range")
        if request.sync is None:
            return None, 0, "", current_range
        if request.sync.mode not in self.sync_modes:
            raise ConfigError(
                f"sync mode {request.sync.mode!r} is not one of {self.sync_modes}",
                context="sync.mode",
            )
        line = parse_line(request.sync, range(1, 7), "sync.line")
        edge = {"falling": "FALL", "rising": "RIS"}.get(request.sync.polarity)
        if edge is None:
            raise ConfigError(f"polarity {request.sync.polarity!r}", context="sync.polarity")
        return request.sync.mode, line, edge, current_range

    def _acquisition_commands(self, interval_s: float, current_range_a: float) -> list[str]:
        if self.has_digitizer:
            rate = 1.0 / interval_s
            if not self.min_rate_hz <= rate <= self.max_rate_hz:
                raise ConfigError(
                    f"sample interval {interval_s:g} s is outside the digitizer's "
                    f"{1 / self.max_rate_hz:g}..{1 / self.min_rate_hz:g} s",
                    context="sample_interval_s",
                )
            return [
                ':DIG:FUNC "CURR"',
                f":DIG:CURR:RANG {current_range_a:g}",
                f":DIG:CURR:SRAT {rate:.10g}",
                ":DIG:CURR:APER AUTO",
            ]
        nplc = interval_s * self.line_frequency_hz()
        if not 0.01 <= nplc <= 10:
            raise ConfigError(
                f"sample interval {interval_s:g} s needs {nplc:.4g} NPLC, outside 0.01..10",
                context="sample_interval_s",
            )
        return [
            ':SENS:FUNC "CURR"',
            f":SENS:CURR:RANG {current_range_a:g}",
            ":SENS:CURR:AZER OFF",
            f":SENS:CURR:NPLC {nplc:.6g}",
        ]

    def _read_back(self) -> tuple[float, float, float]:
        """Accepted (rate, aperture, range), queried from the instrument."""
        q = self.transport.query
        if self.has_digitizer:
            rate = float(q(":DIG:CURR:SRAT?"))
            return rate, float(q(":DIG:CURR:APER?")), float(q(":DIG:CURR:RANG?"))
        interval = float(q(":SENS:CURR:NPLC?")) / self.line_frequency_hz()
        return 1.0 / interval, interval, float(q(":SENS:CURR:RANG?"))

    def buffer_points(self) -> int:
        """The most readings a buffer can hold: the instrument's answer to ``:TRAC:POIN? MAX``,
        else the documented ``max_buffer_points``; asked once."""
        if self._buffer_points is None:
            self._buffer_points = ask_buffer_points(self, self.max_buffer_points)
        return self._buffer_points

    def _digitize_block(self) -> str:
        """The digitize block's header this firmware knows (found once, then kept)."""
        if self.digitize_block is None:
            self.digitize_block = find_digitize_block(self, self.digitize_blocks, self.buffer_name)
        return self.digitize_block

    def configure_capture(self, request: CaptureRequest) -> CaptureSettings:
        mode, line, edge, current_range = self._validate(request)
        commands = [":ABOR", *self._acquisition_commands(request.sample_interval_s, current_range)]
        self.send_batch(commands)  # :ABOR first: no running model holds up the *OPC? below
        limit = self.buffer_points()
        if request.duration_s / request.sample_interval_s + 2 > limit:
            raise ConfigError(
                f"{request.duration_s:g} s at {request.sample_interval_s:g} s per reading "
                f"exceeds the {limit}-reading buffer; nothing was armed",
                context="duration_s",
            )
        rate, aperture, accepted_range = self._read_back()
        n_points = math.ceil(request.duration_s * rate - 1e-9)
        capacity = max(10, n_points + 2)
        if capacity > limit:
            raise ConfigError(
                f"{n_points} readings at {rate:g} S/s exceed the {limit} "
                "reading buffer; lower the rate or the duration",
                context="duration_s",
            )
        buf = self.buffer_name
        acquire = self._digitize_block() if self.has_digitizer else ":TRIG:BLOC:MEAS"
        batch = [
            f':TRAC:POIN {capacity},"{buf}"',
            f":FORM:DATA {'REAL' if self.data_format == 'REAL' else 'SRE'}",
            f":FORM:BORD {'NORM' if self.big_endian else 'SWAP'}",
            f":SOUR:VOLT:READ:BACK {'ON' if request.measure_voltage else 'OFF'}",
        ]
        batch += trigger_model_commands(mode, line, edge, acquire, buf, n_points)
        self.send_batch(batch)
        self._plan = CapturePlan(
            mode, rate, aperture, accepted_range, n_points, capacity, request.measure_voltage, line
        )
        return CaptureSettings(1.0 / rate, n_points, 0, accepted_range)

    def arm(self) -> None:
        if self._plan is None:
            raise AcquisitionError("configure_capture() before arm()", context=self.resource)
        self.send_batch([":INIT"])

    def abort(self) -> None:
        self.send_batch([":ABOR"])

    def _read_buffer(self, n: int, elements: list[str]) -> np.ndarray:
        """Readings 1..n as an (n, len(elements)) array, fetched in #0 blocks with counts."""
        dtype = "f8" if self.data_format == "REAL" else "f4"
        rows = []
        width = len(elements)
        for first in range(1, n + 1, FETCH_CHUNK_READINGS):
            last = min(n, first + FETCH_CHUNK_READINGS - 1)
            count = (last - first + 1) * width
            values = self.transport.query_block(
                f':TRAC:DATA? {first},{last},"{self.buffer_name}",{",".join(elements)}',
                dtype,
                big_endian=self.big_endian,
                count=count,
                timeout_s=self.transport.timeout_s + count * int(dtype[1]) / 1e6,
            )
            rows.append(values.reshape(-1, width).astype(np.float64))
        return np.concatenate(rows) if rows else np.empty((0, width))

    def _marker_rel_s(self, n: int, rel_s: float) -> float:
        """The stop marker's REL timestamp; float32 (SREal) is too coarse for a long window,
        so it is re-read in ASCII then."""
        if self.data_format == "REAL":
            return float(rel_s)
        self.transport.write(":FORM:DATA ASC")
        reply = self.transport.query(f':TRAC:DATA? {n},{n},"{self.buffer_name}",REL')
        self.transport.write(":FORM:DATA SRE")
        return float(reply)

    def fetch(self, timeout_s: float) -> Capture:
        plan = self._plan
        if plan is None:
            raise AcquisitionError("configure_capture() before fetch()", context=self.resource)
        wait_trigger_idle(self.transport, timeout_s, plan.line)
        n = int(float(self.transport.query(f':TRAC:ACT? "{self.buffer_name}"')))
        elements = ["READ", "SOUR", "REL"] if plan.measure_voltage else ["READ", "REL"]
        data = self._read_buffer(n, elements)
        edges: tuple[float, ...] = (0.0,) if plan.mode else ()
        if plan.mode == "hw_trigger_start_stop":
            check_start_stop(plan, n, self.resource)
            marker_rel_s = self._marker_rel_s(n, data[-1, -1])
            data = data[:-1]
            stop_position = stop_edge_position(data, marker_rel_s, plan, self.resource)
            edges = (0.0, stop_position)
        elif n != plan.n_points:
            raise AcquisitionError(
                f"buffer holds {n} readings, expected {plan.n_points}", context=self.resource
            )
        resolution = 6e-8 if self.data_format == "SREAL" else 0.0
        check_grid(data[:, -1], plan.sample_rate_hz, self.resource, resolution)
        check_over_range(data[:, 0], plan.current_range_a, self.resource)
        if plan.measure_voltage:
            voltage: np.ndarray | float = data[:, 1]
        else:
            voltage = float(self.transport.query(":SOUR:VOLT?"))
        kind = "bin" if plan.aperture_s * plan.sample_rate_hz >= 0.999 else "point"
        trace = build_trace(
            data[:, 0],
            voltage,
            plan.sample_rate_hz,
            kind,
            self.info,
            self.resource,
            f"Keithley {self.model} {plan.mode or 'immediate'} capture, DIG line {plan.line}",
        )
        settings = CaptureSettings(1.0 / plan.sample_rate_hz, len(data), 0, plan.current_range_a)
        return Capture(trace, settings, edges)

    # ---- shutdown ------------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Abort the trigger model, output off, drain errors, read the output back:
        idempotent, never raises."""
        return self.run_shutdown_steps(
            [
                ("discard stale replies", self.transport.clear),
                ("abort", lambda: self.transport.write(":ABOR")),
                ("output off", lambda: self.transport.write(":OUTP OFF")),
                ("drain errors", self.log_errors),
                (CONFIRM_STEP, confirm_output_off(self, self.resource)),  # :OUTP? -> 0
            ],
            output=("output off", CONFIRM_STEP),
        )


class Keithley2460(Keithley2461):
    """Keithley 2460: the 2461 without the digitizer (integrating ADC captures)."""

    model = "2460"
    has_digitizer = False
    current_ranges_a = _RANGES_7A
    # No 2460 document was checked: the 2461's figure (same firmware family), unverified.
    max_buffer_points = 6_875_000


class Keithley2450(Keithley2461):
    """Keithley 2450: 200 V / 1 A SMU, integrating ADC captures."""

    model = "2450"
    has_digitizer = False
    current_ranges_a = (10e-9, 100e-9, *_RANGES_7A[:7])
    # "Memory buffer > 250,000 readings with selected measured values and timestamp"
    # (SPEC-2450 Rev A p.6); later firmware may hold more, which :TRAC:POIN? MAX would tell.
    max_buffer_points = 250_000
