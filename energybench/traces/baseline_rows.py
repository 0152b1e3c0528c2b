"""``analyze --baseline``: the idle baseline after each re-analysed window and the energy per
inference above it, added to the window rows, with their medians.

The baseline comes from :func:`energybench.analysis.baseline.idle_baseline` (the quiet span
after the window's end edge, searched no further than the next window's start). A re-analysis
knows no meter accuracy: the baseline's U here is the span's scatter only (k=2)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from energybench.analysis.baseline import idle_baseline
from energybench.analysis.trace import Trace

U_NOTE = "U of the idle power: the quiet span's scatter only (k=2), without the meter's accuracy"


def add_baseline(row: dict[str, Any], trace: Trace, limit_position: float | None) -> None:
    """The idle baseline after the row's window (``stop_position``) into the row."""
    base = idle_baseline(trace, float(row["stop_position"]), limit_position=limit_position)
    row["idle_baseline_power_w"] = base.power_w
    row["idle_baseline_power_uncertainty_w"] = (
        None if base.power_standard_w is None else 2.0 * base.power_standard_w
    )
    row["idle_baseline_span_s"] = base.span_s
    row["idle_baseline_unknown"] = base.unknown
    above = base.energy_above_j(float(row["energy_j"]), float(row["duration_s"]))
    n = row.get("inferences") or 0
    row["energy_above_baseline_j"] = above
    row["energy_above_baseline_per_inference_j"] = None if above is None or not n else above / n


def add_baselines(rows: Sequence[dict[str, Any]], trace: Trace) -> None:
    """Every row's baseline in one trace, each searched up to the next window's start."""
    starts = sorted(float(r["start_position"]) for r in rows)
    for row in rows:
        end = float(row["stop_position"])
        later = [s for s in starts if s >= end]
        add_baseline(row, trace, later[0] if later else None)


def baseline_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rows with a known baseline, and why the others have none."""
    known = [r for r in rows if r.get("idle_baseline_power_w") is not None]
    above = [
        r["energy_above_baseline_per_inference_j"]
        for r in known
        if r.get("energy_above_baseline_per_inference_j") is not None
    ]
    above_window = [r["energy_above_baseline_j"] for r in known]
    return {
        "windows_with_baseline": len(known),
        "windows": len(rows),
        "median_idle_baseline_power_w": (
            statistics.median(r["idle_baseline_power_w"] for r in known) if known else None
        ),
        "median_energy_above_baseline_per_inference_j": (
            statistics.median(above) if above else None
        ),
        "median_energy_above_baseline_j": (
            statistics.median(above_window) if above_window else None
        ),
        "unknown": sorted(
            {r["idle_baseline_unknown"] for r in rows if r.get("idle_baseline_unknown")}
        ),
        "note": U_NOTE,
    }
