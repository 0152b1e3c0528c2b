"""Raw data on disk as it arrives. :class:`RecordingSink`: a stream's sink writing every chunk
to a JLS file (CSV for a rate JLS cannot store) at once, so a crash leaves a readable file, and
keeping the chunks of the window being measured in memory so the window is analysed (and re-run
if invalid) before the next one starts. :func:`write_capture`: one triggered capture, whole.

Memory: one window's samples (current + voltage float32 + lines), e.g. 11 s at 1 MS/s ≈ 100 MB;
a window needing more than :data:`MAX_WINDOW_SAMPLES` is refused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from energybench.analysis.trace import (
    UNKNOWN_RANGE,
    SampleKind,
    SampleRange,
    SourceInfo,
    Trace,
    TraceChunk,
)
from energybench.errors import AcquisitionError
from energybench.traces.continuity import GAP_WRITE_SAMPLES, MAX_GAP_S, gap_before, max_gap_samples
from energybench.traces.csv_io import metadata_line
from energybench.transport.interrupts import deferred_interrupt

log = logging.getLogger(__name__)

MAX_WINDOW_SAMPLES = 40_000_000


class RecordingSink:
    """A ChunkSink writing a JLS file (created on the first chunk) and buffering windows."""

    def __init__(
        self,
        path: Path,
        *,
        sample_kind: SampleKind | Callable[[], SampleKind] = "point",
        source: SourceInfo | None = None,
        metadata: dict | None = None,
    ) -> None:
        self.path = Path(path)
        self._kind = sample_kind
        self.source = source or SourceInfo()
        self.gaps: list[SampleRange] = []
        self.write_error: str | None = None
        self._writer = None
        self._next_id: int | None = None
        self._buffering = False
        self._buffer: list[TraceChunk] = []
        self._lock = threading.Lock()
        self.sample_kind: SampleKind = "point" if callable(sample_kind) else sample_kind
        self.rate_hz: float | None = None
        self.digital_names: tuple[str, ...] = ()
        # written into the file when it is created (e.g. the run's plan of windows)
        self.metadata: dict = dict(metadata or {})

    # ---- ChunkSink -------------------------------------------------------------------------
    def append(self, chunk: TraceChunk) -> None:
        with self._lock:
            if self._writer is None and self.write_error is None:
                self._open(chunk)
            if self._next_id is not None and chunk.first_sample_id > self._next_id:
                self.gaps.append(SampleRange(self._next_id, chunk.first_sample_id))
            self._next_id = chunk.stop_sample_id
            if self._buffering:
                self._buffer.append(chunk)
            if self._writer is not None:
                try:
                    self._writer.append(chunk)
                except Exception as exc:  # the figures can still be computed; flag it
                    self.write_error = f"writing {self.path} failed: {exc}"
                    log.error(self.write_error)
                    self._close_writer()

    def close(self) -> None:
        with self._lock:
            self._close_writer()

    def _open(self, chunk: TraceChunk) -> None:
        from energybench.traces.jls_writer import JlsWriter

        self.rate_hz = chunk.sample_rate_hz
        self.sample_kind = self._kind() if callable(self._kind) else self._kind
        self.digital_names = tuple(chunk.digital)
        if not float(self.rate_hz).is_integer():  # JLS stores integer rates only
            self.path = self.path.with_suffix(".csv")
            self._writer = CsvStreamWriter(
                self.path,
                self.rate_hz,
                chunk.first_sample_id,
                self.digital_names,
                self.sample_kind,
                metadata=self.metadata,
            )
            return
        try:
            self._writer = JlsWriter(
                self.path,
                sample_rate_hz=chunk.sample_rate_hz,
                digital_names=self.digital_names,
                first_sample_id=chunk.first_sample_id,
                source=self.source,
                sample_kind=self.sample_kind,
                metadata=self.metadata,
                current_range=chunk.current_range is not None,
            )
        except Exception as exc:
            self.write_error = f"cannot record to {self.path}: {exc}"
            log.error(self.write_error)

    def _close_writer(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as exc:
                self.write_error = self.write_error or f"closing {self.path} failed: {exc}"
            self._writer = None

    # ---- window buffer ---------------------------------------------------------------------
    @property
    def next_sample_id(self) -> int | None:
        return self._next_id

    def begin_window(self) -> int | None:
        """Start keeping chunks; returns the sample id the window's interval starts at (None
        before the first sample: the interval then starts at the first one received)."""
        with self._lock:
            self._buffer = []
            self._buffering = True
            return self._next_id

    def end_window(self, start_id: int | None, stop_id: int) -> Trace:
        """The samples ``[start_id, stop_id)`` kept since :meth:`begin_window`, as a Trace
        (samples never received are NaN and listed as missing)."""
        with self._lock:
            chunks, self._buffer, self._buffering = self._buffer, [], False
        if start_id is None:
            if not chunks:
                raise AcquisitionError("no samples arrived during the window", context="meter")
            start_id = chunks[0].first_sample_id
        if self.rate_hz is None:
            raise AcquisitionError("no samples were recorded", context=str(self.path))
        n = stop_id - start_id
        if n <= 0:
            raise AcquisitionError(f"empty window interval [{start_id}, {stop_id})")
        if n > MAX_WINDOW_SAMPLES:
            raise AcquisitionError(
                f"a window of {n} samples exceeds the in-memory limit {MAX_WINDOW_SAMPLES}; "
                "stream at a lower sample rate",
                context="meter.sample_rate_hz",
            )
        current = np.full(n, np.nan, dtype=np.float32)
        voltage = np.full(n, np.nan, dtype=np.float32)
        digital = {name: np.zeros(n, dtype=bool) for name in self.digital_names}
        ranges = None
        if any(c.current_range is not None for c in chunks):  # 255: a sample never received
            ranges = np.full(n, UNKNOWN_RANGE, dtype=np.uint8)
        for c in chunks:
            a, b = max(c.first_sample_id, start_id), min(c.stop_sample_id, stop_id)
            if b <= a:
                continue
            part = c.slice(a, b)
            current[a - start_id : b - start_id] = part.current_a
            voltage[a - start_id : b - start_id] = part.voltage_v
            for name, bits in part.digital.items():
                digital[name][a - start_id : b - start_id] = bits
            if ranges is not None and part.current_range is not None:
                ranges[a - start_id : b - start_id] = part.current_range
        return Trace.from_arrays(
            current,
            voltage,
            self.rate_hz,
            digital=digital,
            first_sample_id=start_id,
            sample_kind=self.sample_kind,
            source=self.source,
            current_range=ranges,
        )


class CsvStreamWriter:
    """A trace CSV (the :mod:`energybench.traces.csv_io` layout) written chunk by chunk, for
    sample rates JLS cannot store (e.g. an N6705 Elog period of 307.2 µs); gaps become NaN rows
    (up to ``max_gap_s``; an overlap or a longer gap raises TraceFileError, as in the JLS
    writer) and every chunk is flushed, so a crash leaves a readable file; ``metadata`` goes
    before the header and the ``closed`` record last, as :func:`~energybench.traces.csv_io.
    write_csv` writes them."""

    def __init__(
        self,
        path: Path,
        rate_hz: float,
        first_sample_id: int,
        digital_names: tuple[str, ...],
        sample_kind: str,
        max_gap_s: float = MAX_GAP_S,
        metadata: dict | None = None,
    ) -> None:
        self.path = Path(path)
        self.rate_hz = rate_hz
        self.max_gap_s = float(max_gap_s)
        self._max_gap = max_gap_samples(max_gap_s, rate_hz, str(self.path))
        self.first_id = first_sample_id
        self.next_id = first_sample_id
        self.digital_names = digital_names
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._file.write(
            f"# sample_rate_hz={rate_hz!r}\n# first_sample_id={first_sample_id}\n"
            f"# t0_utc_ns=0\n# sample_kind={sample_kind}\n"
            + (metadata_line({"run": metadata}) if metadata else "")
            + ",".join(("time_s", "current_a", "voltage_v", *digital_names))
            + "\n"
        )

    def _rows(self, first: int, current, voltage, digital: list) -> None:
        ids = np.arange(first, first + len(current))
        columns = [(ids - self.first_id) / self.rate_hz, current, voltage, *digital]
        fmt = ["%.9f", "%.9g", "%.9g"] + ["%d"] * len(digital)
        np.savetxt(self._file, np.column_stack(columns), fmt=fmt, delimiter=",")

    def append(self, chunk: TraceChunk) -> None:
        gap = gap_before(
            chunk.first_sample_id, self.next_id, self._max_gap, self.max_gap_s, str(self.path)
        )
        while gap:  # in bounded pieces: a long gap never sits in memory at once
            n = min(gap, GAP_WRITE_SAMPLES)
            nan = np.full(n, np.nan)
            self._rows(self.next_id, nan, nan, [np.zeros(n)] * len(self.digital_names))
            self.next_id += n
            gap -= n
        self._rows(
            chunk.first_sample_id,
            np.asarray(chunk.current_a, dtype=np.float64),
            chunk.voltage_array().astype(np.float64),
            [chunk.digital[name].astype(np.float64) for name in self.digital_names],
        )
        self.next_id = chunk.stop_sample_id
        self._file.flush()

    def close(self) -> None:
        """Append the ``closed`` record (a reader then knows the writer finished) and close."""
        if self._file.closed:
            return
        try:
            closed = {"n_samples": self.next_id - self.first_id}
            self._file.write(metadata_line({"closed": closed}))
        finally:
            self._file.close()


def _float32_exact(trace: Trace) -> bool:
    """Whether every current and voltage sample is a float32 value (JLS stores float32)."""
    for chunk in trace.chunks():
        for values in (chunk.current_a, chunk.voltage_array()):
            x = np.asarray(values)
            if x.dtype != np.float32 and not np.array_equal(
                x.astype(np.float32), x, equal_nan=True
            ):
                return False
    return True


def write_capture(trace: Trace, path: Path, metadata: dict | None = None) -> Path | None:
    """Write a capture losslessly, so a re-analysis reproduces the window's figures: as JLS
    when its rate is an integer and its samples float32 values (what JLS stores), else as CSV
    (17 significant digits); with ``metadata`` (how its window is found) inside the file.
    None when it could not be written (logged: the figures stand, the caller flags the file).
    A stop signal waits until the file is complete (it holds measured data)."""
    with deferred_interrupt():
        return _write_capture(trace, path, metadata)


def _write_capture(trace: Trace, path: Path, metadata: dict | None) -> Path | None:
    try:
        if float(trace.sample_rate_hz).is_integer() and _float32_exact(trace):
            from energybench.traces.jls_writer import write_jls

            return write_jls(path.with_suffix(".jls"), trace, metadata=metadata)
        from energybench.traces.csv_io import write_csv

        return write_csv(path.with_suffix(".csv"), trace, metadata=metadata)
    except Exception as exc:
        log.error("cannot record the capture to %s: %s", path, exc)
        return None
