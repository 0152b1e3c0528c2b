"""Qoitech Otii Arc / Ace over the Otii TCP JSON API (docs/instruments/otii.md), no vendor package.

One device: :class:`PowerSupply` (main output; bench limits checked before anything is sent,
the max current set before the output may go on) and :class:`StreamingMeter` built on a
recording: :meth:`start` starts a project recording, :meth:`chunks` polls the channel data
counts and fetches ``mc`` (and ``mv``) in chunks as :class:`TraceChunk` with sample ids from
``timestamp / interval``, plus the GPI channel (``i1`` or ``i2``) as timestamped transitions
turned into a digital line on the same sample grid (sync mode ``digital_channel``, see
:class:`~energybench.instruments.otii_json.DigitalLine`). Samples are reported as ``"bin"``
averages [D]. The exact transition times and the Otii's own energy statistics stay available
(:meth:`edge_times_s`, :meth:`recorded_energy_j`) to cross-check the integral.

While recording, the newest ``digital_lag_s`` of samples is held back until the next poll, in
case GPI transitions reach the server later than the current samples [U]; the rest is delivered
at :meth:`stop`. :meth:`stop` may be called from another thread while :meth:`chunks` iterates.

Why our own JSON client and not Qoitech's ``otii-tcp-client`` (MIT, 1.0.13), which the tests run
against the simulator as a conformance check: it reads channel data with no timeout at all
(``send_and_receive(request, None)``: a stalled server blocks forever, against our bounded
waits), raises bare exceptions (a stale reply after a timeout is a fatal "Transaction id
mismatch", with no resynchronisation), prints to stdout, and numbers transactions in a process
global; its data path is no faster: draining one recording of 60 s at 4 kS/s from the simulator
took 10.8 s here (22 kS/s, mc+mv+i1) against 13.9 s (17 kS/s) with the official client
(``python bench/otii_fetch.py``). The wire commands, replies and recording flow are the same as
the official client's (tests/test_otii_official_client.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading

from energybench.errors import (
    ConfigError,
    InstrumentError,
)
from energybench.instruments.capabilities import (
    InstrumentInfo,
    StreamSettings,
    StreamStats,
    SyncMode,
)
from energybench.instruments.catalogue import supply_check
from energybench.instruments.otii_json import DigitalLine, OtiiJsonClient
from energybench.instruments.otii_stream import CHUNK_SAMPLES, OtiiRecordingStream
from energybench.instruments.shutdown import (
    CONFIRM_STEP,
    ShutdownReport,
    confirm_output_off,
    run_shutdown_steps,
)
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

DEFAULT_PORT = 1905
DEVICE_TYPES = ("Arc", "Ace")
AUTOMATION_LICENSES = ("Automation", "Admin", "All", "Enterprise")  # types carrying Automation
_RESOURCE = re.compile(r"^(?:otii|tcp)://(?P<host>[^:/]+)(?::(?P<port>\d+))?/?$")


class OtiiArc(OtiiRecordingStream):
    """An Otii Arc or Ace: main-output supply and recording-based streaming meter."""

    kind = "supply+meter"
    max_channel = 1
    sync_modes: tuple[SyncMode, ...] = ("digital_channel",)

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        device_id: str | None = None,
        timeout_s: float = 5.0,
        shutdown_timeout_s: float = 2.0,
        chunk_samples: int = CHUNK_SAMPLES,
        poll_s: float = 0.02,
        digital_lag_s: float = 0.05,
        licensing: str = "auto",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if channel != 1:
            raise ConfigError(f"the Otii has one main channel, got {channel}", context="channel")
        if licensing not in ("auto", "manual"):
            raise ConfigError("licensing must be 'auto' or 'manual'", context="licensing")
        if chunk_samples < 1 or poll_s <= 0 or digital_lag_s < 0:
            raise ConfigError(
                "chunk_samples >= 1, poll_s > 0, digital_lag_s >= 0", context="options"
            )
        self.transport = transport
        self.client = OtiiJsonClient(transport, timeout_s=timeout_s)
        self.limits = limits
        self.supply_check = supply_check("otii", limits)
        self.device_id = device_id
        self.shutdown_timeout_s = shutdown_timeout_s
        self.chunk_samples = int(chunk_samples)
        self.poll_s = poll_s
        self.digital_lag_s = digital_lag_s
        self.licensing = licensing
        self._credentials = (username, password)
        self.info: InstrumentInfo | None = None
        self.settings: StreamSettings | None = None
        self.stats = StreamStats()
        self.project_id: int | None = None
        self.recording_id: int | None = None
        self.digital: DigitalLine | None = None
        self._reserved: list[int] = []
        self._logged_in_here = False
        self._voltage_v: float | None = None
        self._max_current_a: float | None = None
        self._rate_hz = 0.0
        self._line = "i1"
        self._measure_voltage = True
        self._v_per = 1  # current samples per voltage sample (the Arc: 4 kS/s over 1 kS/s)
        self._recording = False
        self._stop_sent = False
        self._reading = False
        self._reader_thread: int | None = None
        self._index = 0
        self._digital_index = 0
        self._next_id: int | None = None
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._state = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits | None = None, **kw) -> OtiiArc:
        """Connect to ``otii://host[:port]`` (default port 1905), reserve the licence, identify."""
        from energybench.transport.socket_tcp import SocketTransport

        match = _RESOURCE.match(resource)
        if not match:
            raise ConfigError(f"expected otii://host[:port], got {resource!r}", context="resource")
        transport = SocketTransport(
            match["host"],
            int(match["port"] or DEFAULT_PORT),
            timeout_s=kw.get("timeout_s", 5.0),
            write_termination="\r\n",
            read_termination="\r\n",
            encoding="utf-8",
        )
        try:
            driver = cls(transport, limits, **kw)
        except BaseException:
            transport.close()
            raise
        try:
            driver.connect()
            driver.identify()
        except BaseException:
            driver.close()  # returns a licence reserved before the failure
            raise
        return driver

    @property
    def resource(self) -> str:
        return self.transport.resource

    def _request(self, cmd: str, data: dict | None = None, timeout_s: float | None = None) -> dict:
        return self.client.request(cmd, data, timeout_s)

    def _device(self, data: dict | None = None) -> dict:
        if self.device_id is None:
            self.identify()
        return {"device_id": self.device_id, **(data or {})}

    # ---- session -------------------------------------------------------------------------
    def connect(self) -> None:
        """Log in if needed (credentials or OTII_USERNAME/OTII_PASSWORD) and hold an
        Automation licence; nothing with ``licensing="manual"``."""
        if self.licensing == "manual":
            return
        if not self._request("otii_is_logged_in").get("logged_in", False):
            user, password = self._credentials
            user = user or os.environ.get("OTII_USERNAME")
            password = password or os.environ.get("OTII_PASSWORD")
            if not (user and password):
                raise InstrumentError(
                    "the Otii server is not logged in: log in in the Otii app or pass "
                    "username/password (or OTII_USERNAME/OTII_PASSWORD)",
                    context=self.resource,
                )
            self._request("otii_login", {"password": password, "username": user})
            self._logged_in_here = True
        if self._request("otii_has_license", {"license_type": "Automation"}).get("has_license"):
            return
        licenses = self._request("otii_get_licenses").get("licenses", [])
        for lic in licenses:
            if (
                lic.get("available")
                and not lic.get("reserved_to")
                and (lic.get("type") in AUTOMATION_LICENSES)
            ):
                self._request("otii_reserve_license", {"license_id": lic["id"]})
                self._reserved.append(lic["id"])
                return
        raise InstrumentError(
            "no Automation licence is available to reserve",
            context=self.resource,
            licenses=licenses,
        )

    def identify(self) -> InstrumentInfo:
        """Find the device (the first Arc/Ace, or ``device_id``) and read its versions."""
        devices = self._request("otii_get_devices", {"timeout": 3}, timeout_s=10.0)
        found = [d for d in devices.get("devices", []) if d.get("type") in DEVICE_TYPES]
        if self.device_id is not None:
            found = [d for d in found if d.get("device_id") == self.device_id]
        if not found:
            raise InstrumentError(
                f"no Otii Arc/Ace {self.device_id or ''} connected to the server".replace(
                    "  ", " "
                ),
                context=self.resource,
                devices=devices.get("devices", []),
            )
        device = found[0]
        self.device_id = str(device["device_id"])
        version = self._request("arc_get_version", {"device_id": self.device_id})
        self.info = InstrumentInfo(
            "Qoitech",
            str(device["type"]),
            str(device.get("name", "")),
            str(version.get("fw_version", "")),
            self.resource,
        )
        self.supply_check.use_model(self.info.model)  # Arc or Ace
        return self.info

    # ---- PowerSupply ---------------------------------------------------------------------
    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        self._request("arc_set_main_voltage", self._device({"value": float(voltage_v)}))
        self._voltage_v = float(voltage_v)

    def set_current_limit(self, current_a: float) -> None:
        """The Otii's max current: the main output cuts off above it."""
        current_a = self.supply_check.current_limit(current_a)
        self._request("arc_set_max_current", self._device({"value": float(current_a)}))
        self._max_current_a = float(current_a)

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._max_current_a is not None, enabled, f"{self.resource} output")
        self._request("arc_set_main", self._device({"enable": bool(enabled)}))

    def output_enabled(self) -> bool:
        return bool(self._request("arc_get_main", self._device()).get("value"))

    # ---- shutdown ------------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Stop the recording, main output off (acknowledged, then read back with
        ``arc_get_main``); idempotent, never raises."""
        timeout = self.shutdown_timeout_s
        steps = []
        if self._recording and not self._stop_sent:
            steps.append(
                (
                    "stop recording",
                    lambda: self._request(
                        "project_stop_recording", {"project_id": self.project_id}, timeout
                    ),
                )
            )
        steps.append(
            (
                "main output off",
                lambda: self._request("arc_set_main", self._device({"enable": False}), timeout),
            )
        )
        steps.append((CONFIRM_STEP, confirm_output_off(self, self.resource)))
        report = run_shutdown_steps(self.resource, steps, output=("main output off", CONFIRM_STEP))
        self._stop_sent = self._stop_sent or self._recording
        self._recording = False
        self._stopped.set()
        return report

    def close(self) -> None:
        """Return licences reserved here, log out if logged in here, close; never raises."""
        if self._closed:
            return
        self._closed = True
        for lid in self._reserved:
            with contextlib.suppress(Exception):
                self._request("otii_return_license", {"license_id": lid}, self.shutdown_timeout_s)
        if self._logged_in_here:
            with contextlib.suppress(Exception):
                self._request("otii_logout", None, self.shutdown_timeout_s)
        with contextlib.suppress(Exception):
            self.transport.close()

    def __enter__(self) -> OtiiArc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.safe_shutdown()
        self.close()
