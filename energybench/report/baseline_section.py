"""The report's idle baseline section: the idle power after the windows and the energy per
inference above it, beside the MLPerf total, for the mode and per window attempt."""

from __future__ import annotations

from html import escape

from energybench.report.runs import RunRecord
from energybench.report.sections import _fmt, _pm, html_table  # one SI format per report
from energybench.runner.results import (
    ENERGY_ABOVE_BASELINE,
    ENERGY_ABOVE_BASELINE_UNCERTAINTY,
    IDLE_BASELINE_POWER_UNCERTAINTY_W,
    IDLE_BASELINE_POWER_W,
    IDLE_BASELINE_UNKNOWN,
)


def baseline_section(run: RunRecord) -> str:
    """The idle baseline after the windows and the energy per inference above it."""
    f = run.figures
    head = "<h3>Idle baseline and inference increment</h3>"
    idle = f.get(IDLE_BASELINE_POWER_W)
    if idle is None:
        reason = f.get(IDLE_BASELINE_UNKNOWN)
        if reason:
            return (
                f"{head}<p>Idle baseline: <b>unknown</b> ({escape(str(reason))}), so the energy "
                "above it (the inference increment) is not known; the energy per inference "
                "above includes the idle power.</p>"
            )
        return (
            f"{head}<p>Idle baseline: <b>not measured</b> in this run (recorded before "
            "energybench measured one), so the energy above it (the inference increment) is "
            "not known; the energy per inference above includes the idle power.</p>"
        )
    summary = html_table(
        [
            "idle baseline power (± U, k=2)",
            "quiet span (shortest)",
            "energy per inference, total (MLPerf)",
            "energy per inference above the baseline (± U, k=2)",
        ],
        [
            [
                _pm(idle, f.get(IDLE_BASELINE_POWER_UNCERTAINTY_W), "W"),
                _fmt(f.get("idle_baseline_span_s"), "s"),
                _pm(
                    f.get("median_energy_per_inference_j"),
                    f.get("energy_per_inference_uncertainty_j"),
                    "J",
                ),
                _pm(f.get(ENERGY_ABOVE_BASELINE), f.get(ENERGY_ABOVE_BASELINE_UNCERTAINTY), "J"),
            ]
        ],
        {0, 1, 2, 3},
    )
    rows = [
        [
            str(w.get("index")),
            str(w.get("attempt")),
            _pm(w.get("idle_baseline_power_w"), w.get("idle_baseline_power_uncertainty_w"), "W"),
            _fmt(w.get("idle_baseline_span_s"), "s"),
            _pm(
                w.get("energy_above_baseline_per_inference_j"),
                w.get("energy_above_baseline_per_inference_uncertainty_j"),
                "J",
            ),
            escape(w.get("idle_baseline_unknown") or ""),
        ]
        for w in run.windows
        if w.get("energy_j") is not None
    ]
    per_window = html_table(
        ["window", "attempt", "idle power", "quiet span", "above idle / inference", "unknown"],
        rows,
        {2, 3, 4},
    )
    return (
        f"{head}<p>The idle power is measured in the quiet span after each window's end edge; "
        "the MLPerf figure stays the total between the edges.</p>" + summary + per_window
    )
