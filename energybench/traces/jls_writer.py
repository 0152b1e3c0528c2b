"""Write traces as JLS v2 files in the Joulescope layout, streaming chunk by chunk.

The layout matches a Joulescope recording (``pyjoulescope_driver.Record``): source 1, signals
``current`` (f32, A) id 1, ``voltage`` (f32, V) id 2, optional ``power`` (f32, W), then one u1
signal per digital line, an optional u8 ``current_range`` (the meter's range index of each
sample, 255 where unknown: in a gap), UTC time-map entries, so our recordings open in the
Joulescope UI.
A JSON user-data record (tag 0x0EB1) keeps what JLS has no field for: sample kind, source info,
calibration id and the caller's ``metadata`` (a run's plan, a capture's trigger edges); a second
one written by :meth:`JlsWriter.close` (``closed``: samples written) tells a reader the writer
finished, so a file cut short by a killed run or an interrupted copy is known as such.

Crash safety (measured with pyjls 0.17, see tests/test_traces_jls.py): pyjls writes samples in
blocks of ``samples_per_data`` (8192 for f32, 65536 for u1 by default). After :meth:`flush`
returns, every complete block appended so far is in the file; a file whose writer never closed
(process killed) opens with pyjls and yields those blocks. Samples of a partly filled block are
lost, so a crash loses at most the last block of each signal plus whatever followed the last
flush; the reader trims all signals to the range they all hold.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from energybench.analysis.trace import (
    UNKNOWN_RANGE,
    SampleKind,
    SampleRange,
    SourceInfo,
    Trace,
    TraceChunk,
)
from energybench.errors import TraceFileError
from energybench.traces.continuity import GAP_WRITE_SAMPLES, MAX_GAP_S, gap_before, max_gap_samples
from energybench.traces.jls import (
    METADATA_CHUNK_META,
    METADATA_KEY,
    RANGE_SIGNAL,
    _import_pyjls,
    utc_ns_to_time64,
)

log = logging.getLogger(__name__)

UTC_INTERVAL_S = 60.0  # one time-map entry per minute of samples, as Joulescope writes


class JlsWriter:
    """Stream :class:`TraceChunk` objects into a JLS v2 file.

    Chunks must arrive in sample-id order at ``sample_rate_hz`` with the declared digital
    lines. A chunk that starts after the expected sample id leaves a gap: the missing samples
    are written as NaN (current, voltage) and 0 (digital lines) and listed in :attr:`gaps`.
    A gap longer than ``max_gap_s`` (a bogus id would otherwise fill the disk with NaN) and a
    chunk that overlaps samples already written raise :class:`TraceFileError`.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        sample_rate_hz: float,
        digital_names: tuple[str, ...] = (),
        first_sample_id: int | None = None,
        t0_utc_ns: int = 0,
        source: SourceInfo | None = None,
        sample_kind: SampleKind = "point",
        calibration_id: str | None = None,
        include_power: bool = False,
        current_range: bool = False,
        flush_interval_s: float = 1.0,
        max_gap_s: float = MAX_GAP_S,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        rate = float(sample_rate_hz)
        if not rate > 0 or rate != int(rate):
            raise TraceFileError(
                f"JLS needs a positive integer sample rate, got {sample_rate_hz}", context=str(path)
            )
        if flush_interval_s <= 0:
            raise TraceFileError("flush_interval_s must be > 0", context=str(path))
        max_gap = max_gap_samples(max_gap_s, rate, str(path))
        self.path = Path(path)
        self.sample_rate_hz = rate
        self.digital_names = tuple(digital_names)
        if len(set(self.digital_names)) != len(self.digital_names):
            raise TraceFileError(f"duplicate digital lines {self.digital_names}", context=str(path))
        self.include_power = include_power
        self.current_range = current_range
        self.t0_utc_ns = int(t0_utc_ns)
        self.gaps: list[SampleRange] = []
        self._first_id = first_sample_id
        self._next_id: int | None = first_sample_id
        self._flush_every = max(1, round(flush_interval_s * rate))
        self.max_gap_s = float(max_gap_s)
        self._max_gap = max_gap
        self._since_flush = 0
        self._next_utc_id: int | None = None
        self._bits_pending = {name: np.zeros(0, dtype=bool) for name in self.digital_names}
        self._closed = False
        pyjls = _import_pyjls()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._w = pyjls.Writer(str(self.path))
        except (RuntimeError, OSError) as exc:
            raise TraceFileError(f"cannot create JLS file: {exc}", context=str(path)) from exc
        source = source or SourceInfo()
        self._w.source_def(
            source_id=1,
            name=source.instrument or "energybench",
            vendor="energybench",
            model=source.instrument,
            version="",
            serial_number=source.serial_number,
        )
        f32, u1 = pyjls.DataType.F32, pyjls.DataType.U1
        self._ids = {"current": 1, "voltage": 2}
        defs = [("current", f32, "A"), ("voltage", f32, "V")]
        if include_power:
            defs.append(("power", f32, "W"))
            self._ids["power"] = 3
        for name in self.digital_names:
            self._ids[name] = len(defs) + 1
            defs.append((name, u1, ""))
        if current_range:
            self._ids[RANGE_SIGNAL] = len(defs) + 1
            defs.append((RANGE_SIGNAL, pyjls.DataType.U8, ""))
        for name, data_type, units in defs:
            self._w.signal_def(
                signal_id=self._ids[name],
                source_id=1,
                signal_type=pyjls.SignalType.FSR,
                data_type=data_type,
                sample_rate=int(rate),
                name=name,
                units=units,
            )
        meta = {
            "format": 1,
            "sample_kind": sample_kind,
            "calibration_id": calibration_id,
            "source": {k: getattr(source, k) for k in SourceInfo.__dataclass_fields__},
        }
        if metadata:
            meta["run"] = dict(metadata)
        self._w.user_data(METADATA_CHUNK_META, json.dumps({METADATA_KEY: meta}))

    # ---- context manager -------------------------------------------------------------------
    def __enter__(self) -> JlsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def next_sample_id(self) -> int | None:
        """The sample id the next chunk should start at (None before the first chunk)."""
        return self._next_id

    @property
    def n_samples(self) -> int:
        """Samples written so far, gaps included."""
        return 0 if self._first_id is None else self._next_id - self._first_id  # type: ignore[operator]

    def append(self, chunk: TraceChunk) -> None:
        """Write one chunk (gaps before it become NaN and are recorded in :attr:`gaps`)."""
        if self._closed:
            raise TraceFileError("append after close", context=str(self.path))
        if chunk.sample_rate_hz != self.sample_rate_hz:
            raise TraceFileError(
                f"chunk at {chunk.sample_rate_hz} Hz in a {self.sample_rate_hz} Hz recording",
                context=str(self.path),
            )
        if set(chunk.digital) != set(self.digital_names):
            raise TraceFileError(
                f"chunk has digital lines {sorted(chunk.digital)}, "
                f"the recording declares {sorted(self.digital_names)}",
                context=str(self.path),
            )
        if (chunk.current_range is not None) != self.current_range:
            raise TraceFileError(
                "chunk and recording disagree on the per-sample current range "
                f"(chunk {'has' if chunk.current_range is not None else 'lacks'} it)",
                context=str(self.path),
            )
        if chunk.n_samples == 0:
            return  # nothing to write, no gap to record
        if self._next_id is None:
            self._first_id = self._next_id = chunk.first_sample_id
        try:
            gap = gap_before(
                chunk.first_sample_id, self._next_id, self._max_gap, self.max_gap_s, str(self.path)
            )
        except TraceFileError:
            self.flush()  # what was written stays readable whatever the caller does next
            raise
        if gap:
            self._write_gap(chunk.first_sample_id)
        self._write(chunk.current_a, chunk.voltage_array(), chunk.digital, chunk.current_range)

    def _write_gap(self, stop_id: int) -> None:
        gap = SampleRange(self._next_id, stop_id)  # type: ignore[arg-type]
        log.warning("%s: %d samples missing [%d, %d), written as NaN", self.path, gap.count,
                    gap.start_id, gap.stop_id)  # fmt: skip
        self.gaps.append(gap)
        while self._next_id < stop_id:  # type: ignore[operator]
            n = min(GAP_WRITE_SAMPLES, stop_id - self._next_id)  # type: ignore[operator]
            nan = np.full(n, np.nan, dtype=np.float32)
            bits = {name: np.zeros(n, dtype=bool) for name in self.digital_names}
            ranges = np.full(n, UNKNOWN_RANGE, dtype=np.uint8) if self.current_range else None
            self._write(nan, nan, bits, ranges)

    def _write(
        self,
        current: np.ndarray,
        voltage: np.ndarray,
        digital: dict,
        ranges: np.ndarray | None = None,
    ) -> None:
        start = self._next_id
        n = len(current)
        self._write_utc(start, n)
        i32 = np.require(current, np.float32, ["C", "W"])  # pyjls needs writable buffers
        v32 = np.require(voltage, np.float32, ["C", "W"])
        self._w.fsr_f32(self._ids["current"], start, i32)
        self._w.fsr_f32(self._ids["voltage"], start, v32)
        if self.include_power:
            self._w.fsr_f32(self._ids["power"], start, np.multiply(i32, v32, dtype=np.float32))
        for name in self.digital_names:
            self._write_bits(name, np.asarray(digital[name], dtype=bool))
        if ranges is not None:
            self._w.fsr(self._ids[RANGE_SIGNAL], start, np.require(ranges, np.uint8, ["C", "W"]))
        self._next_id = start + n
        self._since_flush += n
        if self._since_flush >= self._flush_every:
            self.flush()

    def _write_bits(self, name: str, bits: np.ndarray) -> None:
        """u1 samples go to pyjls in whole bytes; up to 7 bits wait for the next chunk."""
        pending = self._bits_pending[name]
        bits = np.concatenate((pending, bits)) if len(pending) else bits
        whole = len(bits) - len(bits) % 8
        if whole:
            first = self._next_id - len(pending)  # type: ignore[operator]
            packed = np.packbits(bits[:whole].astype(np.uint8), bitorder="little")
            self._w.fsr(self._ids[name], first, packed)
        self._bits_pending[name] = bits[whole:].copy()

    def _write_utc(self, start: int, n: int) -> None:
        if self._next_utc_id is None:
            self._next_utc_id = start
        while self._next_utc_id < start + n:
            t_s = (self._next_utc_id - self._first_id) / self.sample_rate_hz  # type: ignore[operator]
            t64 = utc_ns_to_time64(self.t0_utc_ns + round(t_s * 1e9))
            for signal_id in self._ids.values():  # every signal, as Joulescope writes
                self._w.utc(signal_id, self._next_utc_id, t64)
            self._next_utc_id += max(1, round(UTC_INTERVAL_S * self.sample_rate_hz))

    def flush(self) -> None:
        """Hand everything appended so far to the file (complete blocks reach the disk)."""
        if not self._closed:
            self._w.flush()
            self._since_flush = 0

    def close(self) -> None:
        """Write the last partial byte of each digital line (zero-padded) and close the file.

        The padding makes digital lines up to 7 samples longer than current; readers use the
        range every signal holds. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for name in self.digital_names:
                pending = self._bits_pending[name]
                if len(pending):
                    first = self._next_id - len(pending)  # type: ignore[operator]
                    padded = np.zeros(8, dtype=np.uint8)
                    padded[: len(pending)] = pending
                    self._w.fsr(self._ids[name], first, np.packbits(padded, bitorder="little"))
            closed = {"closed": {"n_samples": self.n_samples, "gaps": len(self.gaps)}}
            self._w.user_data(METADATA_CHUNK_META, json.dumps({METADATA_KEY: closed}))
        finally:
            self._w.close()


def write_jls(
    path: Path | str,
    trace: Trace,
    *,
    include_power: bool = False,
    chunk_samples: int = 1 << 20,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a whole trace to a JLS v2 file chunk by chunk; returns the path."""
    path = Path(path)
    with JlsWriter(
        path,
        sample_rate_hz=trace.sample_rate_hz,
        digital_names=trace.digital_names,
        first_sample_id=trace.first_sample_id,
        t0_utc_ns=trace.t0_utc_ns,
        source=trace.source,
        sample_kind=trace.sample_kind,
        calibration_id=trace.calibration_id,
        include_power=include_power,
        metadata=metadata,
        current_range=trace.n_samples > 0
        and trace.read(trace.first_sample_id, trace.first_sample_id + 1).current_range is not None,
    ) as writer:
        for chunk in trace.chunks(chunk_samples):
            writer.append(chunk)
    return path
