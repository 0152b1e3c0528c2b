"""Joulescope JS110 / JS220 driver over the optional ``joulescope`` package (v1 API).

UNTESTED AGAINST HARDWARE: written from the documented ``joulescope`` 1.x v1 API
(``scan``, ``Device.parameter_set``, ``start``/``stop``, ``stream_process_register`` and
``stream_buffer.samples_get``); its tests here run without the package, against a stand-in
device. Verify on a real JS110/JS220 before trusting it (open items below).

Streaming: the stream callback (Joulescope's USB thread) only copies the new samples out of the
stream buffer and puts them into a bounded queue; :meth:`chunks` hands them out. Samples are
never silently skipped (the MLPerf Tiny JS220 path advances past lost data without a word):
- if ``samples_get`` returns a range starting after the next expected id (the ring buffer
  overran), the gap is recorded in :attr:`stats`;
- if the queue is full, the chunk is dropped and its range recorded.
The next chunk keeps its true sample ids, so the recorder writes the gap as missing samples.

GPI: ``gpi[0]`` / ``gpi[1]`` come from the stream buffer's ``current_lsb`` / ``voltage_lsb``
fields (the JS110 muxes GPI0/1 into those LSBs when ``current_lsb=gpi0``/``voltage_lsb=gpi1``;
the JS220 streams ``s/gpi/0/`` and ``s/gpi/1/`` into the same fields). The JS220 GPI threshold
follows its Vref pin: connect Vref to the DUT's I/O supply.

Open items for hardware: that ``sample_id_range`` is in output-rate samples at reduced rates;
the JS220 output rate limit (1 MHz through v1); NaN content of the buffer after a USB drop.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from energybench.analysis.trace import TraceChunk
from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    InstrumentUnavailableError,
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

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'energybench[joulescope]'"
RATES_HZ = (2_000_000, 1_000_000, 500_000, 200_000, 100_000, 50_000, 20_000, 10_000, 5_000,
            2_000, 1_000, 500, 200, 100, 50, 20, 10)  # fmt: skip
JS220_MAX_OUTPUT_HZ = 1_000_000
# Fixed current ranges, amperes -> the v1 ``i_range`` value. The JS220 has no 2 A range: "The
# JS110 has a separate 2 A range, but the JS220 does not. All other ranges are the same"
# (Jetperch maintainer, pyjoulescope_ui issue 227); the vendor UI offers the JS220 10 A, 180 mA,
# 18 mA, 1.8 mA, 180 µA, 18 µA, and pyjoulescope's JS220 device maps a "2 A" request to its
# 10 A range, so 2 A is refused on a JS220 rather than run silently in 10 A.
I_RANGES = {
    10.0: "10 A",
    0.18: "180 mA",
    0.018: "18 mA",
    0.0018: "1.8 mA",
    180e-6: "180 µA",
    18e-6: "18 µA",
}
I_RANGES_JS110 = {**I_RANGES, 2.0: "2 A"}
# Voltage: the JS220 has 15 V and 2 V, the JS110 15 V and 5 V (pyjoulescope's JS220 device:
# "JS110 current ranges are 5 and 15 V, cannot map to 2 V"); 15 V, on both, is what is set.
V_RANGE = "15V"
FIELDS = ("current", "voltage", "current_lsb", "voltage_lsb")
_RESOURCE = re.compile(r"^joulescope://(?P<serial>[^/]*)/?$", re.IGNORECASE)
_END = object()
END_POLL_S = 0.05  # how often chunks() notices a stop whose end marker did not fit the queue


def _import_joulescope() -> Any:
    try:
        return importlib.import_module("joulescope")
    except ImportError as exc:
        raise InstrumentUnavailableError(
            f"the Joulescope driver needs the 'joulescope' package; install it with: "
            f"{INSTALL_HINT}",
            context="joulescope",
        ) from exc


class Joulescope:
    """StreamingMeter for a JS110/JS220 through ``joulescope``'s v1 API."""

    kind = "meter"
    max_channel = 1
    sync_modes: tuple[SyncMode, ...] = ("digital_channel",)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the driver cannot be used here (read by the registry), or None."""
        if importlib.util.find_spec("joulescope") is None:
            return "the 'joulescope' package is not installed"
        return None

    def __init__(
        self,
        device: Any = None,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        serial_number: str = "",
        queue_chunks: int = 64,
        buffer_duration_s: float = 15.0,
    ) -> None:
        if channel != 1:
            raise ConfigError(f"a Joulescope has one channel, got {channel}", context="channel")
        if device is None:
            device = self._find(_import_joulescope(), serial_number)
        self.device = device
        self.limits = limits  # the JS220 does not source the DUT; kept for the uniform API
        self.buffer_duration_s = buffer_duration_s
        self.stats = StreamStats()
        self.settings: StreamSettings | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_chunks)
        self._next_id: int | None = None
        self._streaming = False
        self._stop_event: tuple[int, str] | None = None
        self._lock = threading.Lock()
        self.driver_active = True  # read by joulescope's stream-process dispatcher

    @staticmethod
    def _find(joulescope: Any, serial_number: str) -> Any:
        devices = list(joulescope.scan(config="off"))
        if serial_number:
            devices = [d for d in devices if serial_number in str(d)]
        if len(devices) != 1:
            found = ", ".join(str(d) for d in devices) or "none"
            raise InstrumentError(
                f"expected one Joulescope{' ' + serial_number if serial_number else ''}, "
                f"found: {found}",
                context="joulescope",
            )
        device = devices[0]
        device.open()
        return device

    @classmethod
    def open(cls, resource: str = "joulescope://", limits: SafetyLimits | None = None, **kw):
        """``joulescope://`` (the only one connected) or ``joulescope://<serial>``."""
        match = _RESOURCE.match(resource)
        if not match:
            raise ConfigError(f"{resource!r} is not joulescope://[serial]", context="resource")
        return cls(None, limits, serial_number=match["serial"], **kw)

    @property
    def resource(self) -> str:
        return f"joulescope://{getattr(self.device, 'serial_number', '')}"

    @property
    def model(self) -> str:
        return str(getattr(self.device, "model", "") or str(self.device)).upper()

    @property
    def current_ranges(self) -> dict[float, str]:
        """The connected model's fixed current ranges (A -> ``i_range``); a model that is
        neither a JS110 nor a JS220 gets the ranges both have."""
        return I_RANGES_JS110 if "JS110" in self.model else I_RANGES

    @property
    def current_ranges_a(self) -> tuple[float, ...]:
        """The fixed current ranges in amperes, smallest first."""
        return tuple(sorted(self.current_ranges))

    def identify(self) -> InstrumentInfo:
        return InstrumentInfo(
            "Jetperch", self.model, str(getattr(self.device, "serial_number", "")), "",
            self.resource,
        )  # fmt: skip

    def native_sample_rate_hz(self, sync: SyncSpec | None = None) -> float:
        """The fastest output rate: 1 MS/s on a JS220 through the v1 API, 2 MS/s on a JS110."""
        return float(JS220_MAX_OUTPUT_HZ if "JS220" in self.model else RATES_HZ[0])

    # ---- configuration -------------------------------------------------------------------
    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        """Validate everything, then set the parameters (refused, never clipped)."""
        rate = request.sample_rate_hz
        max_rate = JS220_MAX_OUTPUT_HZ if "JS220" in self.model else RATES_HZ[0]
        if rate not in RATES_HZ or rate > max_rate:
            allowed = tuple(r for r in RATES_HZ if r <= max_rate)
            raise ConfigError(
                f"{rate:g} Hz is not offered by {self.model or 'the Joulescope'} ({allowed})",
                context="sample_rate_hz",
            )
        if request.current_range_a is None:
            i_range = "auto"  # seamless dynamic ranging is the Joulescope's normal mode
        else:
            ranges = self.current_ranges
            i_range = next(
                (v for a, v in ranges.items() if np.isclose(a, request.current_range_a)), None
            )
            if i_range is None:
                model = self.model or "the Joulescope"
                raise ConfigError(
                    f"{request.current_range_a:g} A is not a range of {model} "
                    f"({', '.join(ranges[a] for a in sorted(ranges, reverse=True))})"
                    + (
                        "; the 2 A range is the JS110's"
                        if np.isclose(request.current_range_a, 2.0)
                        else ""
                    ),
                    context="current_range_a",
                )
        if request.sync is not None:
            if request.sync.mode != "digital_channel":
                raise ConfigError(
                    f"sync mode {request.sync.mode!r} is not offered", context="sync.mode"
                )
            if request.sync.line not in ("", "gpi[0]", "gpi[1]"):
                raise ConfigError(
                    f"sync line {request.sync.line!r} is not gpi[0] or gpi[1]",
                    context="sync.line",
                )
        params = [
            ("sampling_frequency", int(rate)),
            ("buffer_duration", self.buffer_duration_s),
            ("i_range", i_range),
            ("v_range", V_RANGE),
        ]
        if "JS110" in self.model:
            params += [("current_lsb", "gpi0"), ("voltage_lsb", "gpi1")]
        for name, value in params:
            try:
                self.device.parameter_set(name, value)
            except (KeyError, ValueError) as exc:
                raise InstrumentError(
                    f"parameter {name}={value!r} refused: {exc}", context=self.resource
                ) from exc
        self._rate_hz = float(rate)
        self.settings = StreamSettings(float(rate), "point", ("gpi[0]", "gpi[1]"))
        return self.settings

    # ---- streaming -----------------------------------------------------------------------
    def start(self) -> None:
        if self.settings is None:
            raise InstrumentError("configure_stream() before start()", context=self.resource)
        self.stats = StreamStats()
        self._next_id = None
        self._stop_event = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self.device.stream_process_register(self)
        self.device.start(stop_fn=self._on_stop)
        self._streaming = True

    def stream_notify(self, stream_buffer: Any) -> bool:
        """Joulescope's USB thread: copy the new samples out and enqueue them, nothing else."""
        start, end = stream_buffer.sample_id_range
        with self._lock:
            begin = start if self._next_id is None else max(self._next_id, start)
            if end <= begin:
                return False
            data = stream_buffer.samples_get(begin, end, fields=list(FIELDS))
            got_start, got_end = (int(x) for x in data["time"]["sample_id_range"]["value"])
            if self._next_id is not None and got_start > self._next_id:
                self._drop(self._next_id, got_start, "overran the stream buffer")
            signals = data["signals"]
            item = (
                got_start,
                np.array(signals["current"]["value"], dtype=np.float32),
                np.array(signals["voltage"]["value"], dtype=np.float32),
                np.array(signals["current_lsb"]["value"], dtype=bool),
                np.array(signals["voltage_lsb"]["value"], dtype=bool),
            )
            self._next_id = got_end
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self._drop(got_start, got_end, "host queue full")
        return False

    def _drop(self, start_id: int, stop_id: int, why: str) -> None:
        self.stats.samples_dropped += stop_id - start_id
        self.stats.dropped_ranges.append((start_id, stop_id))
        log.warning("%s: samples [%d, %d) lost (%s)", self.resource, start_id, stop_id, why)

    def _on_stop(self, event: int = 0, message: str = "") -> None:
        self._stop_event = (event, message)
        with contextlib.suppress(queue.Full):  # chunks() also sees _stop_event if it does not fit
            self._queue.put_nowait(_END)

    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        if not self._streaming and self._queue.empty():
            raise InstrumentError("chunks() before start()", context=self.resource)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                item = self._queue.get(
                    timeout=min(END_POLL_S, max(0.0, deadline - time.monotonic()))
                )
            except queue.Empty:
                if self._stop_event is not None:  # stopped; the end marker found the queue full
                    item = _END
                elif time.monotonic() >= deadline:
                    raise InstrumentTimeoutError(
                        f"no samples for {timeout_s} s", context=self.resource
                    ) from None
                else:
                    continue
            deadline = time.monotonic() + timeout_s
            if item is _END:
                event, message = self._stop_event or (0, "")
                if event:
                    raise InstrumentError(
                        f"streaming stopped by the device: {message} ({event})",
                        context=self.resource,
                    )
                return
            first, current, voltage, gpi0, gpi1 = item
            self.stats.samples_received += len(current)
            yield TraceChunk(first, self._rate_hz, current, voltage,
                             {"gpi[0]": gpi0, "gpi[1]": gpi1})  # fmt: skip

    def stop(self) -> None:
        if not self._streaming:
            return
        self._streaming = False
        try:
            self.device.stop()
        finally:
            with contextlib.suppress(Exception):
                self.device.stream_process_unregister(self)
            if self._stop_event is None:  # the device did not call stop_fn itself
                self._on_stop()

    def safe_shutdown(self) -> ShutdownReport:
        """Stop streaming and close the device; failures are logged, never raised."""
        return run_shutdown_steps(self.resource, [("stop", self.stop), ("close", self.close)])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.device.close()
