"""A simulated Qoitech Otii Arc (or Ace) behind the Otii TCP JSON server (served to ``otii``).

Wire format as the real server (docs/instruments/otii.md#protocol): one JSON object per message,
``\\r\\n`` terminated; requests ``{"type":"request","cmd":…,"data":{…},"trans_id":"<n>"}``; replies
``{"type":"response"|"error","cmd":…,"data":{…},"trans_id":…}``, errors with an ``errorcode``
("Invalid command", "Missing key in request", "Invalid key value", "No license", …).

Modelled subset: a greeting ``information`` message on connect [D: the real client reads one
message after connecting, its content is not documented]; login and licences
(``otii_is_logged_in``/``login``/``has_license``/``get_licenses``/``reserve_license``/
``return_license``; without a reserved Automation licence every device, project and recording
command answers "No license"); ``otii_get_devices`` (one device); ``arc_*`` supply commands
(``arc_set_main`` applies the output to the Timeline via ``set_supply``); channels ``mc``, ``mv``
(1 kS/s on the Arc, as Qoitech documents), ``mp`` and ``i1``/``i2`` (timeline pins, exact
transition timestamps); projects and recordings
(:mod:`energybench.sim.instruments.otii.otii_recording`).
Not modelled: the max-current cut-off, battery
emulation, UART, the expansion port.

Virtual time: while a recording runs, each analog ``recording_get_channel_data_count`` lets
idle time pass at ``idle_speed`` × wall time (the DUT is idle meanwhile), as a real recording
keeps growing; other requests see the timeline as it is.

Fault knobs (:class:`OtiiFaults`, by command name, mutable while serving): delay or withhold
a reply, close the connection, answer with an error, ``chatter`` (information + progress
messages before every reply) and ``gpi_delay_s`` (GPI transitions reach the server later than
the current samples of the same instant).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from energybench.errors import ConfigError
from energybench.sim.instruments.otii.otii_commands import (
    ACE_SAMPLE_RATES_HZ,
    HANDLERS,
    OPEN_COMMANDS,
    Failure,
    invalid,
    need,
)
from energybench.sim.instruments.otii.otii_recording import SimRecording
from energybench.sim.physics.idle_time import IdleTime
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.tcp_server import TcpServer

log = logging.getLogger(__name__)

MODELS = ("Arc", "Ace")
CHANNELS = ("mc", "mv", "mp", "i1", "i2")
ARC_VOLTAGE_RATE_HZ = 1000
SEND_TIMEOUT_S = 10.0
MAX_IDLE_STEP_S = 0.5


@dataclass
class OtiiFaults:
    """Misbehaviour on demand, keyed by command name."""

    reply_delay_s: dict[str, float] = field(default_factory=dict)
    withhold: set[str] = field(default_factory=set)  # never answered
    close_on: set[str] = field(default_factory=set)  # connection closed instead of a reply
    error_on: dict[str, str] = field(default_factory=dict)  # cmd -> errorcode of an error reply
    chatter: bool = False  # information and progress messages before each reply
    gpi_delay_s: float = 0.0  # GPI transitions become visible this long after the samples


class SimOtiiArc:
    """Serve a timeline as an Otii Arc/Ace over the Otii TCP JSON protocol."""

    driver = "otii"

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        voltage_measurement: MeasurementModel | None = None,
        seed: int = 0,
        sample_rate_hz: int = 4000,
        model: str = "Arc",
        gpi: dict[str, str] | None = None,
        logged_in: bool = True,
        idle_speed: float = 10.0,
        faults: OtiiFaults | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if model not in MODELS:
            raise ConfigError(f"model must be one of {MODELS}, got {model!r}", context="model")
        if model == "Ace" and sample_rate_hz not in ACE_SAMPLE_RATES_HZ:
            raise ConfigError(f"Ace rates are {ACE_SAMPLE_RATES_HZ}", context="sample_rate_hz")
        if not sample_rate_hz > 0 or not idle_speed > 0:
            raise ConfigError("sample_rate_hz and idle_speed must be > 0", context="options")
        gpi = {"i1": "timestamp"} if gpi is None else dict(gpi)
        bad = [p for ch, p in gpi.items() if ch not in ("i1", "i2") or p not in timeline.pin_names]
        if bad:
            raise ConfigError(f"gpi maps unknown channels or pins: {gpi}", context="gpi")
        self.timeline = timeline
        self.model = model
        self.device_id = f"sim-{model.lower()}-0001"
        self.sample_rate_hz = int(sample_rate_hz)
        self.current_model = dataclasses.replace(measurement or MeasurementModel(), seed=seed)
        self.voltage_model = dataclasses.replace(
            voltage_measurement or MeasurementModel(), seed=seed + 1
        )
        self.gpi = gpi
        self.idle_speed = 1.0 if timeline.pace == "realtime" else idle_speed
        self.faults = faults or OtiiFaults()
        self.logged_in = logged_in
        self.licenses = [{"id": 4711, "type": "Automation", "available": True, "reserved_to": "",
                          "hostname": "", "addons": []}]  # fmt: skip
        self.commands: list[str] = []  # every command name received, for tests
        self.requests: list[dict] = []
        self.enabled: set[str] = set()
        self.range = "high"
        self.main_voltage_v = 0.0
        self.max_current_a: float | None = None
        self.project_id = -1
        self.recordings: list[SimRecording] = []
        self.tcp = TcpServer(self._serve, name="sim-otii", host=host,
                             conn_timeout_s=SEND_TIMEOUT_S, nodelay=True)  # fmt: skip
        self._lock = threading.RLock()
        self._idle = IdleTime(timeline, self.idle_speed)

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def resource(self) -> str:
        if not self.tcp.listening:
            raise ConfigError("the Otii simulator is not started", context="resource")
        return f"otii://{self.tcp.host}:{self.tcp.port}"

    @property
    def recording(self) -> SimRecording | None:
        return self.recordings[-1] if self.recordings else None

    def start(self) -> SimOtiiArc:
        self.tcp.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; joins are bounded."""
        self.tcp.stop()

    def __enter__(self) -> SimOtiiArc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- one connection ------------------------------------------------------------------
    def _send(self, conn: socket.socket, message: dict) -> None:
        conn.sendall((json.dumps(message, separators=(",", ":")) + "\r\n").encode("utf-8"))

    def _serve(self, conn: socket.socket) -> None:
        inbox = b""
        self._send(conn, {"type": "information", "info": "connected",
                          "data": {"server": "energybench SimOtiiArc"}})  # fmt: skip
        while not self.tcp.stopping.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            inbox += data
            while b"\n" in inbox:
                line, _, inbox = inbox.partition(b"\n")
                if line.strip() and not self._handle_line(conn, line.strip()):
                    return

    def _handle_line(self, conn: socket.socket, line: bytes) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            request = json.loads(line.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._send(conn, {"type": "error", "errorcode": "Not able to parse request",
                              "data": {"parse_error": str(exc), "data": line.decode(
                                  "utf-8", "replace")}})  # fmt: skip
            return True
        cmd = str(request.get("cmd", ""))
        trans_id = request.get("trans_id")
        faults = self.faults
        with self._lock:
            self.commands.append(cmd)
            self.requests.append(request)
        if cmd in faults.close_on:
            log.debug("fault: closing the connection on %s", cmd)
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            return False
        if cmd in faults.withhold:
            log.debug("fault: withholding the reply to %s", cmd)
            return True
        if faults.reply_delay_s.get(cmd):
            time.sleep(faults.reply_delay_s[cmd])
        reply: dict = {"type": "response", "cmd": cmd, "trans_id": trans_id}
        try:
            if cmd in faults.error_on:
                raise Failure(faults.error_on[cmd], {"message": "injected fault"})
            data = request.get("data") or {}
            if not isinstance(data, dict):
                raise invalid("data", data)
            with self._lock:
                result = self._dispatch(cmd, data)
            if result is not None:
                reply["data"] = result
        except Failure as failure:
            reply = {"type": "error", "cmd": cmd, "errorcode": failure.errorcode,
                     "data": failure.data, "trans_id": trans_id}  # fmt: skip
        if faults.chatter:
            self._send(conn, {"type": "information", "info": "sim chatter", "data": {}})
            self._send(conn, {"type": "progress", "cmd": cmd, "trans_id": trans_id,
                              "data": {"progress": 50}})  # fmt: skip
        self._send(conn, reply)
        return True

    # ---- commands ------------------------------------------------------------------------
    def _dispatch(self, cmd: str, data: dict) -> dict | None:
        handler = HANDLERS.get(cmd)
        if handler is None:
            raise Failure("Invalid command")
        if cmd not in OPEN_COMMANDS:
            if not self.logged_in:
                raise Failure("Not logged in")
            if not any(lic["reserved_to"] for lic in self.licenses):
                raise Failure("No license")
        if cmd.startswith("arc_") and need(data, "device_id", str) != self.device_id:
            raise Failure("Device not connected", {"device_id": data["device_id"]})
        if cmd.startswith("project_") and need(data, "project_id", int) != self.project_id:
            raise Failure("Project does not exist")
        return handler(self, data)

    def new_recording(self, pins: dict[str, str], analog: tuple[str, ...]) -> SimRecording:
        rec = SimRecording(len(self.recordings) + 1, self.timeline, self.sample_rate_hz,
                           self.current_model, self.voltage_model, pins, analog,
                           self.channel_rate_hz("mv"))  # fmt: skip
        self.recordings.append(rec)
        self._idle.restart()
        return rec

    def channel_rate_hz(self, channel: str) -> float:
        """The Arc samples voltage at 1 kS/s while current runs at 4 kS/s (Qoitech blog, "Otii
        and short pulses"); the Ace's channels share its settable rate [U]."""
        if self.model == "Arc" and channel == "mv":
            return ARC_VOLTAGE_RATE_HZ
        return self.sample_rate_hz

    def _recording_for(self, data: dict) -> SimRecording:
        rid = need(data, "recording_id", int)
        for rec in self.recordings:
            if rec.recording_id == rid:
                return rec
        raise invalid("recording_id", rid)

    def _channel(self, data: dict, rec: SimRecording | None = None) -> str:
        channel = need(data, "channel", str)
        if channel not in CHANNELS or (rec is not None and channel not in rec.analog
                                       and channel not in rec.pins):  # fmt: skip
            raise invalid("channel", channel)
        return channel

    def pass_idle_time(self, rec: SimRecording) -> None:
        """A running recording keeps growing: idle time passes at idle_speed × wall time
        (restarted whenever a producer moved the timeline itself), at most
        ``MAX_IDLE_STEP_S`` per call; at realtime pace up to the wall clock."""
        if rec.running:
            target = self._idle.target_s()
            if self.timeline.pace != "realtime":
                target = min(target, self.timeline.now_s + MAX_IDLE_STEP_S)
            self._idle.advance_to(target)
