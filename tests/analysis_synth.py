"""Synthetic traces with analytic ground truth for the analysis tests.

``virtual_trace`` builds a Trace of any length whose reader generates chunks on demand: a
digital line from a list of level-change positions, and current/voltage that are constant
everywhere except inside ``active`` sample ranges, where they follow given functions of the
(float64) sample id. Nothing of the full length is ever allocated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from energybench.analysis.trace import SampleRange, Trace, TraceChunk

Fn = Callable[[np.ndarray], np.ndarray]


def digital_bits(start: int, stop: int, changes: Sequence[int], initial: bool) -> np.ndarray:
    """Levels of samples [start, stop): the level flips at each sample id in ``changes``."""
    changes = np.asarray(changes, dtype=np.int64)
    k = int(np.searchsorted(changes, start, side="right"))
    level = initial ^ bool(k % 2)
    bits = np.empty(stop - start, dtype=bool)
    pos = start
    for c in changes[k:]:
        if c >= stop:
            break
        bits[pos - start : c - start] = level
        level = not level
        pos = int(c)
    bits[pos - start :] = level
    return bits


def virtual_trace(
    n_samples: int,
    sample_rate_hz: float,
    *,
    current_a: float = 0.01,
    voltage_v: float = 3.3,
    current_fn: Fn | None = None,
    voltage_fn: Fn | None = None,
    active: Sequence[tuple[int, int]] = (),
    changes: Sequence[int] = (),
    line: str = "gpi[0]",
    initial: bool = True,
    dtype: type = np.float64,
    sample_kind: str = "point",
    missing: Sequence[tuple[int, int]] = (),
) -> Trace:
    """A lazily generated trace (see the module docstring); ``changes`` are the ids of the
    first sample at the new level; ``missing`` ranges read as NaN current."""
    active = sorted(active)
    changes = sorted(changes)

    def reader(start: int, stop: int) -> TraceChunk:
        n = stop - start
        spans = [(max(a, start), min(b, stop)) for a, b in active if a < stop and start < b]
        holes = [(max(a, start), min(b, stop)) for a, b in missing if a < stop and start < b]
        if spans or holes:
            cur = np.full(n, current_a, dtype=dtype)
            volt: np.ndarray | float = (
                np.full(n, voltage_v, dtype=dtype) if voltage_fn is not None else voltage_v
            )
            for a, b in spans:
                ids = np.arange(a, b, dtype=np.float64)
                if current_fn is not None:
                    cur[a - start : b - start] = current_fn(ids)
                if voltage_fn is not None:
                    volt[a - start : b - start] = voltage_fn(ids)
            for a, b in holes:
                cur[a - start : b - start] = np.nan
        else:
            cur = np.broadcast_to(dtype(current_a), (n,))
            volt = voltage_v
        return TraceChunk(
            start, sample_rate_hz, cur, volt, {line: digital_bits(start, stop, changes, initial)}
        )

    return Trace(
        sample_rate_hz=sample_rate_hz,
        first_sample_id=0,
        n_samples=n_samples,
        reader=reader,
        digital_names=(line,),
        sample_kind=sample_kind,
        missing=tuple(SampleRange(a, b) for a, b in missing),
    )


def pulses(starts: Sequence[int], width: int) -> list[int]:
    """Level changes of low pulses of ``width`` samples starting at each of ``starts``."""
    out: list[int] = []
    for s in starts:
        out += [s, s + width]
    return out
