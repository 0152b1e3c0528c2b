"""Nordic Power Profiler Kit II (PPK2) driver: source meter or ampere meter, 100 kS/s stream.

USB CDC serial (pyserial; the serial transport locks a local port against other openers). The
protocol is in :mod:`energybench.instruments.nordic_ppk2_protocol` (docs/instruments/ppk2.md).
On connect the driver stops a stream left running, reads the device's metadata and converts
every ADC word with that device's own per-range calibration. Each sample keeps its range
(``current_range`` of the chunks; the full scale of each range in the stream settings), so the
PPK2's automatic range switches stay visible; the vendor app's host-side spike filter (which
reshapes the samples after every switch) is not applied. The logic inputs D0-D7 are the digital
lines ``d0``..``d7`` (sync mode ``digital_channel``). A counter jump is recorded as lost samples
(a gap in the sample ids), never filled. The PPK2 has no query commands: the output state is
the one commanded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from energybench.analysis.trace import TraceChunk
from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
)
from energybench.instruments import nordic_ppk2_protocol as proto
from energybench.instruments.capabilities import (
    InstrumentInfo,
    StreamRequest,
    StreamSettings,
    StreamStats,
    SyncMode,
    SyncSpec,
)
from energybench.instruments.catalogue import supply_check
from energybench.instruments.shutdown import ShutdownReport, run_shutdown_steps
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

VENDOR, MODEL = "Nordic Semiconductor", "PPK2"
MODES = ("source", "ampere")
CHUNK_SAMPLES = 10_000  # 0.1 s
READ_BYTES = 1 << 16
DRAIN_QUIET_S = 0.05  # after AverageStop: the stream has ended once this long passes silently
DRAIN_LIMIT_S = 2.0
OFF_STEP = "DeviceRunningSet 0 (DUT off; the PPK2 has no read-back)"


class NordicPpk2:
    """The PPK2: :class:`PowerSupply` (source-meter mode) and :class:`StreamingMeter`."""

    kind = "supply+meter"
    sync_modes: tuple[SyncMode, ...] = ("digital_channel",)
    identity_pattern = rf"^{VENDOR},{MODEL}$"

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        mode: str = "source",
        external_voltage_v: float | None = None,
        metadata_timeout_s: float = 2.0,
        serial_number: str = "",
    ) -> None:
        if channel != 1:
            raise ConfigError("the PPK2 has one channel", context="channel")
        if mode not in MODES:
            raise ConfigError(f"mode must be 'source' or 'ampere', got {mode!r}", context="mode")
        if mode == "source" and external_voltage_v is not None:
            raise ConfigError(
                "external_voltage_v is for ampere-meter mode (in source mode the PPK2's own "
                "set-point is the voltage)",
                context="external_voltage_v",
            )
        if external_voltage_v is not None and not 0 < external_voltage_v <= 5.0:
            raise ConfigError(
                f"must be in (0, 5] V, got {external_voltage_v!r}", context="external_voltage_v"
            )
        self.transport = transport
        self.limits = limits
        self.supply_check = supply_check("nordic_ppk2", limits)  # 0.8-5.0 V from the profile
        self.mode = mode
        self.external_voltage_v = external_voltage_v
        self.metadata_timeout_s = metadata_timeout_s
        self.serial_number = serial_number
        self.calibration: proto.Calibration | None = None
        self.info: InstrumentInfo | None = None
        self._voltage_mv: int | None = None
        self._current_limit_a: float | None = None
        self._running = False
        self._settings: StreamSettings | None = None
        self._decoder: proto.WordDecoder | None = None
        self._streaming = False
        self._stop_sent_at: float | None = None
        self._drained = threading.Event()
        self._drained.set()

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits | None = None, **kw) -> NordicPpk2:
        """Open the port (exclusively on POSIX), stop a stale stream, read the metadata."""
        from energybench.transport import open_transport

        timeout_s = kw.pop("timeout_s", 2.0)
        transport = open_transport(resource, timeout_s=timeout_s)  # local ports: exclusive
        try:
            driver = cls(transport, limits, serial_number=_usb_serial_number(resource), **kw)
            driver.connect()
        except BaseException:  # a refused option or a failed connect must not hold the port
            with contextlib.suppress(Exception):
                transport.close()
            raise
        return driver

    @property
    def resource(self) -> str:
        return self.transport.resource

    def _send(self, command: bytes) -> None:
        log.debug("%s << %s", self.resource, command.hex(" "))
        self.transport.write_raw(command)

    # ---- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        """Stop a stream an earlier session left running, read the calibration, set the mode
        (in ampere-meter mode the DUT path is closed at once, as the vendor app does)."""
        self._send(bytes((proto.AVERAGE_STOP,)))
        self.transport.clear()
        self.calibration = self.read_metadata()
        self._send(proto.set_power_mode(self.mode == "source"))
        if self.mode == "ampere":
            self._send(proto.device_running(True))
            self._running = True
        else:
            self._running = False  # unknown before; make it known
            self._send(proto.device_running(False))

    def read_metadata(self) -> proto.Calibration:
        """GetMetadata: the device's calibration (bounded wait for its ``END``)."""
        self._send(bytes((proto.GET_METADATA,)))
        deadline = time.monotonic() + self.metadata_timeout_s
        text = bytearray()
        while proto.METADATA_END not in text:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeoutError(
                    f"no complete metadata (END) within {self.metadata_timeout_s:g} s; "
                    f"got {bytes(text[:60])!r}",
                    context=f"{self.resource} GetMetadata",
                )
            with contextlib.suppress(InstrumentTimeoutError):
                text += self.transport.read_some(4096, min(remaining, 0.25))
        self.transport.clear()  # the line end after END
        calibration = proto.parse_metadata(_metadata_lines(text.decode("latin-1")))
        log.info(
            "%s: PPK2 metadata read (calibrated %s, hw %s, defaults for %s)",
            self.resource,
            calibration.fields.get("Calibrated", "?"),
            calibration.fields.get("HW", "?"),
            ", ".join(calibration.defaulted) or "nothing",
        )
        return calibration

    def identify(self) -> InstrumentInfo:
        """The PPK2 has no identity command: vendor and model are fixed, the serial number is
        the USB descriptor's (empty where the port has none)."""
        if self.calibration is None:
            self.calibration = self.read_metadata()
        self.info = InstrumentInfo(VENDOR, MODEL, self.serial_number, "", self.resource)
        return self.info

    # ---- PowerSupply ---------------------------------------------------------------------
    def _source_only(self, what: str) -> None:
        if self.mode != "source":
            raise ConfigError(
                f"{what}: in ampere-meter mode the PPK2 sources nothing (the DUT's own supply "
                "sets the voltage); use mode = 'source'",
                context="supply",
            )

    def set_voltage(self, voltage_v: float) -> None:
        """RegulatorSet, whole millivolts within 0.8-5.0 V and the bench limit."""
        self._source_only("set_voltage")
        voltage_v = self.supply_check.voltage(voltage_v)
        millivolts = round(voltage_v * 1000)
        if abs(millivolts - voltage_v * 1000) > 1e-6:
            raise ConfigError(
                f"the PPK2 sets whole millivolts, got {voltage_v!r} V", context="supply.voltage_v"
            )
        self._send(proto.regulator_set(millivolts))
        self._voltage_mv = millivolts

    def set_current_limit(self, current_a: float) -> None:
        """The PPK2 has no programmable current limit: checked against the bench, recorded."""
        self._source_only("set_current_limit")
        self._current_limit_a = self.supply_check.current_limit(current_a)

    def set_output(self, enabled: bool) -> None:
        """DeviceRunningSet: the DUT power switch."""
        if enabled and self.mode == "source":
            require_current_limit(self._current_limit_a is not None, enabled, self.resource)
            if self._voltage_mv is None:
                raise SafetyLimitError(
                    "set the voltage before switching the DUT on (the PPK2 would apply whatever "
                    "it was left at); nothing was sent",
                    context="supply.voltage_v",
                )
        self._send(proto.device_running(enabled))
        self._running = enabled

    def output_enabled(self) -> bool:
        """The state last commanded (the PPK2 cannot be asked)."""
        return self._running

    # ---- StreamingMeter ------------------------------------------------------------------
    def _voltage_v(self) -> float:
        if self.mode == "source":
            if self._voltage_mv is None:
                raise ConfigError("set_voltage() before streaming in source mode", context="supply")
            return self._voltage_mv / 1000
        if self.external_voltage_v is None:
            raise ConfigError(
                "ampere-meter mode: the PPK2 measures no voltage; give the DUT rail's voltage "
                "as [meter] options external_voltage_v",
                context="external_voltage_v",
            )
        return self.external_voltage_v

    def native_sample_rate_hz(self, sync: SyncSpec | None = None) -> float:
        """The PPK2's one rate, 100 kS/s."""
        return float(proto.SAMPLE_RATE_HZ)

    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        if request.sample_rate_hz != proto.SAMPLE_RATE_HZ:
            raise ConfigError(
                f"the PPK2 streams at 100000 Hz only, got {request.sample_rate_hz:g} "
                "(averaging to a lower rate is the analysis' job, not the meter's)",
                context="sample_rate_hz",
            )
        if request.current_range_a is not None:
            raise ConfigError(
                "the PPK2 switches its ranges by itself (no documented command fixes one); "
                "each sample's range is recorded instead",
                context="current_range_a",
            )
        sync = request.sync
        if sync is not None and (
            sync.mode != "digital_channel" or sync.line not in proto.DIGITAL_NAMES
        ):
            raise ConfigError(
                f"the PPK2 samples the timestamp pin on a logic input: sync mode "
                f"'digital_channel', line one of {', '.join(proto.DIGITAL_NAMES)}; got "
                f"{sync.mode!r}, {sync.line!r}",
                context="sync",
            )
        if not hasattr(self.transport, "read_some"):
            raise ConfigError(
                f"{type(self.transport).__name__} cannot read a binary stream", context="resource"
            )
        calibration = self._calibration()
        self._settings = StreamSettings(
            sample_rate_hz=float(proto.SAMPLE_RATE_HZ),
            sample_kind="point",
            digital_names=proto.DIGITAL_NAMES,
            voltage_v=self._voltage_v(),
            current_ranges_a=calibration.full_scale_a(),
        )
        return self._settings

    def _calibration(self) -> proto.Calibration:
        if self.calibration is None:
            self.calibration = self.read_metadata()
        return self.calibration

    @property
    def stats(self) -> StreamStats:
        """Samples received and lost (counter jumps) in the current or last stream."""
        if self._decoder is None:
            return StreamStats()
        words = self._decoder.stats
        return StreamStats(words.samples_received, words.samples_lost, list(words.lost_ranges))

    def start(self) -> None:
        if self._settings is None:
            raise ConfigError("configure_stream() before start()", context=self.resource)
        self._decoder = proto.WordDecoder()
        self._stop_sent_at = None
        self.transport.clear()
        self._send(bytes((proto.AVERAGE_START,)))
        self._drained.clear()

    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        """Chunks of about 0.1 s, in sample-id order, until :meth:`stop` (from any thread) and
        the stream's end; a silence longer than ``timeout_s`` raises InstrumentTimeoutError."""
        decoder, settings = self._decoder, self._settings
        if decoder is None or settings is None:
            raise ConfigError("start() before chunks()", context=self.resource)
        pending: list[proto.DecodedWords] = []
        last_data = time.monotonic()
        self._streaming = True
        try:
            while True:
                stopping = self._stop_sent_at is not None
                wait_s = DRAIN_QUIET_S if stopping else min(timeout_s, 0.25)
                try:
                    data = self.transport.read_some(READ_BYTES, wait_s)
                except InstrumentTimeoutError:
                    data = b""
                now = time.monotonic()
                if data:
                    last_data = now
                elif stopping:  # quiet after AverageStop: the stream has ended
                    pending += decoder.feed(b"", final=True)
                    yield from self._take(pending, settings, everything=True)
                    return
                elif now - last_data > timeout_s:
                    raise InstrumentTimeoutError(
                        f"no samples for {timeout_s:g} s", context=f"{self.resource} stream"
                    )
                if stopping and now - self._stop_sent_at > DRAIN_LIMIT_S:  # type: ignore[operator]
                    log.warning("%s: still streaming %g s after AverageStop", self.resource,
                                DRAIN_LIMIT_S)  # fmt: skip
                    pending += decoder.feed(data, final=True)
                    yield from self._take(pending, settings, everything=True)
                    return
                pending += decoder.feed(data)
                yield from self._take(pending, settings, everything=False)
        finally:
            self._streaming = False
            self._drained.set()

    def _take(
        self, pending: list[proto.DecodedWords], settings: StreamSettings, everything: bool
    ) -> Iterator[TraceChunk]:
        """Chunks from the decoded stretches: each gap ends a chunk; otherwise chunks of
        :data:`CHUNK_SAMPLES` (all that is left when ``everything``)."""
        while pending:
            run = [pending[0]]
            for part in pending[1:]:
                if part.first_id != run[-1].first_id + len(run[-1].adc):
                    break
                run.append(part)
            n = sum(len(p.adc) for p in run)
            closed = len(run) < len(pending)  # a gap follows the run
            if n < CHUNK_SAMPLES and not (closed or everything):
                return
            del pending[: len(run)]
            yield self._chunk(run, settings)

    def _chunk(self, run: list[proto.DecodedWords], settings: StreamSettings) -> TraceChunk:
        adc = np.concatenate([p.adc for p in run])
        ranges = np.concatenate([p.range_index for p in run])
        logic = np.concatenate([p.logic for p in run])
        vdd = float(settings.voltage_v or 0.0)
        current = self._calibration().current_a(adc, ranges, vdd)
        digital = {name: (logic >> k) & 1 == 1 for k, name in enumerate(proto.DIGITAL_NAMES)}
        return TraceChunk(
            run[0].first_id, settings.sample_rate_hz, current, vdd, digital, current_range=ranges
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """AverageStop. A chunks() iteration running in another thread drains what is still
        in flight and ends (waited for, bounded); one started later yields what is left."""
        if self._decoder is None or self._stop_sent_at is not None:
            return
        self._send(bytes((proto.AVERAGE_STOP,)))
        self._stop_sent_at = time.monotonic()
        if self._streaming and not self._drained.wait(timeout_s):
            raise InstrumentTimeoutError(
                f"the stream did not end within {timeout_s:g} s of AverageStop",
                context=f"{self.resource} stop",
            )

    # ---- shutdown ------------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Stop the stream and switch the DUT off; idempotent, never raises. The PPK2 answers
        nothing and cannot be asked: the DUT-off step counts as done once its bytes went out
        (written and drained to the port), the most this device can confirm."""
        report = run_shutdown_steps(
            self.resource,
            [
                ("AverageStop", lambda: self._send(bytes((proto.AVERAGE_STOP,)))),
                (OFF_STEP, lambda: self.set_output(False)),
            ],
            output=(OFF_STEP,),
        )
        self._stop_sent_at = self._stop_sent_at or time.monotonic()
        return report

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not raise
            self.transport.close()

    def __enter__(self) -> NordicPpk2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.safe_shutdown()
        self.close()


def _metadata_lines(text: str) -> str:
    """The metadata from its first ``Key: value`` line on (stale stream bytes before it are
    dropped, with a log line)."""
    lines = text.replace("\r", "").split("\n")
    for k, line in enumerate(lines):
        if proto.is_metadata_line(line):
            if k:
                log.warning("PPK2: %d stale line(s) before the metadata ignored", k)
            return "\n".join(lines[k:])
    raise InstrumentError(f"no metadata lines in {text[:80]!r}", context="GetMetadata")


def _usb_serial_number(resource: str) -> str:
    """The USB serial number of the port at ``resource`` ("" for ports that have none)."""
    try:
        from serial.tools import list_ports

        return next(
            (p.serial_number or "" for p in list_ports.comports() if p.device == resource), ""
        )
    except Exception:  # enumeration is a nicety; it must never stop a connection
        return ""
