"""Simulated Keithley 2450/2460/2461 SMU in SCPI mode, served over TCP
(docs/instruments/keithley-2400.md).

It sources the DUT rail (``:OUTP ON`` applies the set-point to the timeline), measures current
with the integrating ADC (``:SENS``, interval = NPLC / line frequency, the reading averaging its
interval) or, on the 2461, with the 1 MS/s digitizer (``:DIG``, sample rate quantised to
1 MHz / integer, aperture AUTO = 1/rate), stores readings in buffers with their times, and runs
the trigger model (:mod:`~energybench.sim.instruments.keithley.keithley_trigger`) against
the timeline's GPIO pins
wired to digital I/O lines. In compliance the readings stop at the current limit (the timeline's
load is not changed: the DUT would brown out). ``:TRAC:DATA?`` answers in ASCII or as ``#0``
blocks (REAL = float64, SREal = float32) in either byte order. The 2450/2460 cannot digitize.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.instruments.keithley.keithley_buffers import (
    DEFAULT_BUFFERS,
    BufferCommands,
    unquote,
)
from energybench.sim.instruments.keithley.keithley_common import AdcModel, SimBuffer
from energybench.sim.instruments.keithley.keithley_trigger import INF, Block, TriggerModel
from energybench.sim.physics.measurement import MeasurementModel, pick_range
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.scpi_server import (
    ILLEGAL_PARAMETER,
    SETTINGS_CONFLICT,
    Request,
    ScpiError,
    ScpiInstrument,
    ScpiServer,
)

DEFAULT_BUFFER_SIZE = 100_000

LINE_FREQUENCY_HZ = 60.0
DIGITIZER_CLOCK_HZ = 1_000_000.0


@dataclass(frozen=True)
class ModelSpec:
    max_voltage_v: float
    max_current_a: float
    current_ranges_a: tuple[float, ...]
    digitizer: bool
    max_buffer_points: int  # readings, all STANdard buffers together


_RANGES_7A = (1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 4.0, 5.0, 7.0)
MODELS = {
    # SPEC-2450 Rev A p.6: "Memory buffer > 250,000 readings"
    "2450": ModelSpec(210.0, 1.05, (10e-9, 100e-9, *_RANGES_7A[:7]), False, 250_000),
    "2460": ModelSpec(105.0, 7.35, _RANGES_7A, False, 6_875_000),  # the 2461's [U]
    # 2461 Reference Manual 2461-901-01 Rev A p.3-10: 6,875,000 STANdard readings
    "2461": ModelSpec(105.0, 7.35, (*_RANGES_7A, 10.0), True, 6_875_000),
}
DIGITIZE_BLOCKS = ("DIGitize", "MDIGitize")


class SimKeithley2461(BufferCommands, ScpiInstrument):
    """A 2450/2460/2461 over the timeline; ``model`` picks the variant."""

    driver = "keithley_2461"  # the default model's; an instance names its own model's

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        seed: int = 0,
        model: str = "2461",
        voltage_measurement: MeasurementModel | None = None,
        digital_lines: dict[int, str] | None = None,
        trigger_latency_s: float = 0.0,
        serial_number: str = "04455555",
        firmware: str = "1.7.0b",
        digitize_block: str = "DIGitize",
        max_buffer_points: int | None = None,
        answers_points_max: bool = False,
    ) -> None:
        super().__init__()
        if model not in MODELS:
            raise ConfigError(
                f"model must be one of {sorted(MODELS)}, got {model!r}", context="model"
            )
        if digitize_block not in DIGITIZE_BLOCKS:
            raise ConfigError(
                f"must be one of {DIGITIZE_BLOCKS}, got {digitize_block!r}",
                context="digitize_block",
            )
        # Firmware differences: the digitize trigger block's name (Rev A manual: DIGitize;
        # newer firmware: MDIGitize, the other one is then an undefined header), the buffer
        # capacity and whether :TRAC:POIN? MAX is answered (the 24xx manuals document only
        # :TRAC:POIN? "<buffer>", so by default it is not).
        self.digitize_block = digitize_block
        self.answers_points_max = answers_points_max
        self.timeline = timeline
        self.model = model
        self.spec = MODELS[model]
        self.max_buffer_points = max_buffer_points or self.spec.max_buffer_points
        self.identity = f"KEITHLEY INSTRUMENTS,MODEL {model},{serial_number},{firmware}"
        self.driver = f"keithley_{model}"
        self.adc = AdcModel.build(measurement, voltage_measurement, seed)
        self.lines = dict(digital_lines or {1: "timestamp"})
        self.trigger_latency_s = float(trigger_latency_s)
        self.trigger = TriggerModel(self)
        self.server = ScpiServer(self)
        self._register()
        self.reset()

    # ---- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.trigger.clear()
        self.level_v = 0.0
        self.ilim_a = 105e-6  # the *RST current limit [U]
        self.readback = True
        self.output_on = False
        self._apply_output()
        self.function = "measure"  # or "digitize" (mutually exclusive)
        self.sense_range_a = self.spec.current_ranges_a[-1]
        self.sense_autorange = True
        self.nplc = 1.0
        self.dig_range_a = self.spec.current_ranges_a[-1]
        self.dig_rate_hz = 100_000.0
        self.dig_aperture_s: float | None = None  # None: AUTO
        self.dig_count = 1
        self.data_format = "ASC"
        self.big_endian = False  # SWAP is the default
        self.ascii_precision = 0
        self.line_modes = {n: ("DIG", "IN") for n in range(1, 7)}
        self.line_edges_kind = {n: "FALL" for n in range(1, 7)}
        self.buffers = {name: SimBuffer(name, DEFAULT_BUFFER_SIZE) for name in DEFAULT_BUFFERS}

    def _apply_output(self) -> None:
        level = self.level_v if self.output_on else None
        self.timeline.set_supply(self.timeline.now_s, voltage_v=level, output_on=self.output_on)

    def buffer(self, name: str) -> SimBuffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise ScpiError(ILLEGAL_PARAMETER, f"Buffer {name} does not exist") from None

    # ---- what the trigger model asks ---------------------------------------------------
    def line_is_trigger_input(self, line: int) -> bool:
        return self.line_modes.get(line) == ("TRIG", "IN") and line in self.lines

    def line_edges(self, line: int, t0_s: float, t1_s: float) -> np.ndarray:
        kind = {"FALL": "falling", "RIS": "rising", "EITH": "both"}[self.line_edges_kind[line]]
        return self.timeline.edges(self.lines[line], kind, t0_s, t1_s)

    def check_acquisition_block(self, block: Block) -> None:
        if block.kind == "DIGITIZE" and self.function != "digitize":
            raise ScpiError(SETTINGS_CONFLICT, "Digitize block needs a digitize function")
        if block.kind == "MEASURE" and self.function != "measure":
            raise ScpiError(SETTINGS_CONFLICT, "Measure block needs a measure function")
        if block.kind in ("DIGITIZE", "MEASURE", "BUFFER_CLEAR"):
            self.buffer(block.buffer)

    def acquisition_rate_hz(self, block: Block) -> float:
        if block.kind == "DIGITIZE":
            return self.dig_rate_hz
        return LINE_FREQUENCY_HZ / self.nplc

    def acquire(self, block: Block, t0_s: float, rate_hz: float, n: int) -> None:
        """Render ``n`` readings from ``t0_s`` into the block's buffer."""
        if block.kind == "DIGITIZE":
            aperture = self.dig_aperture_s or 1.0 / rate_hz
            current_range = self.dig_range_a
        else:
            aperture = self.nplc / LINE_FREQUENCY_HZ
            current_range = self.sense_range_a
        current, source, times = self.adc.render(
            self.timeline,
            t0_s,
            rate_hz,
            n,
            averaging=aperture * rate_hz >= 1 - 1e-9,
            current_range_a=current_range,
            voltage_readback=self.readback,
            programmed_voltage_v=self.level_v if self.output_on else 0.0,
        )
        if self.output_on:  # in compliance the SMU delivers no more than its current limit
            current = np.clip(current, -self.ilim_a, self.ilim_a)
        self.buffer(block.buffer).append(current, source, times)

    # ---- command table ---------------------------------------------------------------------
    def _register(self) -> None:
        c = self.command
        c("SYSTem:LFRequency?", lambda r: f"{LINE_FREQUENCY_HZ:g}")
        c("SOURce:FUNCtion[:MODE]", self._source_function)
        c("SOURce:FUNCtion[:MODE]?", lambda r: "VOLT")
        c("SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._source_level)
        c("SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]?", lambda r: f"{self.level_v:.6e}")
        c("SOURce:VOLTage:ILIMit[:LEVel]", self._ilim)
        c("SOURce:VOLTage:ILIMit[:LEVel]?", lambda r: f"{self.ilim_a:.6e}")
        c("SOURce:VOLTage:READ:BACK", self._readback)
        c("SOURce:VOLTage:READ:BACK?", lambda r: "1" if self.readback else "0")
        c("SOURce:VOLTage:RANGe", lambda r: r.float_arg(0, -self.spec.max_voltage_v, 1e9))
        c("SOURce:VOLTage:RANGe:AUTO", lambda r: r.bool_arg())
        c("OUTPut[:STATe]", self._output)
        c("OUTPut[:STATe]?", lambda r: "1" if self.output_on else "0")
        c("OUTPut:CURRent:SMODe", lambda r: None)
        c("OUTPut:VOLTage:SMODe", lambda r: None)
        c("SENSe:FUNCtion[:ON]", self._sense_function)
        c("SENSe:CURRent:RANGe[:UPPer]", self._sense_range)
        c("SENSe:CURRent:RANGe[:UPPer]?", lambda r: f"{self.sense_range_a:.6e}")
        c("SENSe:CURRent:RANGe:AUTO", self._sense_auto)
        c("SENSe:CURRent:RANGe:AUTO?", lambda r: "1" if self.sense_autorange else "0")
        c("SENSe:CURRent:NPLCycles", self._nplc)
        c("SENSe:CURRent:NPLCycles?", lambda r: f"{self.nplc:.6e}")
        c("SENSe:CURRent:AZERo[:STATe]", lambda r: r.bool_arg())
        if self.spec.digitizer:
            c("DIGitize:FUNCtion[:ON]", self._dig_function)
            c("DIGitize:CURRent:RANGe[:UPPer]", self._dig_range)
            c("DIGitize:CURRent:RANGe[:UPPer]?", lambda r: f"{self.dig_range_a:.6e}")
            c("DIGitize:CURRent:SRATe", self._dig_rate)
            c("DIGitize:CURRent:SRATe?", lambda r: f"{self.dig_rate_hz:.10e}")
            c("DIGitize:CURRent:APERture", self._dig_aperture)
            c("DIGitize:CURRent:APERture?", lambda r: f"{self._aperture_s():.10e}")
            c("DIGitize:COUNt", lambda r: setattr(self, "dig_count", int(r.float_arg(0, 1, 1e6))))
            c("DIGitize:COUNt?", lambda r: str(self.dig_count))
            c(f"TRIGger:BLOCk:{self.digitize_block}", lambda r: self._acq_block(r, "DIGITIZE"))
        self.register_buffer_commands()
        c("DIGital:LINE:MODE", self._line_mode)
        c("DIGital:LINE:MODE?", lambda r: ",".join(self.line_modes[self._line(r)]))
        c("DIGital:LINE:STATe?", self._line_state)
        c("TRIGger:DIGital:IN:EDGE", self._edge)
        c("TRIGger:DIGital:IN:EDGE?", lambda r: self.line_edges_kind[self._line(r)])
        c("TRIGger:DIGital:IN:CLEar", lambda r: self.trigger.clear_detector(self._line(r)))
        c("TRIGger:LOAD", self._load)
        c("TRIGger:BLOCk:BUFFer:CLEar", self._buffer_clear_block)
        c("TRIGger:BLOCk:WAIT", self._wait_block)
        c("TRIGger:BLOCk:MEASure", lambda r: self._acq_block(r, "MEASURE"))
        c("TRIGger:BLOCk:DELay:CONStant", self._delay_block)
        c("TRIGger:BLOCk:NOTify", lambda r: self._define(Block(self._block_no(r), "NOTIFY")))
        c("TRIGger:BLOCk:BRANch:COUNter", self._branch_block)
        c("TRIGger:BLOCk:LIST?", lambda r: self.trigger.listing())
        c("TRIGger:STATe?", lambda r: self.trigger.state_text())
        c("INITiate[:IMMediate]", lambda r: self.trigger.initiate())
        c("ABORt", lambda r: self.trigger.abort())

    # ---- source -----------------------------------------------------------------------------
    def _source_function(self, r: Request) -> None:
        if r.arg().upper() not in ("VOLT", "VOLTAGE"):
            raise ScpiError(ILLEGAL_PARAMETER, "Only voltage sourcing is simulated")

    def _source_level(self, r: Request) -> None:
        self.level_v = r.float_arg(0, -self.spec.max_voltage_v, self.spec.max_voltage_v)
        if self.output_on:
            self.timeline.set_supply(self.timeline.now_s, voltage_v=self.level_v)

    def _ilim(self, r: Request) -> None:
        self.ilim_a = r.float_arg(0, 1e-9, self.spec.max_current_a)

    def _readback(self, r: Request) -> None:
        self.readback = r.bool_arg()

    def _output(self, r: Request) -> None:
        self.output_on = r.bool_arg()
        self._apply_output()

    # ---- measure / digitize ----------------------------------------------------------------
    def _sense_function(self, r: Request) -> None:
        if unquote(r.arg()).upper() not in ("CURR", "CURR:DC", "CURRENT"):
            raise ScpiError(ILLEGAL_PARAMETER, "Only current measurement is simulated")
        self.function = "measure"

    def _sense_range(self, r: Request) -> None:
        value = r.float_arg(0, 0.0, self.spec.current_ranges_a[-1])
        self.sense_range_a = pick_range(self.spec.current_ranges_a, value)
        self.sense_autorange = False

    def _sense_auto(self, r: Request) -> None:
        self.sense_autorange = r.bool_arg()

    def _nplc(self, r: Request) -> None:
        self.nplc = round(r.float_arg(0, 0.01, 10.0), 4)

    def _dig_function(self, r: Request) -> None:
        if unquote(r.arg()).upper() not in ("CURR", "CURRENT"):
            raise ScpiError(ILLEGAL_PARAMETER, "Only current digitizing is simulated")
        self.function = "digitize"

    def _dig_range(self, r: Request) -> None:
        ranges = self.spec.current_ranges_a[1:]  # the digitizer starts at 10 uA [U]
        value = r.float_arg(0, 0.0, ranges[-1])
        self.dig_range_a = pick_range(ranges, value)

    def _dig_rate(self, r: Request) -> None:
        requested = r.float_arg(0, 1_000.0, 1_000_000.0)
        self.dig_rate_hz = DIGITIZER_CLOCK_HZ / round(DIGITIZER_CLOCK_HZ / requested)
        if self.dig_aperture_s is not None and self.dig_aperture_s > 1 / self.dig_rate_hz:
            self.dig_aperture_s = None

    def _aperture_s(self) -> float:
        return self.dig_aperture_s if self.dig_aperture_s is not None else 1.0 / self.dig_rate_hz

    def _dig_aperture(self, r: Request) -> None:
        if r.arg().upper() == "AUTO":
            self.dig_aperture_s = None
            return
        value = round(r.float_arg(0, 1e-6, 1e-3), 6)
        if value > 1.0 / self.dig_rate_hz + 1e-12:
            raise ScpiError(SETTINGS_CONFLICT, "Aperture exceeds the sample interval")
        self.dig_aperture_s = value

    # ---- digital I/O and trigger model -------------------------------------------------------
    def _line(self, r: Request) -> int:
        line = r.suffix(1)  # DIG:LINE<n>:... and TRIG:DIG<n>:...
        if not 1 <= line <= 6:
            raise ScpiError(ILLEGAL_PARAMETER, "Digital line must be 1..6")
        return line

    def _line_mode(self, r: Request) -> None:
        kind, direction = r.arg(0).upper()[:4], r.arg(1).upper()[:4]
        kinds = {"DIG": "DIG", "DIGI": "DIG", "TRIG": "TRIG", "SYNC": "SYNC"}
        dirs = {"IN": "IN", "INP": "IN", "INPU": "IN", "OUT": "OUT", "OUTP": "OUT", "OPEN": "OPEN"}
        if kind not in kinds or direction not in dirs:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal line mode")
        self.line_modes[self._line(r)] = (kinds[kind], dirs[direction])

    def _line_state(self, r: Request) -> str:
        line = self._line(r)
        if line not in self.lines:
            return "1"  # an unconnected input floats high
        return "1" if self.timeline.pin_at(self.lines[line], self.timeline.now_s) else "0"

    def _edge(self, r: Request) -> None:
        value = r.arg().upper()[:4]
        mapping = {"FALL": "FALL", "RIS": "RIS", "RISI": "RIS", "EITH": "EITH"}
        if value not in mapping:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal edge")
        self.line_edges_kind[self._line(r)] = mapping[value]

    def _load(self, r: Request) -> None:
        name = unquote(r.arg(0))
        if name.upper() != "EMPTY":
            raise ScpiError(ILLEGAL_PARAMETER, f"Template {name} is not simulated (use Empty)")
        self.trigger.clear()

    def _define(self, block: Block) -> None:
        self.trigger.define(block)

    def _block_no(self, r: Request) -> int:
        return int(r.float_arg(0, 1, 255))

    def _buffer_clear_block(self, r: Request) -> None:
        self._define(Block(self._block_no(r), "BUFFER_CLEAR", buffer=self._buf_arg(r, 1)))

    def _wait_block(self, r: Request) -> None:
        event = r.arg(1).upper()
        line = event.removeprefix("DIGIO").removeprefix("DIG")
        if not line.isdigit() or not 1 <= int(line) <= 6:
            raise ScpiError(ILLEGAL_PARAMETER, f"Event {event} is not simulated (use DIG<n>)")
        clear = r.args[2].upper()[:3] if len(r.args) > 2 else "ENT"
        if clear not in ("ENT", "NEV"):
            raise ScpiError(ILLEGAL_PARAMETER, "Clear must be ENTer or NEVer")
        block = Block(self._block_no(r), "WAIT", line=int(line), clear_on_entry=clear == "ENT")
        self._define(block)

    def _acq_block(self, r: Request, kind: str) -> None:
        count_text = r.args[2].upper() if len(r.args) > 2 else "1"
        if count_text.startswith("INF"):
            count = INF
        elif count_text == "AUTO":
            count = self.dig_count
        else:
            count = int(r.float_arg(2, 0, self.max_buffer_points))
        self._define(Block(self._block_no(r), kind, buffer=self._buf_arg(r, 1), count=count))

    def _delay_block(self, r: Request) -> None:
        self._define(Block(self._block_no(r), "DELAY", delay_s=r.float_arg(1, 0.0, 1e4)))

    def _branch_block(self, r: Request) -> None:
        count, target = int(r.float_arg(1, 1, 1e9)), int(r.float_arg(2, 1, 255))
        self._define(Block(self._block_no(r), "BRANCH_COUNTER", count=count, target=target))
