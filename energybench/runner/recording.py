"""The run's recording sink: every chunk goes to the JLS file as it arrives (a crash leaves a
readable file), and the chunks of the window being measured are also kept in memory so the
window is analysed (and re-run if invalid) before the next one starts.

Memory: one window's samples (current + voltage float32 + lines), e.g. 11 s at 1 MS/s ≈ 100 MB;
the runner refuses rates that would need more than :data:`MAX_WINDOW_SAMPLES`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from energybench.analysis.trace import SampleKind, SampleRange, SourceInfo, Trace, TraceChunk
from energybench.errors import AcquisitionError

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
        self._buffer_start: int | None = None
        self._lock = threading.Lock()
        self.sample_kind: SampleKind = "point" if callable(sample_kind) else sample_kind
        self.rate_hz: float | None = None
        self.digital_names: tuple[str, ...] = ()

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
        try:
            self._writer = JlsWriter(
                self.path,
                sample_rate_hz=chunk.sample_rate_hz,
                digital_names=self.digital_names,
                first_sample_id=chunk.first_sample_id,
                source=self.source,
                sample_kind=self.sample_kind,
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

    def begin_window(self) -> int:
        """Start keeping chunks; returns the sample id the window's interval starts at."""
        with self._lock:
            self._buffer = []
            self._buffering = True
            self._buffer_start = self._next_id
            return self._next_id if self._next_id is not None else 0

    def end_window(self, start_id: int, stop_id: int) -> Trace:
        """The samples ``[start_id, stop_id)`` kept since :meth:`begin_window`, as a Trace
        (samples never received are NaN and listed as missing)."""
        with self._lock:
            chunks, self._buffer, self._buffering = self._buffer, [], False
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
        for c in chunks:
            a, b = max(c.first_sample_id, start_id), min(c.stop_sample_id, stop_id)
            if b <= a:
                continue
            part = c.slice(a, b)
            current[a - start_id : b - start_id] = part.current_a
            voltage[a - start_id : b - start_id] = part.voltage_v
            for name, bits in part.digital.items():
                digital[name][a - start_id : b - start_id] = bits
        return Trace.from_arrays(
            current,
            voltage,
            self.rate_hz,
            digital=digital,
            first_sample_id=start_id,
            sample_kind=self.sample_kind,
            source=self.source,
        )
