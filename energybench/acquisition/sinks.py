"""Where acquired chunks go. The recording sink is the JLS writer
(``energybench.traces.jls_writer.JlsWriter``); anything with ``append(chunk)`` and ``close()``
fits, e.g. the counting sink used to measure throughput."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from energybench.analysis.trace import TraceChunk


@runtime_checkable
class ChunkSink(Protocol):
    """Persists chunks in sample-id order as they arrive; a gap in ids is missing samples."""

    def append(self, chunk: TraceChunk) -> None: ...

    def close(self) -> None: ...


class CountingSink:
    """Keeps nothing but the number of samples and chunks (throughput measurements)."""

    def __init__(self) -> None:
        self.samples = 0
        self.chunks = 0
        self.closed = False

    def append(self, chunk: TraceChunk) -> None:
        self.samples += chunk.n_samples
        self.chunks += 1

    def close(self) -> None:
        self.closed = True
