"""The ranging pass: before the first window, the workload runs once (a short ``infer``, the
probe's size) recorded in the meter's widest range to ``ranging.jls``; the smallest fixed
range whose full scale holds the peak current × :data:`MARGIN` is then used for every window
(docs/bench-file.md#current-range). A fixed range never switches mid-window, so the budget's
accuracy figure is the one of a known range; a peak beyond the widest range keeps the widest
(each over-range sample then invalidates its window)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from energybench.errors import RunError
from energybench.runner.abort import ModeAborted
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measurer import Measured, WindowEnd, WindowId
from energybench.runner.meter_setup import SampleRate, meter_ranges_a
from energybench.runner.stream_measurer import StreamMeasurer

MARGIN = 1.25  # the chosen range's full scale holds at least the peak × this
RANGING_FILE = "ranging.jls"


@dataclass(frozen=True)
class RangeChoice:
    """The current range every window uses, and what chose it."""

    chosen_a: float | None  # None: the meter's own (widest, or its own switching)
    source: str  # "bench file", "ranging pass", "meter default"
    peak_a: float | None = None  # the ranging pass' peak |current|
    margin: float | None = None
    ranging_file: str | None = None
    attempts: int = 0  # windows the DUT ran for the pass (each one DUT window before the probe)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen_a": self.chosen_a,
            "peak_a": self.peak_a,
            "margin": self.margin,
            "source": self.source,
            "ranging_file": self.ranging_file,
            "attempts": self.attempts,
        }


def pick_range(ranges_a: tuple[float, ...], peak_a: float, margin: float = MARGIN) -> float:
    """The smallest range holding ``peak_a × margin`` (the widest when none does)."""
    if not ranges_a:
        raise RunError("the meter lists no current ranges", context="current_range_a")
    need = abs(peak_a) * margin
    return next((r for r in sorted(ranges_a) if r >= need), max(ranges_a))


def window_peak_a(measured: Measured) -> float | None:
    """The largest |current| between the window's edges (None: no window was found)."""
    trace, w = measured.trace, measured.window
    if trace is None or w is None:
        return None
    start = max(trace.first_sample_id, math.floor(w.start_position))
    stop = min(trace.stop_sample_id, math.ceil(w.stop_position))
    if stop <= start:
        return None
    current = np.abs(np.asarray(trace.read(start, stop).current_a, dtype=np.float64))
    return float(np.nanmax(current)) if np.isfinite(current).any() else None


@dataclass
class RangingRun:
    """What the pass needs from the energy mode: the window it runs and how to recover."""

    drive: Callable[[], Any]  # runs the DUT through the short window
    prepare: Callable[[], None]  # before each attempt (download its input)
    inferences: int
    expected_s: float
    recover: Callable[[Measured], None]  # after a failed attempt (a hung DUT)
    attempts: int


def ranging_pass(
    instruments: BenchInstruments,
    folder: Path,
    end: WindowEnd,
    rate: SampleRate,
    run: RangingRun,
    log: Callable[[str], None],
) -> RangeChoice:
    """Record one short window in the widest range; the range that holds its peak."""
    ranges = meter_ranges_a(instruments)
    measurer = StreamMeasurer(
        instruments,
        folder,
        end,
        plan={"kind": "energybench-ranging", "planned_windows": 1},
        file_name=RANGING_FILE,
        rate=rate,
        current_range_a=max(ranges),
    )
    problems: list[str] = []
    measurer.start()
    try:
        for k in range(run.attempts):
            run.prepare()
            measured = measurer.measure(
                run.drive, inferences=run.inferences, expected_s=run.expected_s,
                window=WindowId(None, k),
            )  # fmt: skip
            peak = window_peak_a(measured)
            if peak is not None and not measured.problems:
                chosen = pick_range(ranges, peak)
                log(
                    f"ranging pass: peak {peak:.6g} A, margin x{MARGIN:g}: range "
                    f"{chosen:g} A (of {', '.join(f'{r:g}' for r in ranges)} A)"
                )
                return RangeChoice(chosen, "ranging pass", peak, MARGIN, RANGING_FILE, k + 1)
            problems = measured.problems or ["no window found"]
            log(f"ranging pass attempt {k} failed: {problems}")
            run.recover(measured)
    finally:
        measurer.stop()
    raise ModeAborted(f"the ranging pass failed {run.attempts} times: {problems}")
