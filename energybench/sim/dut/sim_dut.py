"""The simulated MLPerf Tiny DUT: the firmware's protocol on a pty, its physics on a Timeline.

Timing, in simulation time on the bench's :class:`Timeline`:
- every received byte and every transmitted byte takes 10 bits / baud (8N1) and draws
  ``uart_current_a`` on top of the current level (idle, or active for lines printed inside a
  busy phase); the firmware prints blocking, so transmission takes CPU time;
- ``infer N W``: W warm-ups then N timed inferences at the workload's active current, each
  inference lasting ``latency_s × (1 + jitter·z)`` (z seeded normal); the model itself runs once;
- energy build: each timestamp drives the pin low (falling edge = the timestamp), holds it
  ``timestamp_hold_s`` at idle current, releases it: the first pulse's hold is inside the window,
  the second's outside (docs/dut-protocol.md#timestamps); performance build: the µs clock (true time
  × (1 + ppm·1e-6) since boot, 32-bit wrap) is read, then ``m-lap-us-N`` is printed (inside the
  window for the first).
- idle policy: when bytes arrive, simulation time is advanced to at least the wall time elapsed
  since the timeline's creation × ``idle_speed`` (nothing sleeps); gaps between commands are
  therefore idle periods at ``idle_current_a``. With the timeline's realtime pace the DUT also
  sleeps until each reply's simulated time before writing it.
Ground truth per ``infer`` is appended to :attr:`SimDut.windows`. While the timeline's supply
output is off the DUT ignores its input (it draws nothing: the timeline gates the current);
a supply simulator calls :meth:`SimDut.power_on` when it switches the output on again.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.dut.engine import EeMonitor
from energybench.sim.dut.models import load_model
from energybench.sim.dut.profiles import MODES, DutProfile
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.pty import PtyServer

log = logging.getLogger(__name__)

Sink = Callable[[bytes], object]


@dataclass
class DutFaults:
    """Fault knobs, settable at run time (attribute assignment); hang, delay and withhold are
    sampled when a command starts, garbling counts output lines from when it is set."""

    hang_on_infer: bool = False  # infer stops after the first timestamp; DUT silent until reset
    reply_delay_s: float = 0.0  # wall and simulated delay before each command's reply
    withhold_replies: int = 0  # the next K commands run but send nothing
    garble_line: int = 0  # flip one bit in the Nth next output line (1 = the next line)
    seed: int = 1234


@dataclass(frozen=True)
class InferWindow:
    """Ground truth of one ``infer`` command's timed window (simulation seconds)."""

    index: int
    mode: str
    start_s: float  # first falling edge (energy) / first clock read (performance)
    end_s: float
    inferences: int
    warmups: int
    energy_j: float  # timeline.energy_j(start_s, end_s)
    loop_s: float  # duration of the N inferences alone
    lap_us: tuple[int, int] | None = None  # performance build: the printed timer values

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class _Output:
    sink: Sink | None
    withhold: bool = False
    delay_s: float = 0.0


class SimDut:
    """A simulated DUT serving the MLPerf Tiny protocol; ``start()`` boots it on a pty."""

    def __init__(
        self,
        timeline: Timeline,
        profile: DutProfile,
        *,
        mode: str = "energy",
        workload: str = "kws01",
        model: str | Path | None = None,
        vendor_name: str = "unspecified",
        seed: int = 0,
        idle_speed: float = 1.0,
        pin: str = "timestamp",
        serve_pty: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}", context="mode")
        if idle_speed < 0:
            raise ConfigError("idle_speed must be >= 0", context="idle_speed")
        self.timeline = timeline
        self.profile = profile
        self.mode = mode
        self.workload = workload
        self.energy_build = mode == "energy"
        self.idle_speed = idle_speed
        self.pin = pin
        timeline.add_pin(pin, True)
        self._configure(model, vendor_name)
        self.faults = DutFaults()
        self.windows: list[InferWindow] = []
        self._rng = np.random.default_rng(seed)
        self._garble_rng = random.Random()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._hung = False
        self._hang_armed = False
        self._boot_s = 0.0
        self._out = _Output(None)
        self._stamps: list[tuple[float, int | None]] = []
        self._loop_s = 0.0
        self._pty = PtyServer(self._on_pty_bytes, name="sim-dut") if serve_pty else None

    def _configure(self, model: str | Path | None, vendor_name: str) -> None:
        """The workload's firmware: baud, timing figures, model and command engine."""
        self.baud = self._baud_for(self.mode)
        self.latency_s = self.profile.workload_latency_s(self.workload)
        self.active_current_a = self.profile.workload_current_a(self.workload)
        self.model = load_model(self.workload, model)
        self.firmware = EeMonitor(self, self.model, workload=self.workload, vendor_name=vendor_name)

    def _baud_for(self, mode: str) -> int:
        return self.profile.baud_for(mode, self.workload)

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The pty path a host opens with pyserial."""
        if self._pty is None:
            raise ConfigError("this SimDut serves no pty", context="port")
        return self._pty.path

    @property
    def label(self) -> str:
        """What runs: the model (reference .tflite or the stand-in)."""
        return self.model.label

    def start(self) -> SimDut:
        self.reset()
        if self._pty is not None:
            self._pty.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._pty is not None:
            self._pty.close()

    def reset(self, sink: Sink | None = None) -> None:
        """Reset/power-on: boot banner on the pty (or ``sink``), clears a hang and the buffers."""
        with self._lock:
            self._hung = False
            self.firmware.reset()
            self.model.reset()
            self._out = _Output(sink if sink is not None else self._pty_write)
            t = self.timeline.now_s
            self._set_current(t, self.profile.idle_current_a)
            self._boot_s = t
            self._busy(self.profile.boot_time_s, self.profile.idle_current_a)
            self._boot_output()

    def boot_banner(self) -> list[str]:
        """The lines the firmware prints at boot (a board waiting for the DUT relays them)."""
        lines = [f"m-timestamp-mode-{'energy' if self.energy_build else 'performance'}"]
        if self.workload == "ad01":  # the AD reference's th_final_initialize prints this
            lines.append("Initialized")
        return [*lines, "m-init-done", "m-ready"]

    def _boot_output(self) -> None:
        """``ee_benchmark_initialize``: the boot banner, a timestamp after its first line, the
        parser enabled before the final ``m-ready``."""
        first, *rest = self.boot_banner()
        self.emit(first + "\r\n")
        self.timestamp()
        for line in rest:
            if line == "m-ready":
                self.firmware.enable()
            self.emit(line + "\r\n")

    def flash(self, mode: str) -> None:
        """Program the other firmware build (energy or performance timestamps) and reboot."""
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}", context="mode")
        with self._lock:
            self.mode = mode
            self.energy_build = mode == "energy"
            self.baud = self._baud_for(mode)
        log.info("simulated DUT flashed with the %s build", mode)
        self.reset()

    def power_on(self) -> None:
        """Called by a supply simulator when its output switches on: the DUT boots again."""
        self.reset()

    def __enter__(self) -> SimDut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- input ---------------------------------------------------------------------------
    def _on_pty_bytes(self, data: bytes) -> None:
        self.feed(data, self._pty_write)

    def _pty_write(self, data: bytes) -> None:
        if self._pty is not None:
            self._pty.write(data)

    def feed(self, data: bytes, sink: Sink | None = None) -> None:
        """Bytes from the host (UART RX); replies go to ``sink`` (default: the pty)."""
        if sink is None:
            sink = self._pty_write
        with self._lock:
            if not self.timeline.supply_state(self.timeline.now_s)[1]:
                log.debug("unpowered DUT ignores %d bytes", len(data))
                return
            if self._hung and self.faults.hang_on_infer:
                log.debug("hung DUT ignores %d bytes", len(data))
                return
            self._hung = False
            self._apply_idle_policy()
            pending = 0
            for byte in data:
                pending += 1
                command = self.firmware.feed_byte(byte)
                if command is None:
                    continue
                self._receive_time(pending)
                pending = 0
                self._run_command(command, sink)
                if self._hung:
                    return
            self._receive_time(pending)

    def pass_time(self, duration_s: float) -> None:
        """Let ``duration_s`` of simulation time pass at the present level (another device's
        activity, e.g. the interface board talking to the host)."""
        with self._lock:
            self.timeline.advance_by(duration_s)
            self.timeline.sleep_until(self.timeline.now_s)

    def execute(self, command: str) -> list[str]:
        """Run one command in-process (as if ``command%`` arrived); the reply lines."""
        lines: list[bytes] = []
        self.feed(command.encode("latin-1") + b"%", lines.append)
        return [b.decode("latin-1") for b in lines]

    def _apply_idle_policy(self) -> None:
        target = self.timeline.wall_time_s() * self.idle_speed
        if target > self.timeline.now_s:
            self.timeline.advance_to(target)

    def _receive_time(self, n_bytes: int) -> None:
        if n_bytes:
            self._busy(
                n_bytes * 10 / self.baud, self.profile.idle_current_a + self.profile.uart_current_a
            )

    def _run_command(self, command: bytes, sink: Sink | None) -> None:
        withhold = self.faults.withhold_replies > 0
        if withhold:
            self.faults.withhold_replies -= 1
            log.info("fault: withholding the reply to %r", command[:40])
        self._out = _Output(sink, withhold=withhold, delay_s=self.faults.reply_delay_s)
        self._hang_armed = self.faults.hang_on_infer  # knobs are sampled when a command starts
        with contextlib.suppress(_Hang):  # the hang fault unwinds the firmware's infer
            self.firmware.dispatch(command)

    def _send(self, data: bytes) -> None:
        out = self._out
        if out.withhold or out.sink is None:
            return
        self.timeline.wait_reported(self.timeline.now_s)  # meters' data first (realtime)
        if out.delay_s > 0:
            delay, out.delay_s = out.delay_s, 0.0
            self._busy(delay, self.profile.idle_current_a)  # realtime pace: sleeps the delay
            if self.timeline.pace == "virtual":
                self._stop.wait(delay)  # nothing slept: the host must still see the reply late
        out.sink(data)

    # ---- firmware hooks (Hooks protocol) ----------------------------------------------------
    def emit(self, text: str) -> None:
        """A blocking th_printf: UART time at the current level + uart current, then sent."""
        data = text.encode("latin-1")
        self._busy(
            len(data) * 10 / self.baud, self.profile.idle_current_a + self.profile.uart_current_a
        )
        self._send(self._maybe_garble(data))

    def timestamp(self) -> None:
        """th_timestamp(): a falling-edge pulse (energy build) or an m-lap-us line."""
        if self.energy_build:
            with self.timeline.hold():
                t = self.timeline.now_s
                self.timeline.set_pin(self.pin, t, False)
                self._busy(self.profile.timestamp_hold_s, self.profile.idle_current_a)
                self.timeline.set_pin(self.pin, self.timeline.now_s, True)
            self._stamps = [*self._stamps[-1:], (t, None)]
            return
        with self.timeline.hold():
            t = self.timeline.now_s
        lap_us = self.clock_us(t)
        self._stamps = [*self._stamps[-1:], (t, lap_us)]
        self.emit(f"m-lap-us-{lap_us}\r\n")

    def timed_section(self) -> AbstractContextManager[object]:
        """From the start pulse to the end pulse nothing else moves the timeline at virtual pace:
        the model runs in wall time between the pulse and the modelled loop, and a meter letting
        idle time pass meanwhile (the lab's idle clock ticks 0.1 s at a time) stretched the
        window beyond the profile's latency. At realtime pace the DUT sleeps to the wall clock
        inside the section, so the timeline is not held (meters must keep streaming)."""
        if self.timeline.pace == "realtime":
            return contextlib.nullcontext()
        return self.timeline.hold()

    def clock_us(self, t_s: float) -> int:
        """The DUT's own µs timer at true time ``t_s``: since boot, with clock error, 32-bit."""
        elapsed_s = t_s - self._boot_s
        return int(elapsed_s * 1e6 * (1 + self.profile.clock_error_ppm * 1e-6)) & 0xFFFFFFFF

    def compute(self, inferences: int, timed: bool) -> None:
        """n × th_infer(): the model runs once; time is the sum of jittered latencies."""
        self.model.infer()
        duration = self._loop_duration(inferences)
        if timed and self._hang_armed:
            self._hung = True
            self._set_current(self.timeline.now_s, self.active_current_a)  # stuck, busy
            log.info("fault: DUT hangs inside infer at t=%.6f s", self.timeline.now_s)
            raise _Hang
        self._busy(duration, self.active_current_a)
        if timed:
            self._loop_s = duration

    def infer_done(self, inferences: int, warmups: int) -> None:
        """After the second timestamp: record the window's ground truth."""
        (t0, lap0), (t1, lap1) = self._stamps[-2], self._stamps[-1]
        self.windows.append(
            InferWindow(
                index=len(self.windows),
                mode=self.mode,
                start_s=t0,
                end_s=t1,
                inferences=inferences,
                warmups=warmups,
                energy_j=self.timeline.energy_j(t0, t1),
                loop_s=self._loop_s,
                lap_us=None if lap0 is None or lap1 is None else (lap0, lap1),
            )
        )

    def _loop_duration(self, n: int) -> float:
        if n <= 0:
            return 0.0
        jitter = self.profile.jitter
        if jitter <= 0:
            return n * self.latency_s
        factors = 1.0 + jitter * self._rng.standard_normal(n)
        return float(np.sum(self.latency_s * np.clip(factors, 0.05, None)))

    # ---- physics helpers -------------------------------------------------------------------
    def _set_current(self, t: float, current_a: float) -> None:
        with self.timeline.hold():
            self.timeline.set_load_current(max(t, self.timeline.now_s), current_a)

    def _busy(self, duration_s: float, current_a: float) -> None:
        """Draw ``current_a`` for ``duration_s`` from now, then return to idle."""
        with self.timeline.hold():
            t = self.timeline.now_s
            self._set_current(t, current_a)
            self.timeline.advance_to(t + max(0.0, duration_s))
            self._set_current(self.timeline.now_s, self.profile.idle_current_a)
            end_s = self.timeline.now_s
        self.timeline.sleep_until(end_s)

    def _maybe_garble(self, data: bytes) -> bytes:
        if self.faults.garble_line <= 0:
            return data
        self.faults.garble_line -= 1
        if self.faults.garble_line > 0:
            return data
        self._garble_rng.seed(self.faults.seed)
        body = len(data.rstrip(b"\r\n")) or len(data)
        pos = self._garble_rng.randrange(body)
        out = bytearray(data)
        flipped = out[pos] ^ (1 << self._garble_rng.randrange(7))
        out[pos] = flipped if flipped not in (0x0A, 0x0D, 0x00) else out[pos] ^ 0x40
        log.info("fault: garbled byte %d of %r", pos, data)
        return bytes(out)


class _Hang(Exception):
    """Unwinds the firmware's infer when the hang fault fires."""
