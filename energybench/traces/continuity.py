"""The rule both streaming trace writers apply to each incoming chunk: in sample-id order,
never overlapping what is written, and a gap only as long as dropped samples can plausibly be
(a longer one is a bogus id that would otherwise fill the disk with NaN)."""

from __future__ import annotations

import math

from energybench.errors import TraceFileError

MAX_GAP_S = 60.0  # a longer gap is a bogus sample id, not dropped samples: refuse to fill it
GAP_WRITE_SAMPLES = 1 << 16  # gaps are written in pieces of this many samples


def max_gap_samples(max_gap_s: float, sample_rate_hz: float, where: str) -> int:
    """``max_gap_s`` in samples at the writer's rate; refuses a negative or non-finite bound."""
    if not (math.isfinite(max_gap_s) and max_gap_s >= 0):
        raise TraceFileError(f"max_gap_s must be >= 0, got {max_gap_s}", context=where)
    return round(max_gap_s * sample_rate_hz)


def gap_before(first_id: int, next_id: int, max_gap: int, max_gap_s: float, where: str) -> int:
    """Samples missing between what is written (up to ``next_id``) and a chunk starting at
    ``first_id``; raises :class:`TraceFileError` on an overlap or a gap over ``max_gap``."""
    if first_id < next_id:
        raise TraceFileError(
            f"chunk starts at sample id {first_id}, but samples up to {next_id - 1} are already "
            "written (overlap or out of order)",
            context=where,
        )
    gap = first_id - next_id
    if gap > max_gap:
        raise TraceFileError(
            f"chunk starts at sample id {first_id}, expected {next_id}: a gap of {gap} samples is "
            f"longer than max_gap_s={max_gap_s:g} s ({max_gap} samples); not written",
            context=where,
        )
    return gap
