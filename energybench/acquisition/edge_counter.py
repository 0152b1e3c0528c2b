"""Timestamp edges counted while a stream arrives: the barrier before a streamed window may
close. One digital line, one polarity; the level is carried across chunk boundaries and
forgotten across a gap in sample ids (an edge inside missing samples cannot be counted).
Placing edges precisely is the analysis layer's job (:func:`energybench.analysis.edges.scan_edges`);
this counter only says how many arrived and after which sample."""

from __future__ import annotations

import numpy as np

from energybench.analysis.edges import Polarity
from energybench.analysis.trace import TraceChunk


class EdgeCounter:
    """Counts the edges of ``polarity`` on ``line`` chunk by chunk, in sample-id order."""

    def __init__(self, line: str, polarity: Polarity = "falling") -> None:
        self.line = line
        self.polarity = polarity
        self.count = 0
        self._ids: list[int] = []  # the sample id just after each counted transition
        self._last_bit: bool | None = None
        self._expected_id: int | None = None

    @property
    def last_edge_id(self) -> int | None:
        """The sample id just after the last edge counted (None before the first)."""
        return self._ids[-1] if self._ids else None

    def edge_id(self, k: int) -> int:
        """The sample id just after the ``k``-th edge counted (0-based)."""
        return self._ids[k]

    def feed(self, chunk: TraceChunk) -> int:
        """Count the edges in ``chunk``; returns how many it held."""
        if self._expected_id is not None and chunk.first_sample_id != self._expected_id:
            self._last_bit = None  # a gap: the level before it says nothing about the chunk
        self._expected_id = chunk.stop_sample_id
        if chunk.n_samples == 0:
            return 0
        bits = np.asarray(chunk.digital[self.line], dtype=bool)
        carried = self._last_bit is not None
        if carried:
            bits = np.concatenate((np.array([self._last_bit], dtype=bool), bits))
        self._last_bit = bool(bits[-1])
        falls, rises = bits[:-1] & ~bits[1:], ~bits[:-1] & bits[1:]
        mask = {"falling": falls, "rising": rises}.get(self.polarity, falls | rises)
        found = np.flatnonzero(mask)
        # index k is the transition into bits[k + 1]: chunk sample k (carried) or k + 1
        offset = chunk.first_sample_id + (0 if carried else 1)
        self._ids.extend((found + offset).tolist())
        self.count += int(found.size)
        return int(found.size)
