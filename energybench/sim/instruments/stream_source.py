"""A Joulescope-shaped streaming source for the virtual lab (served to ``sim_stream``).

Like a JS220 it streams current, voltage and GPI lines (``gpi[0]`` = the timestamp pin) as
point samples with integer sample ids, at 2 MS/s or a lower rate (see
:data:`~energybench.instruments.stream_framing.SUPPORTED_RATES_HZ`). It listens on a local TCP
socket (``tcp://127.0.0.1:<port>``); the framing is documented in
:mod:`energybench.instruments.stream_framing` (24-byte header: magic ``EBJS``, version, frame
type, flags, GPI count, first_sample_id u64, n u32, payload bytes; DATA payload: float32
current, float32 voltage, GPI bits unpacked or packed) with the commands ``IDN?``, ``RATES?``,
``GPI?``, ``START <rate_hz> [PACKED] [RANGES]``, ``STOP``, ``RANGES?``, ``RANGE <index|auto>`` and
``RANGE?``.

Current ranges as a JS220's (:data:`RANGES_A`, widest first): in a fixed range the reading
saturates at the range's full scale (an over-range the analysis sees); ``auto`` (the power-on
default, as the JS220's) puts each sample in the smallest range that holds it, so the range
switches with the load.

Pacing in virtual time: sample ``k`` is the instant ``k / rate`` of the timeline. The source
renders whatever the timeline has made final (everything before ``now_s``) as fast as it can, in
frames of up to ``frame_samples`` (and at most 0.1 s). When it has caught up, idle time passes:
it advances the timeline itself at ``idle_speed`` × wall time (the DUT is idle meanwhile), so a
window the DUT has closed is followed by samples and the stream never starves. A producer must
therefore expect ``now_s`` to move under it: read it and append under the timeline's lock, or
clamp its times to ``max(t, timeline.now_s)``. ``idle_speed=None``
turns this off (only producers advance the timeline). With ``pace="realtime"`` (default: the
timeline's own pace) samples are sent no earlier than their wall-clock instant after START and
idle time passes at 1×.

``skew_s`` delays the current and voltage channels behind the GPI lines (a meter whose analog
path lags its digital inputs), for calibrating that skew.

Fault knobs (:class:`StreamFaults`): drop DATA frames (their ids are skipped, as a JS220
reports a sample-id gap), delay frames, close the connection in the middle of a frame, force a
range switch (:class:`RangeSwitch`) over an interval of simulation time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from energybench.errors import ConfigError
from energybench.instruments.stream_framing import (
    REPLY,
    SUPPORTED_RATES_HZ,
    encode_data,
    encode_text,
)
from energybench.sim.physics.idle_time import IdleTime
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.tcp_server import TcpServer

log = logging.getLogger(__name__)

IDENTITY = "energybench,SimJS220,SIM-JS220-0001,1.0"
MAX_FRAME_S = 0.1
SEND_TIMEOUT_S = 10.0


# the JS220's current ranges, widest first (its i_range list: 10 A, 180 mA, 18 mA, 1.8 mA,
# 180 µA, 18 µA; Joulescope UI js220.py); the index is what a DATA frame's range byte holds
RANGES_A: tuple[float, ...] = (10.0, 0.18, 0.018, 0.0018, 180e-6, 18e-6)


@dataclass(frozen=True)
class RangeSwitch:
    """Samples whose instant lies in ``[at_s, at_s + duration_s)`` of simulation time are in
    range ``to_index`` (default the widest) whatever the range set: a switch mid-window."""

    at_s: float
    duration_s: float = 1e-3
    to_index: int = 0


@dataclass
class StreamFaults:
    """Misbehaviour on demand; frame indices count DATA frames from 0 in one connection."""

    drop_frames: set[int] = field(default_factory=set)  # not sent; their ids are skipped
    delay_frames: dict[int, float] = field(default_factory=dict)  # index -> seconds before send
    close_at_frame: int | None = None  # send half of this frame, then close the connection
    range_switch: RangeSwitch | None = None  # may be set while streaming


def range_indices(current_a: np.ndarray, fixed: int | None) -> np.ndarray:
    """The range index of each sample: ``fixed``, or (None: auto) the smallest range whose
    full scale holds the sample (the widest for anything larger)."""
    if fixed is not None:
        return np.full(len(current_a), fixed, dtype=np.uint8)
    scales = -np.asarray(RANGES_A)  # ascending
    idx = np.searchsorted(scales, -np.abs(current_a), side="right") - 1
    return np.clip(idx, 0, len(RANGES_A) - 1).astype(np.uint8)


def _ceil_id(position: float) -> int:
    """Ceil of a sample position, ignoring float noise far below a sample (1e-6)."""
    return math.ceil(position - 1e-6)


BUSY_REPLY = "ERR busy: another client holds the stream source"
BUSY_WAIT_S = 1.0  # a session notices its client leaving within 0.1 s


class SimStreamSource:
    """Serve a timeline as a JS220-like sample stream over TCP (one client at a time: a second
    connection gets ``ERR busy`` and is closed, as a device one host process holds would refuse
    another)."""

    driver = "sim_stream"

    def __init__(
        self,
        timeline: Timeline,
        *,
        sample_rate_hz: int = 2_000_000,
        measurement: MeasurementModel | None = None,
        voltage_measurement: MeasurementModel | None = None,
        seed: int = 0,
        gpi: tuple[str, ...] = ("timestamp",),
        frame_samples: int = 1 << 17,
        idle_speed: float | None = 10.0,
        pace: Literal["virtual", "realtime"] | None = None,
        faults: StreamFaults | None = None,
        host: str = "127.0.0.1",
        skew_s: float = 0.0,
    ) -> None:
        if sample_rate_hz not in SUPPORTED_RATES_HZ:
            raise ConfigError(
                f"{sample_rate_hz} Hz is not a supported rate {SUPPORTED_RATES_HZ}",
                context="sample_rate_hz",
            )
        if frame_samples < 1:
            raise ConfigError("frame_samples must be >= 1", context="frame_samples")
        if not 0.0 <= skew_s <= MAX_FRAME_S:
            raise ConfigError(f"skew_s must be within 0..{MAX_FRAME_S} s", context="skew_s")
        if idle_speed is not None and not idle_speed > 0:
            raise ConfigError("idle_speed must be > 0 or None", context="idle_speed")
        missing = [name for name in gpi if name not in timeline.pin_names]
        if missing:
            raise ConfigError(f"timeline has no pin(s) {missing}", context="gpi")
        self.timeline = timeline
        self.default_rate_hz = sample_rate_hz
        # one seed knob reproduces a run: the models are copied with derived seeds
        self.current_model = dataclasses.replace(measurement or MeasurementModel(), seed=seed)
        self.voltage_model = dataclasses.replace(
            voltage_measurement or MeasurementModel(), seed=seed + 1
        )
        self.gpi = tuple(gpi)
        self.skew_s = float(skew_s)  # the current/voltage channels lag the GPI lines by this
        self.frame_samples = int(frame_samples)
        self.idle_speed = idle_speed
        self.pace = pace or timeline.pace
        self.faults = faults or StreamFaults()
        self.commands: list[str] = []  # every command received, for tests
        self.range_index: int | None = None  # None: auto-ranging (the JS220's default)
        self.frames_sent = 0
        self.samples_sent = 0
        self.streaming = False
        self._busy = False  # a client is connected
        self._client_free = threading.Condition()
        self.tcp = TcpServer(self._serve, name="sim-stream", host=host,
                             conn_timeout_s=SEND_TIMEOUT_S, nodelay=True)  # fmt: skip

    # ---- lifecycle ---------------------------------------------------------------------
    @property
    def resource(self) -> str:
        if not self.tcp.listening:
            raise ConfigError("the stream source is not started", context="resource")
        return f"tcp://{self.tcp.host}:{self.tcp.port}"

    def start(self) -> SimStreamSource:
        self.tcp.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; joins are bounded."""
        self.tcp.stop()

    def __enter__(self) -> SimStreamSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- one connection ----------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        with self._client_free:  # a client that just closed may not have been seen leaving yet
            self._client_free.wait_for(lambda: not self._busy, timeout=BUSY_WAIT_S)
            busy, self._busy = self._busy, True
        if busy:  # one client at a time: a second one must not stop the first one's stream
            with contextlib.suppress(OSError):
                conn.sendall(encode_text(REPLY, BUSY_REPLY))
            return
        try:
            _Session(self, conn).run()
        finally:  # the server closes the connection; an OSError there is the client leaving
            self.streaming = False
            with self._client_free:
                self._busy = False
                self._client_free.notify_all()


class _Session:
    """Commands and the streaming loop of one client connection."""

    def __init__(self, source: SimStreamSource, conn: socket.socket) -> None:
        self.src = source
        self.conn = conn
        self.inbox = bytearray()
        self.rate_hz = 0
        self.packed = False
        self.ranges = False  # send each sample's range index
        self.next_id = 0
        self.frame_index = 0
        speed = 1.0 if source.pace == "realtime" else source.idle_speed
        self.idle = IdleTime(source.timeline, speed) if speed is not None else None
        self.wall_start = 0.0
        self.virtual_start = 0.0

    def run(self) -> None:
        src = self.src
        while not src.tcp.stopping.is_set():
            streaming = src.streaming
            if not self._poll_commands(0.0 if streaming else 0.1):
                return
            if src.streaming and not self._stream_step():
                return

    def _reply(self, text: str) -> None:
        self.conn.sendall(encode_text(REPLY, text))

    def _poll_commands(self, timeout_s: float) -> bool:
        """Handle complete command lines; False when the client closed the connection."""
        ready, _, _ = select.select([self.conn], [], [], timeout_s)
        if ready:
            data = self.conn.recv(4096)
            if not data:
                return False
            self.inbox += data
        while b"\n" in self.inbox:
            line, _, rest = bytes(self.inbox).partition(b"\n")
            self.inbox = bytearray(rest)
            self._handle(line.decode("ascii", errors="replace").strip())
        return True

    def _handle(self, line: str) -> None:
        src = self.src
        src.commands.append(line)
        words = line.split()
        head = words[0].upper() if words else ""
        if head == "IDN?":
            self._reply(IDENTITY)
        elif head == "RATES?":
            self._reply(",".join(str(r) for r in SUPPORTED_RATES_HZ))
        elif head == "GPI?":
            self._reply(str(len(src.gpi)))
        elif head == "START":
            self._start(words[1:])
        elif head == "RANGES?":
            self._reply(",".join(f"{r:g}" for r in RANGES_A))
        elif head == "RANGE?":
            self._reply("auto" if src.range_index is None else str(src.range_index))
        elif head == "RANGE":
            self._set_range(words[1:])
        elif head == "STOP":
            src.streaming = False
            self._reply(f"STOPPED {self.next_id}")
        else:
            self._reply(f"ERR unknown command {line!r}")

    def _set_range(self, args: list[str]) -> None:
        src = self.src
        value = args[0].lower() if args else ""
        if src.streaming:
            self._reply("ERR RANGE while streaming")
        elif value == "auto":
            src.range_index = None
            self._reply("OK auto")
        elif value.isdigit() and int(value) < len(RANGES_A):
            src.range_index = int(value)
            self._reply(f"OK {value}")
        else:
            self._reply(f"ERR bad range {value!r} (0..{len(RANGES_A) - 1} or auto)")

    def _start(self, args: list[str]) -> None:
        src = self.src
        if src.streaming:
            self._reply("ERR already streaming")
            return
        try:
            rate = int(args[0]) if args else src.default_rate_hz
        except ValueError:
            self._reply(f"ERR bad rate {args[0]!r}")
            return
        if rate not in SUPPORTED_RATES_HZ:
            self._reply(f"ERR unsupported rate {rate}")
            return
        self.rate_hz = rate
        flags = {a.upper() for a in args[1:]}
        self.packed = "PACKED" in flags
        self.ranges = "RANGES" in flags
        now = src.timeline.now_s
        self.next_id = _ceil_id(now * rate)
        if self.idle is not None:
            self.idle.restart()
        self.wall_start = time.monotonic()
        self.virtual_start = self.next_id / rate
        src.streaming = True
        self._reply(f"OK {self.next_id}")

    # ---- streaming ---------------------------------------------------------------------
    def _final_stop_id(self) -> int:
        """One past the last sample id the timeline has made final (k / fs < now_s)."""
        timeline = self.src.timeline
        stop = _ceil_id(timeline.now_s * self.rate_hz)
        if self.src.pace == "realtime":
            # sample k leaves no earlier than its instant; on a realtime timeline that instant
            # is the timeline's wall clock (a per-session anchor would drift from it)
            wall_t = timeline.wall_time_s() if timeline.pace == "realtime" else (
                self.virtual_start + (time.monotonic() - self.wall_start)
            )  # fmt: skip
            stop = min(stop, _ceil_id(wall_t * self.rate_hz))
        return stop

    def _stream_step(self) -> bool:
        src = self.src
        frame = max(1, min(src.frame_samples, int(self.rate_hz * MAX_FRAME_S)))
        available = self._final_stop_id() - self.next_id
        if available <= 0:
            self._idle(frame)
            return True
        return self._send_frame(min(available, frame))

    def _idle(self, frame: int) -> None:
        """Caught up: let idle time pass (at idle_speed × wall, or 1× in realtime)."""
        timeline, idle = self.src.timeline, self.idle
        if idle is None:
            timeline.wait_until(timeline.now_s + frame / self.rate_hz, timeout_s=0.05)
            return
        # never run ahead of the stream by more than one frame (rendering may be the bottleneck)
        cap = (self.next_id + frame) / self.rate_hz
        target = idle.target_s()
        if target < cap:
            time.sleep(min(max((cap - target) / idle.speed, 0.001), 0.05))
            target = idle.target_s()
        idle.advance_to(min(target, cap))

    def _ranges(self, first: int, current: np.ndarray) -> np.ndarray | None:
        """The range of each sample (a forced switch applied); a reading saturates at its
        range's full scale (``current`` is clipped in place)."""
        src = self.src
        if src.range_index is None and not self.ranges:
            return None
        ranges = range_indices(current, src.range_index)
        switch = src.faults.range_switch
        if switch is not None:
            a = _ceil_id(switch.at_s * self.rate_hz) - first
            b = _ceil_id((switch.at_s + switch.duration_s) * self.rate_hz) - first
            ranges[max(a, 0) : max(b, 0)] = switch.to_index
        if src.range_index is not None or switch is not None:
            full_scale = np.asarray(RANGES_A, dtype=np.float32)[ranges]
            np.clip(current, -full_scale, full_scale, out=current)
        return ranges if self.ranges else None

    def _send_frame(self, n: int) -> bool:
        src, faults, index = self.src, self.src.faults, self.frame_index
        first = self.next_id
        self.frame_index += 1
        self.next_id += n
        if index in faults.drop_frames:
            log.debug("fault: dropping frame %d [%d, %d)", index, first, first + n)
            return True
        delay = faults.delay_frames.get(index)
        if delay:
            time.sleep(delay)
        r = src.timeline.render(first / self.rate_hz, self.rate_hz, n, kind="point")
        analog = r
        if src.skew_s:  # the analog channels show what happened skew_s earlier
            t0 = max(0.0, first / self.rate_hz - src.skew_s)
            analog = src.timeline.render(t0, self.rate_hz, n, kind="point")
        current = src.current_model.apply(analog.current_a).astype(np.float32)
        voltage = src.voltage_model.apply(analog.voltage_v).astype(np.float32)
        ranges = self._ranges(first, current)
        pins = [r.pins[g] for g in src.gpi]
        parts = encode_data(first, current, voltage, pins, self.packed, ranges)
        if faults.close_at_frame == index:
            data = b"".join(bytes(p) for p in parts)
            self.conn.sendall(data[: len(data) // 2])
            log.debug("fault: closing the connection in the middle of frame %d", index)
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            return False
        for part in parts:
            self.conn.sendall(part)
        src.frames_sent += 1
        src.samples_sent += n
        return True
