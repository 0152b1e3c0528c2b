"""Simulated Keysight B2900 SMU (B2901A/02A/11A/12A) over SCPI-on-TCP.

It sources the DUT rail (``:OUTP ON`` applies the set-point to the timeline), and measures with the
timed acquisition of docs/instruments/keysight-b2900.md: a fixed or auto current range that
saturates at 1.05 × range, an aperture quantised to 1 µs, a TIMer trigger quantised to 1 µs with the
model's minimum interval, a count up to the 100 000-point buffer, and an ARM layer that waits for
the timestamp pin on a rear DIO pin (``:SOUR:DIG:EXT<n>:FUNC TINP``, ``:POL NEG|POS``,
``:ARM:ACQ:SOUR EXT<n>``). ``:FETC:ARR:CURR?|VOLT?|TIME?`` block (bounded) until the acquisition is
complete; data not acquired come back as NaN (binary) / +9.91E37 (ASCII).

Virtual time: once the arm edge is in the timeline's past, a fetch advances the timeline to the
end of the acquisition (acquisition takes time; the DUT is idle meanwhile).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.physics.measurement import MeasurementModel, pick_range
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.scpi_server import (
    ILLEGAL_PARAMETER,
    SETTINGS_CONFLICT,
    Request,
    ScpiError,
    ScpiInstrument,
    ScpiServer,
    binary_block,
)

CURRENT_RANGES_A = (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 1.5, 3.0)
VOLTAGE_RANGES_V = (0.2, 2.0, 20.0, 200.0)
MODELS = {  # model: (channels, minimum trigger interval s, has the 10 nA range)
    "B2901A": (1, 20e-6, False),
    "B2902A": (2, 20e-6, False),
    "B2911A": (1, 10e-6, True),
    "B2912A": (2, 10e-6, True),
}
MAX_POINTS = 100_000
APERTURE_MIN_S, APERTURE_MAX_S, APERTURE_STEP_S = 8e-6, 2.0, 1e-6
TIMER_STEP_S, TIMER_MAX_S = 1e-6, 1e5
OVER_RANGE = 1.05
ASCII_MISSING = 9.91e37
LINE_FREQUENCY_HZ = 50.0


def _quantise(value: float, step: float) -> float:
    return round(round(value / step) * step, 12)


@dataclass
class _Channel:
    func_mode: str = "VOLT"
    voltage_v: float = 0.0
    compliance_a: float = 100e-6
    current_range_a: float = 100e-6
    current_range_auto: bool = True
    aperture_s: float = 0.1 / LINE_FREQUENCY_HZ
    output_on: bool = False
    sense_functions: tuple[str, ...] = ("VOLT", "CURR")
    trig_source: str = "AINT"
    trig_timer_s: float = 1e-3
    trig_count: int = 1
    arm_source: str = "AINT"
    arm_count: int = 1
    # acquisition state
    t_init: float | None = None
    current: np.ndarray | None = None
    voltage: np.ndarray | None = None
    times: np.ndarray | None = None
    tripped: bool = False


@dataclass
class _Dio:
    function: dict[int, str] = field(default_factory=dict)
    polarity: dict[int, str] = field(default_factory=dict)


class SimKeysightB2900(ScpiInstrument):
    """The instrument; :meth:`start` serves it at :attr:`resource` for the ``keysight_b2900``
    driver. ``measurement`` distorts current, ``voltage_measurement`` voltage (None: ideal)."""

    driver = "keysight_b2900"

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        seed: int = 0,
        model: str = "B2901A",
        voltage_measurement: MeasurementModel | None = None,
        timestamp_ext: int = 1,
        trigger_latency_s: float = 0.0,
        fetch_block_s: float = 1.0,
        rail_channel: int = 1,
    ) -> None:
        if model not in MODELS:
            raise ConfigError(
                f"unknown B2900 model {model!r}; known: {', '.join(MODELS)}", context="model"
            )
        super().__init__()
        self.timeline = timeline
        self.model = model
        self.n_channels, self.min_interval_s, small = MODELS[model]
        self.current_ranges_a = ((10e-9,) if small else ()) + CURRENT_RANGES_A
        self.identity = f"Keysight Technologies,{model},MY5114{seed % 10000:04d},3.4.2011.5100"
        self.measurement = measurement or MeasurementModel.ideal()
        self.voltage_measurement = voltage_measurement or MeasurementModel.ideal()
        self.timestamp_ext = timestamp_ext
        self.trigger_latency_s = trigger_latency_s
        self.fetch_block_s = fetch_block_s
        self.rail_channel = rail_channel
        self.server = ScpiServer(self)
        self.reset()
        self._register()

    def reset(self) -> None:
        self.channels = {c: _Channel() for c in range(1, 3)}
        self.dio = _Dio()
        self.format = "ASC"
        self.big_endian = True
        self._apply_output(self.rail_channel)

    # ---- command table ---------------------------------------------------------------
    def _register(self) -> None:
        c, ch = self.command, self._ch
        c("[SOURce]:FUNCtion:MODE", self._set_mode)
        c("[SOURce]:FUNCtion:MODE?", lambda r: ch(r).func_mode)
        c("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_voltage)
        c(
            "[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?",
            lambda r: _num(ch(r).voltage_v),
        )
        c("[SOURce]:VOLTage:RANGe[:AUTO]", lambda r: None)
        c("[SOURce]:DIGital:EXTernal:FUNCtion", self._set_dio_function)
        c(
            "[SOURce]:DIGital:EXTernal:FUNCtion?",
            lambda r: self.dio.function.get(self._ext(r), "DIO"),
        )
        c("[SOURce]:DIGital:EXTernal:POLarity", self._set_dio_polarity)
        c(
            "[SOURce]:DIGital:EXTernal:POLarity?",
            lambda r: self.dio.polarity.get(self._ext(r), "NEG"),
        )
        c("SENSe:CURRent[:DC]:PROTection[:LEVel][:BOTH]", self._set_compliance)
        c("SENSe:CURRent[:DC]:PROTection[:LEVel][:BOTH]?", lambda r: _num(ch(r).compliance_a))
        c("SENSe:CURRent[:DC]:PROTection:TRIPped?", lambda r: "1" if ch(r).tripped else "0")
        c("SENSe:CURRent[:DC]:RANGe:AUTO", self._set_range_auto)
        c(
            "SENSe:CURRent[:DC]:RANGe:AUTO?",
            lambda r: "1" if ch(r).current_range_auto else "0",
        )
        c("SENSe:CURRent[:DC]:RANGe[:UPPer]", self._set_range)
        c("SENSe:CURRent[:DC]:RANGe[:UPPer]?", lambda r: _num(ch(r).current_range_a))
        for quantity in ("CURRent[:DC]", "VOLTage[:DC]"):
            c(f"SENSe:{quantity}:APERture", self._set_aperture)
            c(f"SENSe:{quantity}:APERture?", lambda r: _num(ch(r).aperture_s))
            c(f"SENSe:{quantity}:NPLCycles", self._set_nplc)
            c(
                f"SENSe:{quantity}:NPLCycles?",
                lambda r: _num(ch(r).aperture_s * LINE_FREQUENCY_HZ),
            )
        c("SENSe:FUNCtion[:ON]", self._set_functions)
        c("SENSe:FUNCtion[:ON]?", lambda r: ",".join(f'"{f}"' for f in ch(r).sense_functions))
        c("OUTPut[:STATe]", self._set_output)
        c("OUTPut[:STATe]?", lambda r: "1" if ch(r).output_on else "0")
        c("TRIGger:ACQuire:SOURce[:SIGNal]", lambda r: self._set_source(r, "trig_source"))
        c("TRIGger:ACQuire:SOURce[:SIGNal]?", lambda r: ch(r).trig_source)
        c("TRIGger:ACQuire:TIMer", self._set_timer)
        c("TRIGger:ACQuire:TIMer?", lambda r: _num(ch(r).trig_timer_s))
        c("TRIGger:ACQuire:COUNt", lambda r: self._set_count(r, "trig_count"))
        c("TRIGger:ACQuire:COUNt?", lambda r: str(ch(r).trig_count))
        c("ARM:ACQuire:SOURce[:SIGNal]", lambda r: self._set_source(r, "arm_source"))
        c("ARM:ACQuire:SOURce[:SIGNal]?", lambda r: ch(r).arm_source)
        c("ARM:ACQuire:COUNt", lambda r: self._set_count(r, "arm_count"))
        c("ARM:ACQuire:COUNt?", lambda r: str(ch(r).arm_count))
        c("INITiate[:IMMediate]:ACQuire", self._initiate)
        c("ABORt:ACQuire", self._abort)
        c("IDLE:ACQuire?", self._idle)
        c("FORMat[:DATA]", self._set_format)
        c("FORMat[:DATA]?", lambda r: self.format.replace("REAL", "REAL,").rstrip(","))
        self.register_byte_order()
        c("FETCh:ARRay:CURRent?", lambda r: self._fetch(r, "current"))
        c("FETCh:ARRay:VOLTage?", lambda r: self._fetch(r, "voltage"))
        c("FETCh:ARRay:TIME?", lambda r: self._fetch(r, "times"))
        c("SYSTem:LFRequency?", lambda r: _num(LINE_FREQUENCY_HZ))

    # ---- helpers ---------------------------------------------------------------------
    def _channel_number(self, request: Request) -> int:
        listed = request.channels()
        channel = listed[0] if listed else request.suffix(0)
        if not 1 <= channel <= self.n_channels:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value; no such channel")
        return channel

    def _ch(self, request: Request) -> _Channel:
        return self.channels[self._channel_number(request)]

    def _apply_output(self, channel: int) -> None:
        if channel != self.rail_channel:
            return
        ch = self.channels[channel]
        self.timeline.set_supply(
            self.timeline.now_s,
            voltage_v=ch.voltage_v if ch.output_on else 0.0,
            output_on=ch.output_on,
        )

    # ---- source ----------------------------------------------------------------------
    def _set_mode(self, r: Request) -> None:
        mode = r.arg().upper()
        if mode not in ("VOLT", "VOLTAGE", "CURR", "CURRENT"):
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
        if mode.startswith("CURR"):
            raise ScpiError(SETTINGS_CONFLICT, "Settings conflict; simulator sources voltage only")
        self._ch(r).func_mode = "VOLT"

    def _set_voltage(self, r: Request) -> None:
        ch = self._ch(r)
        ch.voltage_v = r.float_arg(0, -210.0, 210.0)
        if ch.output_on:
            self._apply_output(self._channel_number(r))

    def _set_compliance(self, r: Request) -> None:
        self._ch(r).compliance_a = r.float_arg(0, 1e-9, 3.03)

    def _set_output(self, r: Request) -> None:
        ch = self._ch(r)
        ch.output_on = r.bool_arg()
        self._apply_output(self._channel_number(r))

    def _set_dio_function(self, r: Request) -> None:
        function = r.arg().upper()
        if function not in ("DIO", "DINP", "TOUT", "TINP", "HVOL"):
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
        self.dio.function[self._ext(r)] = function

    def _set_dio_polarity(self, r: Request) -> None:
        polarity = r.arg().upper()[:3]
        if polarity not in ("NEG", "POS"):
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
        self.dio.polarity[self._ext(r)] = polarity

    @staticmethod
    def _ext(r: Request) -> int:
        pin = r.suffix(-2) if len(r.suffixes) >= 2 else 1
        if not 1 <= pin <= 14:
            raise ScpiError(-114, "Header suffix out of range")
        return pin

    # ---- measurement -----------------------------------------------------------------
    def _set_range_auto(self, r: Request) -> None:
        self._ch(r).current_range_auto = r.bool_arg()

    def _set_range(self, r: Request) -> None:
        value = r.float_arg(0, 0.0, max(self.current_ranges_a))
        ch = self._ch(r)
        ch.current_range_a = pick_range(self.current_ranges_a, value)
        ch.current_range_auto = False

    def _set_aperture(self, r: Request) -> None:
        value = r.float_arg(0, APERTURE_MIN_S, APERTURE_MAX_S)
        self._ch(r).aperture_s = max(APERTURE_MIN_S, _quantise(value, APERTURE_STEP_S))

    def _set_nplc(self, r: Request) -> None:
        plc = r.float_arg(0, 4e-4, 100.0)
        aperture = min(APERTURE_MAX_S, max(APERTURE_MIN_S, plc / LINE_FREQUENCY_HZ))
        self._ch(r).aperture_s = max(APERTURE_MIN_S, _quantise(aperture, APERTURE_STEP_S))

    def _set_functions(self, r: Request) -> None:
        names = tuple(a.strip('"').upper()[:4] for a in r.args if a.strip('"'))
        if not names or any(n not in ("CURR", "VOLT", "RES") for n in names):
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
        self._ch(r).sense_functions = names

    def _set_source(self, r: Request, attribute: str) -> None:
        source = r.arg().upper()
        allowed = {"AINT", "BUS", "TIM", "TIMER", "INT1", "INT2", "LAN"}
        allowed |= {f"EXT{n}" for n in range(1, 15)}
        if source not in allowed:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
        setattr(self._ch(r), attribute, "TIM" if source == "TIMER" else source)

    def _set_timer(self, r: Request) -> None:
        value = r.float_arg(0, self.min_interval_s, TIMER_MAX_S)
        self._ch(r).trig_timer_s = max(self.min_interval_s, _quantise(value, TIMER_STEP_S))

    def _set_count(self, r: Request, attribute: str) -> None:
        value = r.float_arg(0, 1, MAX_POINTS)
        setattr(self._ch(r), attribute, int(value))

    def _set_format(self, r: Request) -> None:
        words = [a.upper() for a in r.args]
        if words in (["ASC"], ["ASCII"]):
            self.format = "ASC"
        elif words in (["REAL", "32"], ["REAL"]):
            self.format = "REAL32"
        elif words == ["REAL", "64"]:
            self.format = "REAL64"
        else:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")

    # ---- acquisition -----------------------------------------------------------------
    def _targets(self, r: Request) -> list[_Channel]:
        listed = r.channels() or [r.suffix(0)]
        for c in listed:
            if not 1 <= c <= self.n_channels:
                raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value; no such channel")
        return [self.channels[c] for c in listed]

    def _initiate(self, r: Request) -> None:
        for ch in self._targets(r):
            if ch.arm_source.startswith("EXT"):
                pin = int(ch.arm_source[3:])
                if self.dio.function.get(pin) != "TINP":
                    raise ScpiError(SETTINGS_CONFLICT, f"Settings conflict; EXT{pin} is not TINP")
            if ch.trig_source == "TIM" and ch.aperture_s > ch.trig_timer_s + 1e-12:
                raise ScpiError(SETTINGS_CONFLICT, "Settings conflict; aperture > trigger timer")
            ch.t_init = self.timeline.now_s
            ch.current = ch.voltage = ch.times = None
            ch.tripped = False

    def _abort(self, r: Request) -> None:
        for ch in self._targets(r):
            ch.t_init = None

    def _idle(self, r: Request) -> str:
        ch = self._ch(r)
        return "1" if ch.t_init is None or self._resolve(ch, 0.05) else "0"

    def _arm_time(self, ch: _Channel) -> float | None:
        """When the acquisition armed; None while waiting (or once ``:ABOR`` has cleared it)."""
        if ch.t_init is None:  # aborted from another connection while _resolve waited
            return None
        source = ch.arm_source
        if not source.startswith("EXT"):
            return ch.t_init
        pin = int(source[3:])
        if pin != self.timestamp_ext:
            return None  # nothing is wired to that pin
        polarity = "falling" if self.dio.polarity.get(pin, "NEG") == "NEG" else "rising"
        edges = self.timeline.edges("timestamp", polarity, ch.t_init, self.timeline.now_s)
        return float(edges[0]) + self.trigger_latency_s if edges.size else None

    def _resolve(self, ch: _Channel, block_s: float) -> bool:
        """Complete the acquisition if its arm event has happened (waits up to block_s)."""
        if ch.current is not None:
            return True
        if ch.t_init is None:
            return False
        deadline = time.monotonic() + block_s
        while (t_arm := self._arm_time(ch)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.timeline.wait_until(self.timeline.now_s + 1e-12, min(remaining, 0.05))
        n = ch.trig_count * ch.arm_count
        interval = ch.trig_timer_s if ch.trig_source == "TIM" else ch.aperture_s
        starts = t_arm + np.arange(n) * interval
        # acquisition takes time, the DUT idle meanwhile (realtime pace: until the wall clock)
        end_s = float(starts[-1] + ch.aperture_s)
        if not self.timeline.idle_until(end_s, deadline - time.monotonic()):
            return False
        true_i, true_v = self.timeline.interval_averages(starts, ch.aperture_s)
        ch.tripped = bool(np.any(np.abs(true_i) > ch.compliance_a))
        true_i = np.clip(true_i, -ch.compliance_a, ch.compliance_a)
        rng = ch.current_range_a
        if ch.current_range_auto:
            peak = float(np.max(np.abs(true_i))) if n else 0.0
            rng = pick_range(self.current_ranges_a, peak)
        limit = OVER_RANGE * rng
        ch.current = np.clip(self.measurement.apply(true_i), -limit, limit)
        vrange = next((x for x in VOLTAGE_RANGES_V if abs(ch.voltage_v) <= x), 200.0)
        vlimit = OVER_RANGE * vrange
        ch.voltage = np.clip(self.voltage_measurement.apply(true_v), -vlimit, vlimit)
        ch.times = starts - t_arm
        return True

    def _fetch(self, r: Request, what: str) -> bytes:
        ch = self._ch(r)
        if ch.t_init is None and ch.current is None:
            raise ScpiError(-230, "Data corrupt or stale; no acquisition")
        if self._resolve(ch, self.fetch_block_s):
            values = getattr(ch, what)
        else:
            values = np.full(ch.trig_count * ch.arm_count, np.nan)
        if self.format == "ASC":
            text = ",".join(
                f"{ASCII_MISSING:+.6E}" if math.isnan(v) else f"{v:+.9E}" for v in values.tolist()
            )
            return text.encode()
        dtype = "f4" if self.format == "REAL32" else "f8"
        return binary_block(values, dtype, big_endian=self.big_endian)


def _num(value: float) -> str:
    return f"{value:+.9E}"
