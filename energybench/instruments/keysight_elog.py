"""N6705 external data log (Elog): a continuous stream of averaged records for windows longer
than the scope-mode buffer (docs/instruments/keysight-n6705c.md#elog).

Each record is the average over one period (``bin`` samples) of current and voltage of the
measured channel and, with ``analog_channel`` sync, the voltage of the VMETer channel that
digitizes the timestamp pin. Records are fetched with ``FETC:ELOG?`` into chunks with
continuous sample ids; records the instrument's FIFO lost (``Elog FIFO overflow; <n> records
lost`` in the error queue) become a gap in the ids and are counted, never hidden.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from energybench.analysis.trace import TraceChunk
from energybench.errors import ConfigError, InstrumentError, InstrumentTimeoutError, UsageError
from energybench.instruments.analog_sync import AnalogEdgeFinder
from energybench.instruments.capabilities import (
    StreamRequest,
    StreamSettings,
    StreamStats,
    SyncSpec,
)

log = logging.getLogger(__name__)

ELOG_MIN_PERIOD_PER_PARAMETER_S = 102.4e-6
FETCH_MAX_RECORDS = 20000
POLL_INTERVAL_S = 0.01
_OVERFLOW = re.compile(r"overflow\D*?(\d+)\s*records?\s*lost", re.IGNORECASE)


@dataclass
class _StreamState:
    settings: StreamSettings
    channels: str
    fields: int
    measure_voltage: bool
    analog: bool
    bus_trigger: bool
    finder: AnalogEdgeFinder | None
    next_id: int = 0
    stats: StreamStats = field(default_factory=StreamStats)


class ElogStreaming:
    """StreamingMeter over the Elog; mixed into :class:`KeysightN6705C` (uses its helpers)."""

    def __init__(self) -> None:
        self._stream: _StreamState | None = None
        self._stream_running = False
        self.stream_edge_positions: list[float] = []  # VMETer edges found so far (sample ids)

    def native_sample_rate_hz(self, sync: SyncSpec | None = None) -> float:
        """The shortest Elog period for current, voltage and (analog sync) the VMETer channel."""
        analog = sync is not None and sync.mode == "analog_channel"
        return 1.0 / (ELOG_MIN_PERIOD_PER_PARAMETER_S * (2 + int(analog)))

    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        """Elog functions, period, range and trigger; the period read back is reported."""
        plan = self._plan(request.sync)
        if not request.sample_rate_hz > 0:
            raise ConfigError("must be > 0", context="sample_rate_hz")
        parameters = 1 + int(request.measure_voltage) + int(plan.analog)
        fastest = 1.0 / (ELOG_MIN_PERIOD_PER_PARAMETER_S * parameters)
        if request.sample_rate_hz > fastest * 1.0001:
            raise ConfigError(
                f"{request.sample_rate_hz:g} Hz is faster than the Elog allows for "
                f"{parameters} parameters ({fastest:g} Hz)",
                context="sample_rate_hz",
            )
        range_command = self._range_command(request.current_range_a)
        chs, ch = self._channels(plan), f"(@{self.channel})"
        batch = self._format_commands()
        if plan.analog:
            sc = f"(@{self.sync_channel})"
            batch += [
                f"EMUL VMET,{sc}",
                f"SENS:ELOG:FUNC:CURR OFF,{sc}",
                f"SENS:ELOG:FUNC:VOLT ON,{sc}",
            ]
        for other in self._other_channels(plan):  # fewer logged parameters: a shorter period
            batch += [f"SENS:ELOG:FUNC:CURR OFF,(@{other})", f"SENS:ELOG:FUNC:VOLT OFF,(@{other})"]
        batch += [
            f"SENS:ELOG:FUNC:CURR ON,{ch}",
            f"SENS:ELOG:FUNC:VOLT {'ON' if request.measure_voltage else 'OFF'},{ch}",
            range_command,
            f"SENS:ELOG:PER {1.0 / request.sample_rate_hz:.9g},{chs}",
        ]
        batch += [*self._trigger_commands(plan), f"TRIG:ELOG:SOUR {plan.source},{chs}"]
        self.send_batch(batch)
        period = self._query_float(f"SENS:ELOG:PER? {ch}")
        voltage = None
        if not request.measure_voltage:
            voltage = self._voltage_v
            if voltage is None:
                voltage = self._query_float(f"VOLT? {ch}")
        settings = StreamSettings(
            sample_rate_hz=1.0 / period,
            sample_kind="bin",
            digital_names=("timestamp",) if plan.analog else (),
            voltage_v=voltage,
        )
        finder = None
        if plan.analog:
            finder = AnalogEdgeFinder(self.io_voltage_v, plan.polarity, "bin")
        self._stream = _StreamState(
            settings,
            chs,
            parameters,
            request.measure_voltage,
            plan.analog,
            plan.bus_trigger,
            finder,
        )
        return settings

    @property
    def stream_stats(self) -> StreamStats:
        if self._stream is None:
            return StreamStats()
        return self._stream.stats

    def start(self) -> None:
        """Arm the Elog; with a line trigger, record 0 starts at the edge."""
        state = self._require_stream()
        commands = [f"INIT:ELOG {state.channels}"]
        if state.bus_trigger:
            commands.append(f"TRIG:ELOG {state.channels}")
        self.send_batch(commands)
        state.next_id = 0
        state.stats = StreamStats()
        if state.finder is not None:
            state.finder.reset()
        self.stream_edge_positions = []
        self._stream_running = True

    def stop(self) -> None:
        """Stop the Elog (records still in the FIFO are discarded)."""
        state = self._require_stream()
        self._stream_running = False
        self.send_batch([f"ABOR:ELOG {state.channels}"])

    def _require_stream(self) -> _StreamState:
        if self._stream is None:
            raise UsageError("configure_stream() first", context=self.resource)
        return self._stream

    def _fetch_records(self, state: _StreamState) -> tuple[np.ndarray, int]:
        """One FETC:ELOG? block, and the records the FIFO lost before it."""
        block = self.transport.query_block(
            f"FETC:ELOG? {FETCH_MAX_RECORDS},{state.channels}", "f4", big_endian=self.big_endian
        )
        lost, errors = 0, []
        for entry in self.read_errors():
            match = _OVERFLOW.search(entry)
            if match:
                lost += int(match.group(1))
            else:
                errors.append(entry)
        if errors:
            raise InstrumentError(
                f"instrument reported error(s) while streaming: {'; '.join(errors)}",
                context=self.resource,
                errors=errors,
            )
        if block.size % state.fields:
            raise InstrumentError(
                f"Elog block of {block.size} values is not a whole number of "
                f"{state.fields}-value records",
                context=self.resource,
            )
        return block.reshape(-1, state.fields), lost

    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        """Chunks in sample-id order until :meth:`stop`; InstrumentTimeoutError when no record
        arrives for ``timeout_s``."""
        state = self._require_stream()
        if not self._stream_running:
            raise UsageError("start() the stream first", context=self.resource)
        rate = state.settings.sample_rate_hz
        last_data = time.monotonic()
        while self._stream_running:
            records, lost = self._fetch_records(state)
            if lost:
                log.warning("%s: Elog FIFO overflow, %d records lost", self.resource, lost)
                state.stats.samples_dropped += lost
                state.stats.dropped_ranges.append((state.next_id, state.next_id + lost))
                state.next_id += lost
                if state.finder is not None:
                    state.finder.reset()
            if records.shape[0] == 0:
                if time.monotonic() - last_data > timeout_s:
                    raise InstrumentTimeoutError(
                        f"no Elog record for {timeout_s:g} s", context=self.resource
                    )
                time.sleep(POLL_INTERVAL_S)
                continue
            last_data = time.monotonic()
            yield self._chunk(state, records, rate)

    def _chunk(self, state: _StreamState, records: np.ndarray, rate: float) -> TraceChunk:
        n = records.shape[0]
        current = records[:, 0]
        if state.measure_voltage:
            voltage: np.ndarray | float = records[:, 1]
        else:
            voltage = float(state.settings.voltage_v or 0.0)
        digital = {}
        if state.finder is not None:
            sync = records[:, -1]
            found = state.finder.feed(sync, state.next_id)
            if not state.bus_trigger and state.next_id == 0:  # record 0 starts at the edge
                found = [0.0, *(e for e in found if abs(e) > 1.0)]
            self.stream_edge_positions.extend(found)
            digital["timestamp"] = state.finder.logic(sync)
        chunk = TraceChunk(state.next_id, rate, current, voltage, digital)
        state.next_id += n
        state.stats.samples_received += n
        return chunk
