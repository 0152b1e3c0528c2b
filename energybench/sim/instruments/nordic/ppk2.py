"""Simulated Nordic Power Profiler Kit II on a pseudo-terminal.

It takes the PPK2's raw command bytes (docs/instruments/ppk2.md; no terminator, no replies but
the metadata) and, after AverageStart, streams the lab's Timeline as 100 kS/s sample words:
point samples of the rail current through the unit model of :mod:`ppk2_device` (automatic
range switching, this unit's calibration inverted into ADC counts), the logic inputs D0-D7 from
timeline pins (``logic_pins``, default D0 = the ``timestamp`` pin) and the 6-bit counter.

In source-meter mode RegulatorSet sets the timeline's supply voltage and DeviceRunningSet
switches its output; in ampere-meter mode DeviceRunningSet is the series switch between the
external supply and the DUT (the timeline's output state), and the voltage is left alone.

Virtual time as in the LPM01A simulator: samples of the timeline's past are produced as fast as
the host reads them (the output is bounded by ``buffer_bytes``); once caught up, idle time passes
at ``idle_speed`` × wall time, never more than one batch ahead (``None``: only producers move
the timeline). Fault knobs: ``drop_samples`` (sample ranges never sent: a counter jump),
``drop_bytes`` ((sample, n) pairs: n bytes of that sample's word and after vanish, so the host
must find the word boundary again).
"""

from __future__ import annotations

import logging
import math
import os
import select
import struct
import threading
from collections.abc import Iterable, Mapping

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.instruments.nordic.ppk2_device import UnitModel, encode_words
from energybench.sim.physics.idle_time import IdleTime
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.pty import close_fds, open_raw_pty

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 100_000
BATCH_SAMPLES = 10_000  # 0.1 s: idle time runs at most this far ahead of the host
COMMAND_BYTES = {  # opcode -> length including the opcode
    0x06: 1,  # AverageStart
    0x07: 1,  # AverageStop
    0x0C: 2,  # DeviceRunningSet
    0x0D: 3,  # RegulatorSet (mV, big-endian)
    0x11: 2,  # SetPowerMode (1 ampere, 2 source)
    0x15: 1,  # SpikeFilteringOn
    0x16: 1,  # SpikeFilteringOff
    0x19: 1,  # GetMetadata
    0x20: 1,  # Reset
    0x25: 6,  # SetUserGains (range, float32 LE)
}
LOGIC_LINES = tuple(f"d{n}" for n in range(8))


class SimNordicPpk2:
    """The PPK2 on a pty: :attr:`resource` is the slave path the driver opens."""

    driver = "nordic_ppk2"

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        seed: int = 0,
        idle_speed: float | None = None,
        calibration: Mapping[str, tuple[str, ...]] | None = None,
        logic_pins: Mapping[str, str] | None = None,
        power_mode: int = 2,
        vdd_mv: int = 3000,
        hardware: str = "9173",
        drop_samples: Iterable[tuple[int, int]] = (),
        drop_bytes: Iterable[tuple[int, int]] = (),
        buffer_bytes: int = 1 << 16,
    ) -> None:
        if idle_speed is not None and not idle_speed > 0:
            raise ConfigError("idle_speed must be > 0 or None", context="idle_speed")
        pins = dict({"d0": "timestamp"} if logic_pins is None else logic_pins)
        unknown = [line for line in pins if line not in LOGIC_LINES]
        if unknown:
            raise ConfigError(f"logic inputs are d0..d7, got {unknown}", context="logic_pins")
        self.timeline = timeline
        speed = 1.0 if timeline.pace == "realtime" else idle_speed
        self.idle = IdleTime(timeline, speed) if speed is not None else None
        self.measurement = measurement or MeasurementModel.ideal()
        self.unit = UnitModel(dict(calibration) if calibration else None)
        self.logic_pins = pins
        self.power_mode = power_mode
        self.vdd_mv = vdd_mv
        self.hardware = hardware
        self.drop_samples = [tuple(r) for r in drop_samples]
        self.drop_bytes = dict(drop_bytes)
        self.buffer_bytes = buffer_bytes
        self.running = False
        self.averaging = False
        self.commands: list[bytes] = []  # every command received, for tests
        self.unknown_bytes = 0
        self.user_gains: dict[int, float] = {}
        self.samples_sent = 0
        self._rng = np.random.default_rng(seed)
        self._out = bytearray()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self._t0 = 0.0
        self._next = 0
        self._counter0 = 0
        self.resource = ""

    # ---- lab object --------------------------------------------------------------------
    def start(self) -> SimNordicPpk2:
        self._master, self._slave, self.resource = open_raw_pty()
        self._thread = threading.Thread(target=self._serve, name="sim-ppk2", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2.0)
        close_fds(self._master, self._slave)

    def __enter__(self) -> SimNordicPpk2:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- serving loop ------------------------------------------------------------------
    def _serve(self) -> None:
        inbuf = bytearray()
        while not self._stop.is_set():
            if self.averaging:  # before waiting: with data to send, select returns at once
                self._produce()
                if self._pass_idle_time():
                    self._produce()
            try:
                readable, writable, _ = select.select(
                    [self._master], [self._master] if self._out else [], [], 0.01
                )
            except (OSError, ValueError):
                return
            if readable:
                try:
                    inbuf += os.read(self._master, 4096)
                except BlockingIOError:
                    pass
                except OSError:
                    self._stop.wait(0.02)
                self._commands(inbuf)
            if writable and self._out:
                try:
                    sent = os.write(self._master, bytes(self._out[:65536]))
                    del self._out[:sent]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._stop.wait(0.02)

    def _commands(self, inbuf: bytearray) -> None:
        while inbuf:
            length = COMMAND_BYTES.get(inbuf[0])
            if length is None:
                self.unknown_bytes += 1
                log.warning("sim PPK2: unknown command byte 0x%02x ignored", inbuf[0])
                del inbuf[:1]
                continue
            if len(inbuf) < length:
                return
            command = bytes(inbuf[:length])
            del inbuf[:length]
            self.commands.append(command)
            self._command(command)

    def _command(self, command: bytes) -> None:
        op, args = command[0], command[1:]
        if op == 0x19:
            fields = {"VDD": str(self.vdd_mv), "HW": self.hardware, "mode": str(self.power_mode)}
            self._out += self.unit.metadata({**fields, "IA": "56"})
        elif op == 0x06:
            self._start_averaging()
        elif op == 0x07:
            if self.averaging:
                self._produce(flush=True)
            self.averaging = False
        elif op == 0x0C:
            self.running = bool(args[0])
            with self.timeline.hold():
                self.timeline.set_supply(self.timeline.now_s, output_on=self.running)
        elif op == 0x0D:
            self.vdd_mv = (args[0] << 8) | args[1]
            if self.power_mode == 2:
                self._apply_source_voltage()
        elif op == 0x11:
            self.power_mode = args[0]
            if self.power_mode == 2:
                self._apply_source_voltage()
        elif op == 0x25:
            self.user_gains[args[0]] = struct.unpack("<f", args[1:5])[0]
        elif op == 0x20:
            self.averaging = False
            self.running = False
            with self.timeline.hold():
                self.timeline.set_supply(self.timeline.now_s, output_on=False)

    def _apply_source_voltage(self) -> None:
        with self.timeline.hold():
            self.timeline.set_supply(self.timeline.now_s, voltage_v=self.vdd_mv / 1000)

    # ---- the stream ----------------------------------------------------------------------
    def _start_averaging(self) -> None:
        self.averaging = True
        self._t0 = self.timeline.now_s
        self._next = 0
        self._counter0 = int(self._rng.integers(0, 64))  # hosts must not assume 0
        self.unit.range_index = len(self.unit.full_scale_a) - 1
        if self.idle is not None:
            self.idle.restart()

    def _produce(self, flush: bool = False) -> None:
        total = math.floor((self.timeline.now_s - self._t0) * SAMPLE_RATE_HZ + 1e-9)
        while self._next < total and (flush or len(self._out) < self.buffer_bytes):
            n = min(BATCH_SAMPLES, total - self._next)
            self._emit(self._next, n)
            self._next += n

    def _pass_idle_time(self) -> bool:
        """Caught up (the timeline's past sent, the output drained): let idle time pass, at
        most one batch beyond what was sent, so the host paces it. Whether time passed."""
        if self.idle is None or self._out:
            return False
        if self._next < math.floor((self.timeline.now_s - self._t0) * SAMPLE_RATE_HZ + 1e-9):
            return False
        before = self.timeline.now_s
        cap = self._t0 + (self._next + BATCH_SAMPLES) / SAMPLE_RATE_HZ
        return self.idle.advance_to(min(self.idle.target_s(), cap)) > before

    def _emit(self, k0: int, n: int) -> None:
        rendering = self.timeline.render(
            self._t0 + k0 / SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, n, kind="point"
        )
        current = self.measurement.apply(rendering.current_a)
        ranges = self.unit.track_ranges(current)
        adc = self.unit.adc_counts(current, ranges, rendering.voltage_v)
        logic = np.zeros(n, dtype=np.uint32)
        for line, pin in self.logic_pins.items():
            if pin in rendering.pins:
                logic |= rendering.pins[pin].astype(np.uint32) << int(line[1:])
        k = np.arange(k0, k0 + n)
        words = encode_words(adc, ranges, self._counter0 + k, logic)
        keep = np.ones(n, dtype=bool)
        for a, b in self.drop_samples:
            keep &= (k < a) | (k >= b)
        data = bytearray(words[keep].astype("<u4").tobytes())
        for sample, count in sorted(self.drop_bytes.items(), reverse=True):
            if k0 <= sample < k0 + n and keep[sample - k0]:
                at = 4 * int(np.count_nonzero(keep[: sample - k0]))
                del data[at : at + count]
        self.samples_sent += int(keep.sum())
        self._out += data
