"""Driver for the virtual lab's Joulescope-shaped streaming source (framing in
:mod:`energybench.instruments.stream_framing`).

It implements :class:`~energybench.instruments.capabilities.StreamingMeter`: current, voltage and
the GPI lines (named ``gpi[0]``, ``gpi[1]``, ...) sampled together, so the timestamp pin is
sample-exact (sync mode ``digital_channel``). Current ranges are the JS220's, widest first
(``RANGES?``); a request's ``current_range_a`` fixes the range of that full scale (no other value
is a range), None leaves the source auto-ranging, and every sample's range index is streamed
(:attr:`StreamSettings.current_ranges_a` gives each index's full scale). Sample ids are
checked for continuity: a jump is recorded in :attr:`stats` (count and ranges) and the chunk
after it keeps its true ids, so the recorder writes the gap as missing samples; nothing is
interpolated.

:meth:`stop` may be called from another thread while :meth:`chunks` is being iterated (the
acquisition layer does): it sends ``STOP`` and the iterator ends at the ``STOPPED`` reply.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Iterator

from energybench.analysis.trace import TraceChunk
from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    TransportError,
)
from energybench.instruments.capabilities import (
    InstrumentInfo,
    StreamRequest,
    StreamSettings,
    StreamStats,
    SyncMode,
    SyncSpec,
)
from energybench.instruments.scpi import SafetyLimits
from energybench.instruments.shutdown import ShutdownReport, run_shutdown_steps
from energybench.instruments.stream_framing import (
    DATA,
    END,
    HEADER_BYTES,
    REPLY,
    FrameHeader,
    decode_data,
)
from energybench.transport import open_transport
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

_GPI_LINE = re.compile(r"^gpi\[(\d+)\]$")


class SimStreamMeter:
    """StreamingMeter over the ``sim_stream`` TCP framing."""

    kind = "meter"
    max_channel = 1
    sync_modes: tuple[SyncMode, ...] = ("digital_channel",)

    def __init__(
        self,
        transport: BaseTransport | str,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        packed_gpi: bool = False,
    ) -> None:
        if isinstance(transport, str):
            transport = open_transport(transport)
        if channel != 1:
            raise ConfigError(
                f"the stream source has one channel, got {channel}", context="channel"
            )
        self.transport = transport
        self.limits = limits  # a meter sources nothing; kept for the uniform constructor
        self.packed_gpi = packed_gpi
        self.stats = StreamStats()
        self.settings: StreamSettings | None = None
        self._n_gpi: int | None = None
        self._range_table: tuple[float, ...] | None = None
        self._next_id: int | None = None
        self._streaming = False
        self._reading = False
        self._stop_sent = False
        self._stopped = threading.Event()
        self._state = threading.Lock()

    @classmethod
    def open(
        cls, resource: str, limits: SafetyLimits | None = None, *, timeout_s: float = 5.0, **kw
    ) -> SimStreamMeter:
        transport = open_transport(resource, timeout_s=timeout_s)
        try:
            return cls(transport, limits, **kw)
        except BaseException:  # a refused option must not leak the connection
            transport.close()
            raise

    @property
    def resource(self) -> str:
        return self.transport.resource

    # ---- frames ------------------------------------------------------------------------
    def _read_frame(self, timeout_s: float | None) -> tuple[FrameHeader, bytes]:
        raw = self.transport.read_bytes(HEADER_BYTES, timeout_s)
        try:
            header = FrameHeader.unpack(raw)
        except ValueError as exc:
            raise InstrumentError(f"corrupt stream frame: {exc}", context=self.resource) from exc
        payload = self.transport.read_bytes(header.payload_bytes, timeout_s)
        return header, payload

    def _command(self, text: str, timeout_s: float | None = None) -> str:
        """Send a command while not streaming and return its reply text."""
        if self._streaming:
            raise InstrumentError(f"{text!r} is not allowed while streaming", context=self.resource)
        self.transport.write(text)
        header, payload = self._read_frame(timeout_s)
        if header.kind != REPLY:
            raise InstrumentError(
                f"expected a reply to {text!r}, got frame type {header.kind}",
                context=self.resource,
            )
        reply = payload.decode("utf-8", errors="replace")
        if reply.startswith("ERR"):
            raise InstrumentError(f"{text!r} refused: {reply}", context=self.resource)
        return reply

    # ---- Instrument ----------------------------------------------------------------------
    def identify(self) -> InstrumentInfo:
        return InstrumentInfo.from_idn(self._command("IDN?"), self.resource)

    def supported_rates_hz(self) -> tuple[int, ...]:
        return tuple(int(r) for r in self._command("RATES?").split(","))

    def native_sample_rate_hz(self, sync: SyncSpec | None = None) -> float:
        """The fastest rate the source streams (a JS220's 2 MS/s), whatever the sync."""
        return float(max(self.supported_rates_hz()))

    def range_table_a(self) -> tuple[float, ...]:
        """The full scale of each range index, as the source lists them (widest first)."""
        if self._range_table is None:
            self._range_table = tuple(float(r) for r in self._command("RANGES?").split(","))
        return self._range_table

    @property
    def current_ranges_a(self) -> tuple[float, ...]:
        """The fixed current ranges in amperes, smallest first (as the Joulescope driver)."""
        return tuple(sorted(self.range_table_a()))

    def _range_index(self, current_range_a: float | None) -> str:
        """``RANGE``'s argument for a request: the index of that full scale, or auto."""
        if current_range_a is None:
            return "auto"
        table = self.range_table_a()
        for index, full_scale in enumerate(table):
            if math.isclose(full_scale, current_range_a, rel_tol=1e-6):
                return str(index)
        names = ", ".join(f"{r:g}" for r in table)
        raise ConfigError(
            f"{current_range_a:g} A is not a range of the stream source ({names} A)",
            context="current_range_a",
        )

    # ---- StreamingMeter ------------------------------------------------------------------
    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        """Check the request against what the source offers (refused, never clipped)."""
        rates = self.supported_rates_hz()
        rate = request.sample_rate_hz
        if rate not in rates:
            raise ConfigError(
                f"{rate:g} Hz is not a supported rate (supported: {rates})",
                context="sample_rate_hz",
            )
        range_arg = self._range_index(request.current_range_a)
        n_gpi = int(self._command("GPI?"))
        if request.sync is not None:
            if request.sync.mode not in self.sync_modes:
                raise ConfigError(
                    f"sync mode {request.sync.mode!r} is not offered (only {self.sync_modes})",
                    context="sync.mode",
                )
            match = _GPI_LINE.match(request.sync.line or "gpi[0]")
            if not match or int(match[1]) >= n_gpi:
                raise ConfigError(
                    f"sync line {request.sync.line!r} is not one of gpi[0]..gpi[{n_gpi - 1}]",
                    context="sync.line",
                )
        self._command(f"RANGE {range_arg}")
        self._n_gpi = n_gpi
        self._rate_hz = int(rate)
        self.settings = StreamSettings(
            sample_rate_hz=float(rate),
            sample_kind="point",
            digital_names=tuple(f"gpi[{k}]" for k in range(n_gpi)),
            current_ranges_a=self.range_table_a(),
        )
        return self.settings

    def start(self) -> None:
        if self.settings is None:
            raise InstrumentError("configure_stream() before start()", context=self.resource)
        command = f"START {self._rate_hz}" + (" PACKED" if self.packed_gpi else "") + " RANGES"
        reply = self._command(command)
        self._next_id = int(reply.split()[1])
        self.stats = StreamStats()
        self._stopped.clear()
        self._stop_sent = False
        self._streaming = True
        log.info("%s: streaming at %d Hz from sample id %d", self.resource, self._rate_hz,
                 self._next_id)  # fmt: skip

    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        """Chunks until the stream is stopped; InstrumentTimeoutError if none for timeout_s."""
        if not self._streaming:
            raise InstrumentError("chunks() before start()", context=self.resource)
        with self._state:
            self._reading = True
        try:
            while True:
                header, payload = self._read_frame(timeout_s)
                if header.kind == DATA:
                    yield self._chunk(header, payload)
                    continue
                text = payload.decode("utf-8", errors="replace")
                if header.kind == END:
                    raise InstrumentError(f"stream ended: {text}", context=self.resource)
                if text.startswith("STOPPED"):
                    self._streaming = False
                    self._stopped.set()
                    return
                log.warning("%s: unexpected reply while streaming: %r", self.resource, text)
        finally:
            with self._state:
                self._reading = False

    def _chunk(self, header: FrameHeader, payload: bytes) -> TraceChunk:
        expected = self._next_id
        first = header.first_sample_id
        if expected is not None and first != expected:
            if first < expected:
                raise InstrumentError(
                    f"frame starts at sample id {first}, before the expected {expected}",
                    context=self.resource,
                )
            self.stats.samples_dropped += first - expected
            self.stats.dropped_ranges.append((expected, first))
            log.warning("%s: samples [%d, %d) dropped by the instrument", self.resource,
                        expected, first)  # fmt: skip
        current, voltage, lines, ranges = decode_data(header, payload)
        self._next_id = first + header.n
        self.stats.samples_received += header.n
        return TraceChunk(
            first_sample_id=first,
            sample_rate_hz=float(self._rate_hz),
            current_a=current,
            voltage_v=voltage,
            digital={f"gpi[{k}]": bits for k, bits in enumerate(lines)},
            current_range=ranges,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop streaming; safe to call from another thread while chunks() iterates."""
        with self._state:
            if not self._streaming:
                return
            if not self._stop_sent:
                self.transport.write("STOP")
                self._stop_sent = True
        deadline = time.monotonic() + timeout_s
        while not self._stopped.wait(0.02):  # a reader iterating chunks() sees the reply
            with self._state:
                reading = self._reading
            if not reading:
                break
            if time.monotonic() > deadline:
                raise InstrumentTimeoutError(
                    f"the stream did not acknowledge STOP within {timeout_s} s",
                    context=self.resource,
                )
        if self._stopped.is_set():
            return
        try:  # nobody is reading: drain the frames still in flight up to the reply
            for _ in self.chunks(max(0.1, deadline - time.monotonic())):
                pass
        finally:
            self._streaming = False

    def safe_shutdown(self) -> ShutdownReport:
        """Stop streaming and release the connection; failures are logged, never raised."""
        steps = [("stop", lambda: self.stop(timeout_s=2.0)), ("close", self.close)]
        report = run_shutdown_steps(self.resource, steps)
        self._streaming = False
        return report

    def close(self) -> None:
        with contextlib.suppress(TransportError, OSError):
            self.transport.close()
