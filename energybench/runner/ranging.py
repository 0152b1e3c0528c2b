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
from energybench.runner.rails import RailsMeasurer
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


def choose_range(
    measurer: Any,
    instruments: BenchInstruments,
    folder: Path,
    end: WindowEnd,
    ranging_run: Callable[[], RangingRun | None],
    noun: str,
    log: Callable[[str], None],
) -> tuple[SampleRate, RangeChoice] | None:
    """Set the range of every stream measurer of the mode (``measurer``: a stream, a capture or
    a :class:`~energybench.runner.rails.RailsMeasurer`) before it starts: the bench's, the
    ranging pass' pick, or the widest where no pass can run (``ranging_run()`` None, or
    several rails: one pass cannot range several meters). The main stream's rate and range
    (None: no stream)."""
    if isinstance(measurer, RailsMeasurer):
        for stream in (measurer.main, *measurer.own.values()):
            if isinstance(stream, StreamMeasurer) and stream.pickable_ranges_a:
                stream.use_range(max(stream.pickable_ranges_a))
        measurer, noun = measurer.main, "several rails"
        ranging_run = lambda: None  # noqa: E731
    if not isinstance(measurer, StreamMeasurer):
        return None
    choice = RangeChoice(measurer.request.current_range_a, "bench file")
    if choice.chosen_a is None:
        choice = RangeChoice(None, "meter default")
    run = ranging_run() if measurer.pickable_ranges_a else None
    if measurer.pickable_ranges_a and run is None:  # nothing to range on: the widest
        widest = max(measurer.pickable_ranges_a)
        choice = RangeChoice(widest, f"widest (no ranging pass with {noun})")
    elif run is not None:
        choice = ranging_pass(instruments, folder, end, measurer.rate, run, log)
    measurer.use_range(choice.chosen_a)
    return measurer.rate, choice
