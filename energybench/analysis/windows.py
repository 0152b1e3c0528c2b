"""Measurement windows: intervals of sample positions between paired timestamp edges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from energybench.analysis.edges import EdgeScan
from energybench.errors import AnalysisError, EdgeCountError


@dataclass(frozen=True)
class Window:
    """One measurement window ``[start_position, stop_position)`` in (fractional) sample
    positions of a trace, covering ``inferences`` inferences (0 when unknown)."""

    index: int
    start_position: float
    stop_position: float
    inferences: int = 0

    def __post_init__(self) -> None:
        if not self.stop_position > self.start_position:
            raise AnalysisError(
                f"window {self.index} stops at {self.stop_position} before it starts at "
                f"{self.start_position}"
            )
        if self.inferences < 0:
            raise AnalysisError(f"window {self.index} has a negative inference count")

    @property
    def length_samples(self) -> float:
        return self.stop_position - self.start_position


def pair_edges(
    scan: EdgeScan,
    *,
    skip_leading_edges: int = 0,
    expected_windows: int | None = None,
    inferences: int | Sequence[int] = 0,
    drop_unpaired_last: bool = False,
) -> tuple[Window, ...]:
    """Pair consecutive edges (start, end), (start, end), ... into windows.

    This is the MLPerf Tiny energy convention: one edge at the start of the timed loop and one
    at its end. ``skip_leading_edges`` drops a known number of edges first (the boot pulse);
    ``drop_unpaired_last`` drops an odd last edge (a recording known to be cut short: that
    window's end was never recorded). Anything else that does not pair exactly raises
    :class:`EdgeCountError` listing what was found.
    """
    if skip_leading_edges < 0:
        raise AnalysisError(f"skip_leading_edges must be >= 0, got {skip_leading_edges}")
    if scan.unresolved:
        raise EdgeCountError(
            "cannot pair edges: the timestamp level changed inside missing samples; "
            + scan.describe(),
            context=scan.source,
        )
    if scan.count == 0:
        raise EdgeCountError(f"no edges found: {scan.describe()}", context=scan.source)
    if scan.count < skip_leading_edges:
        raise EdgeCountError(
            f"asked to skip {skip_leading_edges} leading edge(s) but found only {scan.describe()}",
            context=scan.source,
        )
    positions = scan.positions[skip_leading_edges:]
    skipped = f" after skipping {skip_leading_edges} leading edge(s)" if skip_leading_edges else ""
    if positions.shape[0] % 2 and drop_unpaired_last:
        positions = positions[:-1]
    if positions.shape[0] % 2:
        raise EdgeCountError(
            f"odd number of edges ({positions.shape[0]}){skipped}: the last one at "
            f"{scan.time_s(positions[-1]):.6f} s is unpaired; found {scan.describe()}",
            context=scan.source,
        )
    n_windows = positions.shape[0] // 2
    if expected_windows is not None and n_windows != expected_windows:
        raise EdgeCountError(
            f"expected {expected_windows} window(s) ({2 * expected_windows} edges){skipped}, "
            f"found {n_windows} ({positions.shape[0]} edges); found {scan.describe()}",
            context=scan.source,
        )
    counts = _inference_counts(inferences, n_windows)
    return tuple(
        Window(i, float(positions[2 * i]), float(positions[2 * i + 1]), counts[i])
        for i in range(n_windows)
    )


def pair_edges_in_intervals(
    scan: EdgeScan,
    intervals_s: Sequence[tuple[float, float]],
    *,
    inferences: int | Sequence[int] = 0,
) -> tuple[Window, ...]:
    """One window per expected interval (e.g. the host-known span of each ``infer`` command,
    seconds after the trace's first sample): exactly two edges must fall inside each."""
    counts = _inference_counts(inferences, len(intervals_s))
    times = scan.times_s()
    windows: list[Window] = []
    problems: list[str] = []
    for i, (t_start, t_stop) in enumerate(intervals_s):
        if not t_stop > t_start:
            raise AnalysisError(f"interval {i} stops at {t_stop} s before it starts at {t_start} s")
        inside = np.flatnonzero((times >= t_start) & (times <= t_stop))
        lost = [
            u
            for u in scan.unresolved
            if scan.time_s(u.next_id) >= t_start and scan.time_s(u.last_id) <= t_stop
        ]
        if inside.shape[0] != 2 or lost:
            found = ", ".join(f"{times[k]:.6f}" for k in inside)
            problem = (
                f"interval {i} [{t_start:.6f}, {t_stop:.6f}] s has {inside.shape[0]} edge(s)"
                f" [{found}]"
            )
            if lost:
                problem += f" and {len(lost)} level change(s) inside missing samples"
            problems.append(problem)
            continue
        windows.append(
            Window(i, float(scan.positions[inside[0]]), float(scan.positions[inside[1]]), counts[i])
        )
    if problems:
        raise EdgeCountError(
            "expected exactly 2 edges per interval: " + "; ".join(problems),
            context=scan.source,
        )
    return tuple(windows)


def _inference_counts(inferences: int | Sequence[int], n_windows: int) -> list[int]:
    if isinstance(inferences, int | np.integer):
        return [int(inferences)] * n_windows
    counts = [int(n) for n in inferences]
    if len(counts) != n_windows:
        raise AnalysisError(f"{len(counts)} inference counts given for {n_windows} window(s)")
    return counts
