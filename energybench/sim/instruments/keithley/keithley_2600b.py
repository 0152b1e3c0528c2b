"""Simulated Keithley 2600B SMU speaking TSP over TCP (docs/instruments/keithley-2600b.md).

A small interpreter for exactly the statement forms a TSP driver sends, one per line:
``path = value`` assignments, ``print(expr, ...)`` queries (tab-separated, numbers with six
significant digits as ``format.asciiprecision = 6`` prints), ``printbuffer(first, last, buf...)``
(ASCII, or ``#0`` blocks in REAL32/REAL64 and either byte order), and calls such as
``smua.reset()``, ``errorqueue.clear()``, ``smua.trigger.initiate()``. Anything else pushes a
TSP syntax or runtime error onto the error queue, as the instrument does.

The trigger model is the arm-on-digital-I/O pattern: ``smua.trigger.arm.stimulus =
digio.trigger[N].EVENT_ID`` arms on the line's edge as its mode detects it (``TRIG_RISING`` sees
none while ``digio.writebit`` holds the line low), then ``smua.trigger.count`` readings are taken
back to back at NPLC / line frequency (at most 20,000/s) into the buffers given to
``smua.trigger.measure.iv``/``.i``, timestamps relative to the first. A buffer's ``capacity``
follows what it collects (SPEC-2602B); readings past it are discarded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from energybench.sim.instruments.keithley.keithley_common import AdcModel, SimBuffer
from energybench.sim.instruments.keithley.keithley_tsp import (
    CONSTANTS,
    DIGIO_CONSTANTS,
    FORMAT_CONSTANTS,
    RUNTIME_ERROR,
    SYNTAX_ERROR,
    TspError,
    detected_edge,
    split_args,
    tsp_number,
)
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.scpi_server import ScpiInstrument, ScpiServer, binary_block

LINE_FREQUENCY_HZ = 60.0
MIN_INTERVAL_S = 1 / 20_000  # "measure to memory" at 0.001 NPLC (keithley-2600b.md#speed)
# Dedicated buffer capacity, SPEC-2602B Rev B p.11: "> 60,000" readings "with timestamp and
# source setting", "> 140,000" without. The data sheet gives no figure for timestamps alone: the
# simulator holds the lower one as soon as either is collected.
CAPACITY_PLAIN, CAPACITY_WITH_EXTRAS = 140_000, 60_000
COLLECT = ("collecttimestamps", "collectsourcevalues")
CURRENT_RANGES_A = (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0)
MAX_VOLTAGE_V, MAX_CURRENT_A = 40.4, 3.03
EVENT_ID_BASE = 100  # digio.trigger[N].EVENT_ID = 100 + N (any distinct ids do)


@dataclass
class _Channel:
    settings: dict[str, float] = field(default_factory=dict)
    buffers: dict[str, SimBuffer] = field(default_factory=dict)
    measure_buffers: tuple[str, ...] = ()
    armed_at_s: float | None = None
    collect: dict[str, set[str]] = field(default_factory=dict)  # buffer -> extras collected

    def capacity(self, buffer: str) -> int:
        return CAPACITY_WITH_EXTRAS if self.collect.get(buffer) else CAPACITY_PLAIN


class SimKeithley2600B(ScpiInstrument):
    """A 2600B (channel smua, and smub on two-channel models) over the timeline."""

    driver = "keithley_2600b"

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        seed: int = 0,
        model: str = "2602B",
        voltage_measurement: MeasurementModel | None = None,
        digital_lines: dict[int, str] | None = None,
        serial_number: str = "04089762",
        firmware: str = "4.0.4",
    ) -> None:
        super().__init__()
        self.timeline = timeline
        self.model = model
        self.identity = f"Keithley Instruments Inc., Model {model}, {serial_number}, {firmware}"
        self.adc = AdcModel.build(measurement, voltage_measurement, seed)
        self.lines = dict(digital_lines or {1: "timestamp"})
        self.server = ScpiServer(self)
        self.reset()

    @property
    def output_on(self) -> bool:
        return bool(self.channels["smua"].settings["source.output"])

    # ---- state -------------------------------------------------------------------------
    def reset(self) -> None:
        self.channels = {name: self._new_channel() for name in ("smua", "smub")}
        self.format = {"data": 1.0, "byteorder": 1.0, "asciiprecision": 6.0}
        self.digio_mode = {n: 0.0 for n in range(1, 15)}
        self.digio_out = {n: True for n in range(1, 15)}  # programmed line state (writebit)
        self.digio_detect_from = {n: 0.0 for n in range(1, 15)}
        self._apply_output("smua")

    def _new_channel(self) -> _Channel:
        settings = {
            "source.func": 1,
            "source.levelv": 0.0,
            "source.limiti": 0.1,
            "source.output": 0,
            "source.rangev": 20.0,
            "source.autorangev": 1,
            "measure.rangei": CURRENT_RANGES_A[-1],
            "measure.autorangei": 1,
            "measure.autozero": 2,
            "measure.nplc": 1.0,
            "measure.count": 1,
            "measure.interval": 0.0,
            "trigger.arm.stimulus": 0,
            "trigger.arm.count": 1,
            "trigger.count": 1,
            "trigger.measure.stimulus": 0,
            "trigger.measure.action": 0,
            "trigger.source.action": 0,
            "trigger.endpulse.action": 0,
        }
        buffers = {n: SimBuffer(n, CAPACITY_PLAIN) for n in ("nvbuffer1", "nvbuffer2")}
        collect: dict[str, set[str]] = {name: set() for name in buffers}
        return _Channel({k: float(v) for k, v in settings.items()}, buffers, collect=collect)

    def _apply_output(self, channel: str) -> None:
        if channel != "smua":
            return  # smub is not wired to the DUT rail
        ch = self.channels[channel]
        on = bool(ch.settings["source.output"])
        level = ch.settings["source.levelv"] if on else None
        self.timeline.set_supply(self.timeline.now_s, voltage_v=level, output_on=on)

    # ---- message handling ----------------------------------------------------------------
    def handle(self, message: str) -> list[bytes]:
        text = message.strip()
        if not text:
            return []
        self.log.append(text)
        if text.startswith("*"):
            return super().handle(text)
        try:
            with self.lock:
                reply = self._statement(text)
        except TspError as exc:
            self.push_error(exc.code, exc.message)
            return []
        return [] if reply is None else [reply if isinstance(reply, bytes) else reply.encode()]

    def _statement(self, text: str) -> str | bytes | None:
        call = re.fullmatch(r"([A-Za-z_][\w.\[\]]*)\s*\((.*)\)", text)
        if call and call.group(1) == "print":
            values = [self._eval(a) for a in split_args(call.group(2))]
            digits = int(self.format["asciiprecision"])
            return "\t".join(tsp_number(v, digits) for v in values)
        if call and call.group(1) == "printbuffer":
            return self._printbuffer([self._eval(a) for a in split_args(call.group(2))])
        if call:
            self._call(call.group(1), [self._eval(a) for a in split_args(call.group(2))])
            return None
        assign = re.fullmatch(r"([A-Za-z_][\w.\[\]]*)\s*=\s*(.+)", text)
        if assign:
            self._set(assign.group(1), self._eval(assign.group(2)))
            return None
        raise TspError(SYNTAX_ERROR, f"TSP Syntax error at line 1: unexpected symbol near '{text}'")

    def _eval(self, text: str) -> object:
        text = text.strip()
        if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
            return float(text)
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        call = re.fullmatch(r"([A-Za-z_][\w.\[\]]*)\s*\((.*)\)", text)
        if call:
            return self._call(call.group(1), [self._eval(a) for a in split_args(call.group(2))])
        if re.fullmatch(r"[A-Za-z_][\w.\[\]]*", text):
            return self._get(text)
        raise TspError(SYNTAX_ERROR, f"TSP Syntax error at line 1: unexpected symbol near '{text}'")

    @staticmethod
    def _nil(path: str) -> TspError:
        message = f"TSP Runtime error at line 1: attempt to index a nil value ({path})"
        return TspError(RUNTIME_ERROR, message)

    def _split_channel(self, path: str) -> tuple[_Channel, str, str] | None:
        head, _, rest = path.partition(".")
        if head in self.channels:
            return self.channels[head], head, rest
        return None

    # ---- get / set / call ------------------------------------------------------------------
    def _get(self, path: str) -> object:
        found = self._split_channel(path)
        if found:
            ch, name, rest = found
            if rest in CONSTANTS:
                return CONSTANTS[rest]
            if rest in ch.settings:
                return ch.settings[rest]
            extra = re.fullmatch(
                r"(nvbuffer[12])\.(capacity|collecttimestamps|collectsourcevalues)", rest
            )
            if extra:
                name, what = extra.groups()
                return ch.capacity(name) if what == "capacity" else float(what in ch.collect[name])
            buf = re.fullmatch(r"(nvbuffer[12])(?:\.(n|readings|timestamps|sourcevalues))?", rest)
            if buf:
                self._run_trigger(name)
                b = ch.buffers[buf.group(1)]
                return b.count if buf.group(2) == "n" else (b, buf.group(2) or "readings")
            raise self._nil(path)
        head, _, rest = path.partition(".")
        if head == "format" and rest in FORMAT_CONSTANTS:
            return FORMAT_CONSTANTS[rest]
        if head == "format" and rest in self.format:
            return self.format[rest]
        if head == "digio" and rest in DIGIO_CONSTANTS:
            return DIGIO_CONSTANTS[rest]
        trig = re.fullmatch(r"digio\.trigger\[(\d+)\]\.(EVENT_ID|mode)", path)
        if trig and int(trig.group(1)) in self.digio_mode:
            line = int(trig.group(1))
            return EVENT_ID_BASE + line if trig.group(2) == "EVENT_ID" else self.digio_mode[line]
        if path == "localnode.linefreq":
            return LINE_FREQUENCY_HZ
        if path == "errorqueue.count":
            self._take_pushed_errors()
            return len(self.errors)
        raise self._nil(path)

    def _set(self, path: str, value: object) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, float):
            raise TspError(RUNTIME_ERROR, f"TSP Runtime error: bad argument for {path}")
        found = self._split_channel(path)
        if found and found[2] in found[0].settings:
            ch, name, rest = found
            self._check_setting(rest, value)
            ch.settings[rest] = value
            if rest in ("source.output", "source.levelv"):
                self._apply_output(name)
            return
        collect = found and re.fullmatch(r"(nvbuffer[12])\.(collect\w+)", found[2])
        if collect and collect.group(2) in COLLECT:
            ch, name = found[0], collect.group(1)
            ch.collect[name] = (ch.collect[name] - {collect.group(2)}) | (
                {collect.group(2)} if value else set()
            )
            ch.buffers[name].capacity = ch.capacity(name)
            return
        if found and re.fullmatch(r"nvbuffer[12]\.appendmode", found[2]):
            return
        head, _, rest = path.partition(".")
        if head == "format" and rest in self.format:
            self.format[rest] = value
            return
        trig = re.fullmatch(r"digio\.trigger\[(\d+)\]\.mode", path)
        if trig and int(trig.group(1)) in self.digio_mode:
            self.digio_mode[int(trig.group(1))] = value
            return
        raise self._nil(path)

    def _check_setting(self, name: str, value: float) -> None:
        bounds = {
            "source.levelv": (-MAX_VOLTAGE_V, MAX_VOLTAGE_V),
            "source.limiti": (1e-9, MAX_CURRENT_A),
            "measure.nplc": (0.001, 25.0),
            "measure.rangei": (0.0, CURRENT_RANGES_A[-1]),
        }
        low, high = bounds.get(name, (-math.inf, math.inf))
        if not low <= value <= high:
            raise TspError(-222, f"Parameter too big or small: {name} = {value:g}")

    def _call(self, path: str, args: list[object]) -> object:
        found = self._split_channel(path)
        if found:
            ch, name, rest = found
            if rest == "reset":
                self.channels[name] = self._new_channel()
                self._apply_output(name)
                return None
            if rest == "abort":
                ch.armed_at_s = None
                return None
            buf = re.fullmatch(r"(nvbuffer[12])\.clear", rest)
            if buf:
                ch.buffers[buf.group(1)].clear()
                return None
            if rest in ("trigger.measure.iv", "trigger.measure.i"):
                want = 2 if rest.endswith("iv") else 1
                if len(args) != want or not all(isinstance(a, tuple) for a in args):
                    raise TspError(RUNTIME_ERROR, f"TSP Runtime error: bad arguments to {path}")
                ch.measure_buffers = tuple(a[0].name for a in args)  # type: ignore[index]
                return None
            if rest == "trigger.initiate":
                if not ch.measure_buffers:
                    raise TspError(RUNTIME_ERROR, "TSP Runtime error: no measure buffers")
                ch.armed_at_s = self.timeline.now_s
                return None
        if path == "digio.writebit" and len(args) == 2 and int(args[0]) in self.digio_out:
            self.digio_out[int(args[0])] = bool(args[1])
            return None
        trig = re.fullmatch(r"digio\.trigger\[(\d+)\]\.clear", path)
        if trig and int(trig.group(1)) in self.digio_mode:
            self.digio_detect_from[int(trig.group(1))] = self.timeline.now_s
            return None
        if path == "errorqueue.clear":
            self.errors.clear()
            self.faults.push_errors.clear()
            return None
        if path == "errorqueue.next":
            self._take_pushed_errors()
            if not self.errors:
                return "0\tQueue Is Empty\t0\t0"  # printed as is
            code, message = self.errors.popleft()
            return f"{tsp_number(code)}\t{message}\t{tsp_number(2)}\t{tsp_number(0)}"
        if path == "reset":
            self.reset()
            return None
        if path == "waitcomplete":
            return None
        raise self._nil(path)

    def _take_pushed_errors(self) -> None:
        while self.faults.push_errors:
            code, _, message = self.faults.push_errors.pop(0).partition(",")
            self.push_error(int(code), message.strip('"'))

    # ---- acquisition ---------------------------------------------------------------------
    def interval_s(self, ch: _Channel) -> float:
        return max(ch.settings["measure.nplc"] / LINE_FREQUENCY_HZ, MIN_INTERVAL_S)

    def _run_trigger(self, name: str) -> None:
        ch = self.channels[name]
        if ch.armed_at_s is None:
            return
        stimulus = int(ch.settings["trigger.arm.stimulus"])
        start = ch.armed_at_s
        if stimulus:
            line = stimulus - EVENT_ID_BASE
            kind = detected_edge(int(self.digio_mode.get(line, 0)), self.digio_out.get(line, True))
            if kind is None or line not in self.lines:
                return  # no input detection in this mode, or an unwired line: never triggers
            t_from = max(start, self.digio_detect_from[line])
            edges = self.timeline.edges(self.lines[line], kind, t_from, self.timeline.now_s)
            if not len(edges):
                return
            start = float(edges[0])
            self.digio_detect_from[line] = math.nextafter(start, math.inf)
        count = int(ch.settings["trigger.count"])
        interval = self.interval_s(ch)
        end = start + count * interval
        # acquisition takes time, the DUT idle meanwhile (realtime pace: until the wall clock)
        if not self.timeline.idle_until(end, 0.0):
            return
        on = bool(ch.settings["source.output"])
        current, volts, times = self.adc.render(
            self.timeline,
            start,
            1.0 / interval,
            count,
            averaging=ch.settings["measure.nplc"] / LINE_FREQUENCY_HZ >= interval * (1 - 1e-9),
            current_range_a=ch.settings["measure.rangei"],
            voltage_readback=True,
            programmed_voltage_v=ch.settings["source.levelv"] if on else 0.0,
        )
        if on:  # in compliance the SMU delivers no more than its current limit
            limit = ch.settings["source.limiti"]
            current = np.clip(current, -limit, limit)
        targets = [ch.buffers[b] for b in ch.measure_buffers]
        targets[0].append(current, volts, times)
        if len(targets) > 1:
            targets[1].append(volts, volts, times)
        ch.armed_at_s = None

    def _printbuffer(self, args: list[object]) -> str | bytes:
        if len(args) < 3 or not all(isinstance(a, float) for a in args[:2]):
            raise TspError(RUNTIME_ERROR, "TSP Runtime error: bad argument to printbuffer")
        first, last = int(args[0]), int(args[1])
        columns = []
        for ref in args[2:]:
            if not isinstance(ref, tuple):
                raise TspError(RUNTIME_ERROR, "TSP Runtime error: printbuffer needs buffers")
            buf, element = ref
            if not 1 <= first <= last <= buf.count:
                raise TspError(RUNTIME_ERROR, "TSP Runtime error: index out of range")
            current, source, _ = buf.columns()
            column = {"readings": current, "sourcevalues": source, "timestamps": buf.relative_s()}
            columns.append(column[element][first - 1 : last])
        table = np.column_stack(columns).ravel()
        form = int(self.format["data"])
        if form == FORMAT_CONSTANTS["ASCII"]:
            digits = int(self.format["asciiprecision"])
            return ", ".join(tsp_number(float(v), digits) for v in table)
        dtype = "f4" if form == FORMAT_CONSTANTS["REAL32"] else "f8"
        big = int(self.format["byteorder"]) == FORMAT_CONSTANTS["BIGENDIAN"]
        return binary_block(table, dtype, big_endian=big, definite=False)
