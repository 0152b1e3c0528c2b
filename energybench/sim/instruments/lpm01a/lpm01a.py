"""Simulated STMicroelectronics X-NUCLEO-LPM01A (PowerShield) on a pseudo-terminal.

It speaks the ASCII protocol of docs/instruments/lpm01a.md: commands end in a
newline; replies are ``PowerShield > ack <command> [value]`` or ``PowerShield > error <command>``
followed by ``PowerShield > Error detail: <text>``. It supplies the DUT (``volt``, ``pwr``
apply to the timeline) and, after ``start``, streams one ``ascii_dec`` value per sample period
(energy of each 1/f bin in J, or the current in A), a ``TimeStamp: SSSs 000ms, buff NN%`` line
after each second of samples, an ``event <n> ris`` line before the sample of the bin holding each
timestamp-pin edge (``eventsrc d7 fal``), and ``Acquisition completed`` on ``stop``.

Virtual time: samples are produced for the timeline's past as fast as the host reads them (the
output is bounded; ``buff`` reports its fill). While acquiring and caught up (every bin of the
timeline's past sent and the output drained), idle time passes at ``idle_speed`` × wall time
(1× at realtime pace), never more than one batch ahead of the host: the DUT is idle meanwhile,
and a host slower than ``idle_speed`` slows idle time down instead of falling ever further
behind (a lab-wide clock running at a fixed speed let the backlog grow without bound).
``idle_speed=None`` (the default; the lab passes 20): only producers (the DUT) move the
timeline. Realtime pace: each bin leaves once the wall clock has passed its end, as from the
real board, so a host that reads the stream while it talks to the DUT (the MLCommons runner)
finds each window's ``event`` lines when the DUT's reply arrives.

Fault knobs: garbled bytes, dropped lines, bins lost to a device-buffer overflow, withheld
acknowledgements, 5-digit mantissas.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import select
import shlex
import threading
from collections.abc import Iterable

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.instruments.lpm01a.lpm01a_commands import (
    ACQ_MODE_MAX_A,
    NO_CONTROL_NEEDED,
    PROMPT,
    Lpm01aCommandSet,
)
from energybench.sim.instruments.lpm01a.lpm01a_format import (
    END_RECORD,
    encode_hexa,
    format_value,
    timestamp_record,
)
from energybench.sim.physics.idle_time import IdleTime
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.pty import close_fds, open_raw_pty

log = logging.getLogger(__name__)

BATCH_BINS = 1000


class SimLpm01a(Lpm01aCommandSet):
    """The PowerShield on a pty: :attr:`resource` is the slave path the driver opens."""

    driver = "lpm01a"

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        seed: int = 0,
        firmware: str = "1.0.6",
        board_id: str = "0050003A3438510B34313939",
        temperature_c: float = 28.5,
        five_digit_every: int = 0,
        values_per_line: int = 1,
        garble_every: int = 0,
        drop_every: int = 0,
        overflow_bins: Iterable[tuple[int, int]] = (),
        withhold_acks: Iterable[str] = (),
        buffer_bytes: int = 1 << 16,
        overflow: str = "wait",
        record_sent: bool = False,
        idle_speed: float | None = None,
    ) -> None:
        if overflow not in ("wait", "drop"):
            raise ConfigError(
                f"overflow must be 'wait' or 'drop', got {overflow!r}", context="overflow"
            )
        if idle_speed is not None and not idle_speed > 0:
            raise ConfigError("idle_speed must be > 0 or None", context="idle_speed")
        self.timeline = timeline
        speed = 1.0 if timeline.pace == "realtime" else idle_speed
        self.idle = IdleTime(timeline, speed) if speed is not None else None
        self.measurement = measurement or MeasurementModel.ideal()
        self.firmware = firmware
        self.board_id = board_id
        self.temperature_c = temperature_c
        self.five_digit_every = five_digit_every
        self.values_per_line = max(1, values_per_line)
        self.garble_every = garble_every
        self.drop_every = drop_every
        self.overflow_bins = [tuple(r) for r in overflow_bins]
        self.withhold_acks = set(withhold_acks)
        self.buffer_bytes = buffer_bytes
        self.overflow = overflow  # "drop": a host that stalls loses data once the buffer is full
        self.samples_lost = 0
        self._rng = np.random.default_rng(seed)
        self.log: list[str] = []  # every command received
        # decoded values of the data sent, kept only with record_sent (tests): a long run at
        # 100 kHz would otherwise hold every sample as a Python float
        self.record_sent = record_sent
        self.sent_values: list[float] = []
        self.five_digit_tokens = 0
        self.max_emit_lag_s = 0.0  # realtime pace: the latest a batch of bins left
        self.max_backlog_bytes = 0  # the most output the host had not read yet
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self.resource = ""
        self._reset_config()

    # ---- lab object ------------------------------------------------------------------
    def start(self) -> SimLpm01a:
        self._master, self._slave, self.resource = open_raw_pty()
        self._thread = threading.Thread(target=self._serve, name="sim-lpm01a", daemon=True)
        self._thread.start()
        self.timeline.add_reporter(self.reported_s)
        return self

    def reported_s(self) -> float:
        """How far the ascii stream has been sent (the timeline's DUT waits for it at realtime
        pace); ``inf`` when it streams nothing or the host has stopped reading."""
        idle = not self.acquiring or self._binary or self._stop.is_set()
        if idle or len(self._out) >= self.buffer_bytes:
            return math.inf
        return self._t0 + self._next_bin / self.freq_hz

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2.0)
        close_fds(self._master, self._slave)

    def __enter__(self) -> SimLpm01a:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- state -----------------------------------------------------------------------
    def _reset_config(self) -> None:
        self.host_control = False
        self.voltage_v = 3.3
        self.freq_hz = 100
        self.acqtime_s = 10.0  # 0 = infinite
        self.acqmode = "dyn"
        self.output = "current"
        self.data_format = "ascii_dec"
        self.trigsrc = "sw"
        self.trigdelay_s = 0.001
        self.eventsrc: str | None = None
        self.power_on = False
        self.acquiring = False
        self._out = bytearray()
        self._binary = False
        self._end_sent = False
        self._line_no = 0
        self._data_lines = 0

    # ---- serving loop ----------------------------------------------------------------
    def _serve(self) -> None:
        inbuf = bytearray()
        while not self._stop.is_set():
            want_write = bool(self._out)
            # realtime acquisition: each bin leaves within a few ms of its end, as from the board
            poll_s = 0.002 if self.acquiring and self.timeline.pace == "realtime" else 0.02
            try:
                readable, writable, _ = select.select(
                    [self._master], [self._master] if want_write else [], [], poll_s
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
                while True:
                    at = inbuf.find(b"\n")
                    if at < 0:
                        break
                    line = inbuf[:at].decode("ascii", "replace").strip()
                    del inbuf[: at + 1]
                    if line:
                        self._command(line)
            if self.acquiring:
                self._produce(flush=False)
                self._pass_idle_time()
            if writable and self._out:
                try:
                    sent = os.write(self._master, bytes(self._out[:4096]))
                    del self._out[:sent]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._stop.wait(0.02)

    def _say(self, text: str, prompt: bool = True) -> None:
        self._out += ((PROMPT if prompt else "") + text + "\r\n").encode("latin-1")

    # ---- commands --------------------------------------------------------------------
    def _command(self, line: str) -> None:
        self.log.append(line)
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        name, args = words[0].lower(), words[1:]
        if name not in NO_CONTROL_NEEDED and not self.host_control:
            return self._error(line, "host does not have control, send 'htc' first")
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return self._error(line, f"unknown command '{name}'")
        if self.acquiring and self._binary and name != "stop":
            return None  # a reply would corrupt the binary stream; the command is ignored
        if self.acquiring and name not in ("stop", "pwr", "status", "temp", "version", "lcd"):
            return self._error(line, "acquisition in progress")
        try:
            value = handler(args)
        except ValueError as exc:
            return self._error(line, str(exc))
        if name in self.withhold_acks:
            self.withhold_acks.discard(name)
            return
        if name == "stop":
            self._produce(flush=True)
            if self._binary:
                self._out += END_RECORD
                self._end_sent = True
        self._say(f"ack {line}" + (f" {value}" if value is not None else ""))
        if name == "start" and self._binary:
            self._out += timestamp_record(0, 0)
        if name == "stop":
            self._complete()

    def _error(self, line: str, detail: str) -> None:
        self._say(f"error {line}")
        self._say(f"Error detail: {detail}")

    # ---- acquisition stream ----------------------------------------------------------
    def _produce(self, flush: bool) -> None:
        fs = self.freq_hz
        total = math.floor((self.timeline.reportable_s() - self._t0) * fs + 1e-9)
        if self.acqtime_s:
            total = min(total, round(self.acqtime_s * fs))
        wait = self.overflow == "wait" and not flush
        while self._next_bin < total and not (wait and len(self._out) >= self.buffer_bytes):
            k0 = self._next_bin
            n = min(BATCH_BINS, total - k0)
            self._emit_bins(k0, n)
            self._next_bin = k0 + n
        if self.acqtime_s and self._next_bin >= round(self.acqtime_s * fs) and not flush:
            self._complete()

    def _pass_idle_time(self) -> None:
        """Caught up (the timeline's past sent, the output drained): let idle time pass, at
        most one batch of bins beyond what was sent, so the host paces it. At realtime pace the
        wall clock paces it, whatever the host reads, as the real board's: a host that falls
        behind finds the data waiting (or lost, with ``overflow="drop"``), never late."""
        if self.acquiring and self.timeline.pace == "realtime":
            self.timeline.catch_up()
            return
        if self.idle is None or self._out or not self.acquiring:
            return
        fs = self.freq_hz
        if self._next_bin < math.floor((self.timeline.now_s - self._t0) * fs + 1e-9):
            return
        cap = self._t0 + (self._next_bin + BATCH_BINS) / fs
        self.idle.advance_to(min(self.idle.target_s(), cap))

    def _complete(self) -> None:
        if self._binary and not self._end_sent:
            self._out += END_RECORD
        self.acquiring = False
        self._say("Acquisition completed")

    def _emit_bins(self, k0: int, n: int) -> None:
        fs = self.freq_hz
        t_start = self._t0 + k0 / fs
        kind = "bin" if self.output == "energy" else "point"
        backlog = len(self._out)  # bytes the host has not taken yet: the device buffer fill
        if self.timeline.pace == "realtime":  # how late the last bin leaves after its end
            lag_s = self.timeline.wall_time_s() - (t_start + n / fs)
            self.max_emit_lag_s = max(self.max_emit_lag_s, lag_s)
        self.max_backlog_bytes = max(self.max_backlog_bytes, len(self._out))
        rendering = self.timeline.render(t_start, fs, n, kind=kind)
        current = np.clip(
            self.measurement.apply(rendering.current_a), 0.0, ACQ_MODE_MAX_A[self.acqmode]
        )
        values = current * rendering.voltage_v / fs if self.output == "energy" else current
        if self._binary:
            return self._emit_binary(k0, values, backlog)
        events = []
        if self.eventsrc:
            edges = self.timeline.edges("timestamp", self.eventsrc, t_start, t_start + n / fs)
            bins = (math.floor((t - self._t0) * fs) for t in edges)
            events = sorted(min(max(b, k0), k0 + n - 1) for b in bins)
        overflowed = self._overflowed(k0, n)
        line: list[str] = []
        for j in range(n):
            k = k0 + j
            while events and events[0] == k:
                events.pop(0)
                self._flush_values(line)
                self._say(f"event {self._event_count} ris", prompt=False)
                self._event_count += 1
            if overflowed[j]:
                self._lost_in_second = True
            else:
                line.append(self._token(float(values[j])))
                if len(line) >= self.values_per_line:
                    self._flush_values(line)
            if (k + 1) % fs == 0:
                self._flush_values(line)
                buff, seconds = self._buffer_pct(backlog), (k + 1) // fs
                self._say(f"TimeStamp: {seconds:03d}s 000ms, buff {buff:02d}%", prompt=False)
        self._flush_values(line)

    def _overflowed(self, k0: int, n: int) -> np.ndarray:
        """Which of the bins ``k0 .. k0 + n - 1`` the ``overflow_bins`` knob loses."""
        k = np.arange(k0, k0 + n)
        lost = np.zeros(n, dtype=bool)
        for a, b in self.overflow_bins:
            lost |= (k >= a) & (k < b)
        return lost

    def _buffer_pct(self, backlog: int) -> int:
        """The ``buff`` figure of a time stamp (100 if the second lost data); ends the second."""
        pending = backlog if self.overflow == "wait" else len(self._out)
        pct = 100 if self._lost_in_second else min(99, 100 * pending // self.buffer_bytes)
        self._lost_in_second = False
        return pct

    def _emit_binary(self, k0: int, values: np.ndarray, backlog: int) -> None:
        """bin_hexa words, a time-stamp record after each second (event markers are not
        documented for bin_hexa and are not produced)."""
        fs, n = self.freq_hz, len(values)
        k = np.arange(k0, k0 + n)
        overflowed = self._overflowed(k0, n)
        keep = ~overflowed
        if self.drop_every:
            keep &= (k + 1) % self.drop_every != 0
        cuts = [j + 1 for j in range(n) if (k0 + j + 1) % fs == 0]
        bounds = [0, *cuts] if cuts and cuts[-1] == n else [0, *cuts, n]
        for a, b in itertools.pairwise(bounds):
            self._lost_in_second |= bool(overflowed[a:b].any())
            selected = values[a:b][keep[a:b]]
            if self.overflow == "drop" and len(self._out) >= self.buffer_bytes:
                self.samples_lost += len(selected)
                self._lost_in_second |= len(selected) > 0
            elif len(selected):
                words = encode_hexa(selected)
                self._out += words
                if self.record_sent:
                    w = np.frombuffer(words, dtype=">u2").astype(np.int64)
                    self.sent_values.extend(((w & 0xFFF) * 16.0 ** -(w >> 12)).tolist())
            if b in cuts:
                self._out += timestamp_record((k0 + b) * 1000 // fs, self._buffer_pct(backlog))

    def _token(self, value: float) -> str:
        self._line_no += 1
        if self.five_digit_every and self._line_no % self.five_digit_every == 0:
            self.five_digit_tokens += 1
            return format_value(value, 5)
        return format_value(value, 4)

    def _flush_values(self, tokens: list[str]) -> None:
        if not tokens:
            return
        self._data_lines += 1
        text = " ".join(tokens)
        tokens.clear()
        if self.drop_every and self._data_lines % self.drop_every == 0:
            return
        if self.overflow == "drop" and len(self._out) >= self.buffer_bytes:
            self.samples_lost += len(text.split())
            self._lost_in_second = True
            return
        if self.garble_every and self._data_lines % self.garble_every == 0:
            at = int(self._rng.integers(0, 2))
            text = text[:at] + "#\xff?"[int(self._rng.integers(0, 3))] + text[at + 1 :]
        elif self.record_sent:
            self.sent_values.extend(float(t[:-3] + "e" + t[-3:]) for t in text.split())
        self._say(text, prompt=False)
