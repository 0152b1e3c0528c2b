"""The Otii's recording as a :class:`StreamingMeter` (mixed into
:class:`~energybench.instruments.otii.OtiiArc`, whose request helpers it uses).

:meth:`start` starts a project recording; :meth:`chunks` polls the ``mc`` data count and
fetches ``mc`` (and ``mv``) in chunks of up to ``chunk_samples`` as :class:`TraceChunk`, sample
ids from ``timestamp / interval`` (a jump is counted in ``stats``, never hidden). The Arc
samples voltage at 1 kS/s while current runs at 4 kS/s (Qoitech, "Otii and short pulses"): each
``mv`` sample, the average of its 1 ms, is held over the current samples it spans (both grids
start with the recording), and a chunk ends where the voltage data does; the GPI
channel's timestamped transitions become a digital line on the same grid
(:class:`~energybench.instruments.otii_json.DigitalLine`). While recording, the newest
``digital_lag_s`` of samples is held back until a later poll in case GPI transitions reach the
server after the current samples [U]; everything is delivered after :meth:`stop`, which may be
called from another thread while :meth:`chunks` iterates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from energybench.analysis.trace import TraceChunk
from energybench.errors import ConfigError, InstrumentError, InstrumentTimeoutError
from energybench.instruments.capabilities import StreamRequest, StreamSettings, StreamStats
from energybench.instruments.otii_json import DigitalLine

log = logging.getLogger(__name__)

MAX_CURRENT_RANGE_A = (0.001, 5.0)  # arc_set_max_current accepts 0.001..5 A [V client docs]
LOW_RANGE_MAX_A = 0.019  # [U] the low (auto-ranging) setting's upper current
CHUNK_SAMPLES = 40_000  # values per recording_get_channel_data, as the vendor client [V]
GPI_LINES = ("i1", "i2")


class OtiiRecordingStream:
    """StreamingMeter methods over an Otii project recording."""

    # ---- StreamingMeter ------------------------------------------------------------------
    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        """Range, channels, sample rate (read back; the Ace's is settable) and the project."""
        sync = request.sync
        line = (sync.line or "i1") if sync else "i1"
        if sync is not None and sync.mode not in self.sync_modes:
            raise ConfigError(
                f"sync mode {sync.mode!r} is not offered (only {self.sync_modes})",
                context="sync.mode",
            )
        if line not in GPI_LINES:
            raise ConfigError(f"sync line {line!r} is not one of {GPI_LINES}", context="sync.line")
        wanted = request.current_range_a
        if wanted is not None and not 0 < wanted <= MAX_CURRENT_RANGE_A[1]:
            raise ConfigError(
                f"current range {wanted:g} A is outside 0..5 A", context="current_range_a"
            )
        if not request.measure_voltage and self._voltage_v is None:
            raise ConfigError(
                "set_voltage() first when voltage is not recorded", context="measure_voltage"
            )
        # None: the fixed high range (no auto-ranging mid-window); small ranges: "low" [U]
        setting = "low" if wanted is not None and wanted <= LOW_RANGE_MAX_A else "high"
        self._request("arc_set_range", self._device({"range": setting}))
        for name, on in (("mc", True), ("mv", request.measure_voltage), (line, True)):
            self._request("arc_enable_channel", self._device({"channel": name, "enable": on}))
        rate_hz = self._channel_rate_hz("mc")
        if rate_hz != request.sample_rate_hz:
            if self.info is None or self.info.model != "Ace":
                raise ConfigError(
                    f"the {self.info.model if self.info else 'Otii'} samples at "
                    f"{rate_hz:g} Hz, not {request.sample_rate_hz:g} Hz",
                    context="sample_rate_hz",
                )
            self._request(
                "arc_set_channel_samplerate",
                self._device({"channel": "mc", "value": int(request.sample_rate_hz)}),
            )
            rate_hz = self._channel_rate_hz("mc")
            if rate_hz != request.sample_rate_hz:
                raise InstrumentError(
                    f"the Ace reports {rate_hz:g} Hz after setting {request.sample_rate_hz:g} Hz",
                    context=self.resource,
                )
        self._v_per = 1
        if request.measure_voltage:  # mv may run slower (the Arc: 1 kS/s): current samples per
            v_rate_hz = self._channel_rate_hz("mv")  # voltage sample must be a whole number
            per = rate_hz / v_rate_hz if v_rate_hz > 0 else 0.0
            if per < 1 or abs(per - round(per)) > 1e-9:
                raise InstrumentError(
                    f"mv samples at {v_rate_hz:g} Hz, not a whole fraction of mc's {rate_hz:g} Hz",
                    context=self.resource,
                )
            self._v_per = round(per)
        project = self._request("otii_get_active_project").get("project_id", -1)
        if project == -1:
            project = self._request("otii_create_project")["project_id"]
        self.project_id = int(project)
        self._rate_hz, self._line, self._measure_voltage = rate_hz, line, request.measure_voltage
        self.settings = StreamSettings(
            sample_rate_hz=rate_hz,
            sample_kind="bin",
            digital_names=(line,),
            voltage_v=None if request.measure_voltage else self._voltage_v,
        )
        return self.settings

    def start(self) -> None:
        if self.settings is None or self.project_id is None:
            raise InstrumentError("configure_stream() before start()", context=self.resource)
        self._request("project_start_recording", {"project_id": self.project_id})
        self._recording, self._stop_sent = True, False
        last = self._request("project_get_last_recording", {"project_id": self.project_id})
        self.recording_id = int(last.get("recording_id", -1))
        if self.recording_id < 0:
            raise InstrumentError(
                "the Otii reports no recording after starting one", context=self.resource
            )
        self.stats = StreamStats()
        self.digital = DigitalLine(self._line, self._rate_hz)
        self._index = self._digital_index = 0
        self._next_id = None
        self._stopped.clear()
        self._wake.clear()
        log.info("%s: recording %d at %g Hz", self.resource, self.recording_id, self._rate_hz)

    def _channel_rate_hz(self, channel: str) -> float:
        reply = self._request("arc_get_channel_samplerate", self._device({"channel": channel}))
        return float(reply.get("value", 0))

    def _rec(self, channel: str, extra: dict | None = None) -> dict:
        return {
            "channel": channel,
            "device_id": self.device_id,
            "recording_id": self.recording_id,
            **(extra or {}),
        }

    def _count(self, channel: str) -> int:
        return int(self._request("recording_get_channel_data_count", self._rec(channel))["count"])

    def _analog(
        self, channel: str, index: int, n: int, rate_hz: float | None = None
    ) -> tuple[int, np.ndarray]:
        """``n`` values from ``index``, checked against the channel's rate; (first id, values)."""
        rate_hz = self._rate_hz if rate_hz is None else rate_hz
        data = self._request(
            "recording_get_channel_data", self._rec(channel, {"count": n, "index": index})
        )
        values = np.asarray(data.get("values", []), dtype=np.float64)
        if data.get("data_type") != "analog" or values.shape != (n,):
            raise InstrumentError(
                f"{channel}: expected {n} analog values at index {index}, got "
                f"{values.size} ({data.get('data_type')})",
                context=self.resource,
            )
        interval = float(data["interval"])
        if abs(interval * rate_hz - 1.0) > 1e-6:
            raise InstrumentError(
                f"{channel}: interval {interval:g} s does not match {rate_hz:g} Hz",
                context=self.resource,
            )
        return round(float(data["timestamp"]) * rate_hz), values

    def _next_chunk(self, final: bool) -> TraceChunk | None:
        held = 0 if final else round(self.digital_lag_s * self._rate_hz)
        recorded = self._count("mc")
        available = recorded - held
        if self._measure_voltage:  # as far as whole voltage samples reach
            available = min(available, self._count("mv") * self._v_per)
        n = min(available - self._index, self.chunk_samples)
        if n <= 0:
            if final and recorded > self._index:  # less than one voltage sample's worth
                log.info(
                    "%s: the last %d current samples have no voltage sample; not delivered",
                    self.resource,
                    recorded - self._index,
                )
            return None
        first, current = self._analog("mc", self._index, n)
        voltage: np.ndarray | float = self._voltage_v or 0.0
        if self._measure_voltage:
            voltage = self._voltage_on_current_grid(first, n)
        count = self._count(self._line)
        if count > self._digital_index:
            data = self._request(
                "recording_get_channel_data",
                self._rec(
                    self._line, {"count": count - self._digital_index, "index": self._digital_index}
                ),
            )
            self.digital.add(data.get("values", []))  # type: ignore[union-attr]
            self._digital_index = count
        bits = self.digital.render(first, n)  # type: ignore[union-attr]
        if self._next_id is not None and first != self._next_id:
            if first < self._next_id:
                raise InstrumentError(
                    f"data at sample {first} overlaps the expected {self._next_id}",
                    context=self.resource,
                )
            self.stats.samples_dropped += first - self._next_id
            self.stats.dropped_ranges.append((self._next_id, first))
            log.warning("%s: samples [%d, %d) missing", self.resource, self._next_id, first)
        self._index += n
        self._next_id = first + n
        self.stats.samples_received += n
        return TraceChunk(first, self._rate_hz, current, voltage, {self._line: bits})

    def _voltage_on_current_grid(self, first: int, n: int) -> np.ndarray:
        """The ``mv`` samples spanning current samples ``[first, first + n)``, each held over
        the ``_v_per`` current samples of its interval."""
        per = self._v_per
        lo, hi = self._index // per, -(-(self._index + n) // per)
        v_first, values = self._analog("mv", lo, hi - lo, self._rate_hz / per)
        if v_first * per != first - (self._index - lo * per):
            raise InstrumentError(
                f"mv sample {v_first} does not start at mc sample {first - self._index + lo * per}",
                context=self.resource,
            )
        offset = self._index - lo * per
        return np.repeat(values, per)[offset : offset + n]

    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        """Chunks until :meth:`stop` (then the rest of the recording); InstrumentTimeoutError
        when no sample arrives for ``timeout_s``."""
        if not self._recording:
            raise InstrumentError("chunks() before start()", context=self.resource)
        with self._state:
            self._reading = True
            self._reader_thread = threading.get_ident()
        try:
            last = time.monotonic()
            while True:
                final = self._stop_sent
                chunk = self._next_chunk(final)
                if chunk is not None:
                    last = time.monotonic()
                    yield chunk
                    continue
                if final:
                    self._recording = False
                    self._stopped.set()
                    return
                if self._stop_sent:
                    continue
                if time.monotonic() - last > timeout_s:
                    raise InstrumentTimeoutError(
                        f"no samples for {timeout_s} s", context=self.resource
                    )
                self._wake.wait(self.poll_s)
        finally:
            with self._state:
                self._reading = False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the recording; a reader iterating chunks() drains the rest and ends (without
        one, the next chunks() call delivers the rest)."""
        with self._state:
            if not self._recording:
                return
            # the reader itself may call stop() between chunks: it then drains on its own
            reading = self._reading and self._reader_thread != threading.get_ident()
            if not self._stop_sent:
                self._request("project_stop_recording", {"project_id": self.project_id})
                self._stop_sent = True
        self._wake.set()
        if not reading:  # the rest stays in the recording: a later chunks() drains it
            return
        if not self._stopped.wait(timeout_s):
            raise InstrumentTimeoutError(
                f"the reader did not finish within {timeout_s} s", context=self.resource
            )

    # ---- the Otii's own view of the recording --------------------------------------------
    def edge_times_s(self, polarity: str = "falling") -> list[float]:
        """Exact GPI transition times (seconds since the recording start) delivered so far."""
        return self.digital.edges_s(polarity) if self.digital else []

    def recorded_statistics(self, t0_s: float, t1_s: float, channel: str = "mc") -> dict:
        return self._request(
            "recording_get_channel_statistics", self._rec(channel, {"from": t0_s, "to": t1_s})
        )

    def recorded_energy_j(self, t0_s: float, t1_s: float) -> float:
        """The Otii's energy over [t0, t1) of the last recording (its own integral)."""
        return float(self.recorded_statistics(t0_s, t1_s)["energy"])
