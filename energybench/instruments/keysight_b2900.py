"""Keysight B2900 SMU driver (B2901A/02A/11A/12A; B29xxB/BL assumed alike): supply and
DIO-triggered meter.

The SMU powers the DUT rail and digitizes its current with a timed acquisition whose ARM layer waits
for the DUT's timestamp edge on a rear DIO pin (docs/instruments/keysight-b2900.md#dio-trigger):
sample id 0 is the edge. By default the aperture equals the trigger interval, so samples are bin
averages that tile time (exact energy integration); whether the hardware accepts aperture = interval
is [U], so ``aperture_fraction`` < 1 leaves it headroom (samples are then reported as point
samples). Both are read back, never assumed. Data come as REAL,32 or REAL,64 blocks in either byte
order. Safety: set-points pass the supply-limit check (the identified model's rating and the bench
limits) before anything is sent, compliance must be set before the output goes on, and
:meth:`safe_shutdown` aborts, switches off and never raises.
Unverified on hardware [U]/[D]: the DIO arm syntax, ``:IDLE<c>:ACQ?`` completion polling and the
exact ``:FETC:ARR:TIME?`` form.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from energybench.analysis.trace import SourceInfo, Trace, nan_ranges
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
from energybench.instruments.keithley_common import pick_range
from energybench.instruments.scpi import ScpiDriver
from energybench.instruments.shutdown import CONFIRM_STEP, ShutdownReport, confirm_output_off
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

CURRENT_RANGES_A = (10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 1.5, 3.0)
MAX_POINTS = 100_000
MIN_APERTURE_S = 8e-6
OVER_RANGE = 1.05
FORMATS = {"REAL,32": "f4", "REAL,64": "f8"}
BYTE_ORDERS = ("NORM", "SWAP")
IDENTITY = r"(Agilent|Keysight).*,B29\d\d[AB]?"
POLL_S = 0.02


def _min_interval_s(model: str) -> float:
    """Minimum trigger interval: B2911/B2912 10 µs, the others 20 µs (B2900A data sheet
    p.17, docs/instruments/keysight-b2900.md#dio-trigger)."""
    return 10e-6 if model.upper().startswith(("B2911", "B2912")) else 20e-6


class KeysightB2900(ScpiDriver):
    """One SMU channel: :class:`PowerSupply` and :class:`TriggeredMeter` (DIO arm trigger)."""

    kind = "supply+meter"
    max_channel = 2  # B2902A/B2912A (a B2901A/B2911A has channel 1 only)
    sync_modes: tuple[SyncMode, ...] = ("hw_trigger_start",)
    identity_pattern = IDENTITY
    error_query = ":SYST:ERR?"

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        data_format: str = "REAL,64",
        byte_order: str = "SWAP",
        aperture_fraction: float = 1.0,
    ) -> None:
        super().__init__(transport, limits)
        self.supply_check = supply_check("keysight_b2900", limits)
        if channel not in (1, 2):
            raise ConfigError(f"B2900 channel must be 1 or 2, got {channel}", context="channel")
        if data_format not in FORMATS:
            raise ConfigError(f"data_format must be one of {list(FORMATS)}", context="data_format")
        if byte_order not in BYTE_ORDERS:
            raise ConfigError(f"byte_order must be NORM or SWAP, got {byte_order!r}")
        if not 0 < aperture_fraction <= 1:
            raise ConfigError("aperture_fraction must be in (0, 1]", context="aperture_fraction")
        self.aperture_fraction = aperture_fraction
        self.channel = channel
        self.data_format = data_format
        self.byte_order = byte_order
        self._compliance_a: float | None = None
        self._voltage_v: float | None = None
        self._settings: CaptureSettings | None = None
        self._measure_voltage = True
        self._armed = False
        self._aperture_s = 0.0

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits | None = None, **kw) -> KeysightB2900:
        """Open ``resource`` (VISA, e.g. ``TCPIP::host::5025::SOCKET``) and identify."""
        driver = super().open(resource, limits, **kw)
        try:
            driver.identify()
        except BaseException:
            driver.close()
            raise
        return driver

    def identify(self) -> InstrumentInfo:
        info = super().identify()
        if not info.matches(IDENTITY):
            raise InstrumentError(
                f"{info.vendor},{info.model} is not a Keysight B2900 SMU", context=self.resource
            )
        self.supply_check.use_model(info.model)
        return info

    @property
    def _c(self) -> int:
        return self.channel

    # ---- PowerSupply -----------------------------------------------------------------
    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        self.send_batch([f":SOUR{self._c}:FUNC:MODE VOLT", f":SOUR{self._c}:VOLT {voltage_v:.6g}"])
        self._voltage_v = voltage_v

    def set_current_limit(self, current_a: float) -> None:
        """The compliance current (``:SENS:CURR:PROT``), checked against the model's rating."""
        current_a = self.supply_check.current_limit(current_a)
        self.send_batch([f":SENS{self._c}:CURR:PROT {current_a:.6g}"])
        self._compliance_a = current_a

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._compliance_a is not None, enabled, f"{self.resource} output")
        self.send_batch([f":OUTP{self._c} {'ON' if enabled else 'OFF'}"])

    def output_enabled(self) -> bool:
        return self.transport.query(f":OUTP{self._c}?").strip() in ("1", "ON")

    # ---- TriggeredMeter --------------------------------------------------------------
    def configure_capture(self, request: CaptureRequest) -> CaptureSettings:
        """Set format, range, aperture = interval, TIMer trigger and the DIO arm; read back."""
        model = self.info.model if self.info else "B2901A"
        min_interval = _min_interval_s(model)
        if request.pretrigger_s:
            raise ConfigError("the B2900 has no pre-trigger samples", context="pretrigger_s")
        if not request.sample_interval_s >= min_interval:
            raise ConfigError(
                f"sample interval {request.sample_interval_s:g} s is below the {model} "
                f"minimum {min_interval:g} s",
                context="sample_interval_s",
            )
        n = round(request.duration_s / request.sample_interval_s)
        if not 1 <= n <= MAX_POINTS:
            raise ConfigError(
                f"{n} points do not fit the {MAX_POINTS}-point buffer; lengthen the interval",
                context="duration_s",
            )
        c = self._c
        current_range = pick_range(CURRENT_RANGES_A, request.current_range_a, "current_range_a")
        aperture = request.sample_interval_s * self.aperture_fraction
        functions = '"CURR","VOLT"' if request.measure_voltage else '"CURR"'
        commands = [
            f":FORM {self.data_format}",
            f":FORM:BORD {self.byte_order}",
            f":SENS{c}:FUNC {functions}",
            f":SENS{c}:CURR:RANG:AUTO OFF",
            f":SENS{c}:CURR:RANG {current_range:.6g}",
            f":SENS{c}:CURR:APER {max(MIN_APERTURE_S, aperture):.9g}",
            f":TRIG{c}:ACQ:SOUR TIM",
            f":TRIG{c}:ACQ:TIM {request.sample_interval_s:.9g}",
            f":TRIG{c}:ACQ:COUN {n}",
        ]
        sync = request.sync
        if sync is None:
            commands += [f":ARM{c}:ACQ:SOUR AINT", f":ARM{c}:ACQ:COUN 1"]
        else:
            if sync.mode != "hw_trigger_start":
                raise ConfigError(
                    f"the B2900 supports sync mode hw_trigger_start, not {sync.mode!r}",
                    context="sync.mode",
                )
            pin = _ext_pin(sync.line)
            polarity = "NEG" if sync.polarity == "falling" else "POS"
            commands += [
                f":SOUR:DIG:EXT{pin}:FUNC TINP",
                f":SOUR:DIG:EXT{pin}:POL {polarity}",
                f":ARM{c}:ACQ:SOUR EXT{pin}",
                f":ARM{c}:ACQ:COUN 1",
            ]
        self.send_batch(commands)
        aperture = float(self.transport.query(f":SENS{c}:CURR:APER?"))
        interval = float(self.transport.query(f":TRIG{c}:ACQ:TIM?"))
        points = int(float(self.transport.query(f":TRIG{c}:ACQ:COUN?")))
        accepted_range = float(self.transport.query(f":SENS{c}:CURR:RANG?"))
        self._aperture_s = aperture
        self._measure_voltage = request.measure_voltage
        self._settings = CaptureSettings(interval, points, 0, accepted_range)
        return self._settings

    def arm(self) -> None:
        if self._settings is None:
            raise ConfigError("configure_capture() before arm()", context=self.resource)
        self.send_batch([f":INIT:ACQ (@{self._c})"])
        self._armed = True

    def wait_complete(self, timeout_s: float) -> None:
        """Poll ``:IDLE:ACQ?`` (bounded) until the acquisition has finished."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeoutError(
                    f"acquisition not complete within {timeout_s:g} s (no trigger edge?)",
                    context=f"{self.resource} :IDLE{self._c}:ACQ?",
                )
            if self.transport.query(f":IDLE{self._c}:ACQ?", max(remaining, 0.1)).strip() == "1":
                return
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def _fetch_array(self, what: str, count: int) -> np.ndarray:
        return self.transport.query_block(
            f":FETC:ARR:{what}? (@{self._c})",
            FORMATS[self.data_format],
            big_endian=self.byte_order == "NORM",
            count=count,
        ).astype(np.float64)

    def fetch(self, timeout_s: float) -> Capture:
        settings = self._settings
        if settings is None or not self._armed:
            raise ConfigError("arm() before fetch()", context=self.resource)
        self.wait_complete(timeout_s)
        n = settings.n_points
        current = self._fetch_array("CURR", n)
        voltage = self._fetch_array("VOLT", n) if self._measure_voltage else None
        times = self._fetch_array("TIME", n)
        errors = self.read_errors()
        if errors:
            raise InstrumentError(f"errors after fetch: {'; '.join(errors)}", context=self.resource)
        self._armed = False
        if np.isnan(current).all():
            raise AcquisitionError(
                "no samples acquired (trigger never came)", context=self.resource
            )
        valid = times[~np.isnan(times)]
        steps = np.diff(valid)
        resolution = (
            4 * np.finfo(FORMATS[self.data_format]).eps * float(np.max(np.abs(valid), initial=0))
        )
        if steps.size and not np.allclose(
            steps, settings.sample_interval_s, rtol=1e-6, atol=resolution + 1e-12
        ):
            raise AcquisitionError(
                f"sample times do not step by {settings.sample_interval_s:g} s",
                context=self.resource,
            )
        limit = OVER_RANGE * (settings.current_range_a or CURRENT_RANGES_A[-1])
        if np.nanmax(np.abs(current)) >= limit * (1 - 1e-6):
            raise AcquisitionError(
                f"current reached the over-range limit of the {settings.current_range_a:g} A "
                "range; choose a larger range",
                context=self.resource,
            )
        exact_bins = math.isclose(self._aperture_s, settings.sample_interval_s, rel_tol=1e-9)
        info = self.info or InstrumentInfo("Keysight Technologies", "B2900")
        trace = Trace.from_arrays(
            current,
            voltage if voltage is not None else float(self._voltage_v or 0.0),
            1.0 / settings.sample_interval_s,
            sample_kind="bin" if exact_bins else "point",
            source=SourceInfo(info.model, info.serial_number, self.resource, f"CH{self._c}"),
            missing=nan_ranges(current),
        )
        return Capture(trace, settings, edge_positions=(0.0,))

    def abort(self) -> None:
        self.transport.write(f":ABOR:ACQ (@{self._c})")
        self._armed = False

    # ---- shutdown --------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Abort, output off, drain errors, read the output back; idempotent, never raises."""
        return self.run_shutdown_steps(
            [
                ("abort", self.abort),
                ("output off", lambda: self.transport.write(f":OUTP{self._c} OFF")),
                ("drain errors", self.log_errors),
                ("discard stale replies", self.transport.clear),
                (CONFIRM_STEP, confirm_output_off(self, self.resource)),  # :OUTP? -> 0
            ],
            output=("output off", CONFIRM_STEP),
        )


def _ext_pin(line: str) -> int:
    """``"EXT1"``, ``"DIO1"`` or ``"1"`` → 1 (rear D-sub pins 1..14)."""
    text = line.upper().removeprefix("EXT").removeprefix("DIO") or "1"
    if not text.isdigit() or not 1 <= int(text) <= 14:
        raise ConfigError(f"DIO line must be EXT1..EXT14, got {line!r}", context="sync.line")
    return int(text)
