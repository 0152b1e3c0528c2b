"""What a run produces, mode by mode: every window attempt (kept, never silently dropped), the
figures derived from the valid ones, the validity verdict with its reasons, and provenance."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from energybench.analysis.stats import json_ready

# Figure names other layers read (report/ compares runs by them; keep them in one place).
UNCERTAINTY_COMPONENTS = "uncertainty_components_per_inference_j"  # standard terms, k=1
MEASUREMENT_SETUP = "measurement_setup"  # current ranges in use, calibration record ids
IDLE_BASELINE_POWER_W = "idle_baseline_power_w"  # the DUT's idle power after the windows
IDLE_BASELINE_POWER_UNCERTAINTY_W = "idle_baseline_power_uncertainty_w"  # expanded (k=2)
IDLE_BASELINE_UNKNOWN = "idle_baseline_unknown"  # why there is no baseline (None: there is)
ENERGY_ABOVE_BASELINE = "energy_above_baseline_per_inference_j"  # the inference increment
ENERGY_ABOVE_BASELINE_UNCERTAINTY = "energy_above_baseline_per_inference_uncertainty_j"
LABEL_COUNTS = "label_counts"  # accuracy mode: files per true label (the AUC's error needs it)


@dataclass
class WindowRecord:
    """One measured window (or one failed attempt at it). SI units throughout."""

    index: int  # the window slot (0..4); a re-run keeps the slot and bumps ``attempt``
    attempt: int
    file: str
    inferences: int
    warmups: int
    valid: bool = True
    problems: list[str] = field(default_factory=list)
    partial: bool = False  # cut mid-way (Ctrl-C, a signal, a lost meter): never valid
    duration_s: float | None = None  # meter window (energy) or DUT timing (performance)
    energy_j: float | None = None
    energy_per_inference_j: float | None = None
    energy_uncertainty_j: float | None = None  # expanded (k=2), per window energy
    mean_power_w: float | None = None
    mean_current_a: float | None = None
    latency_s: float | None = None
    throughput_per_s: float | None = None
    dut_elapsed_s: float | None = None
    start_s: float | None = None  # in the recording's time base
    stop_s: float | None = None
    missing_samples: int = 0
    edge_source: str = ""
    plot: str | None = None
    # where the window lies in its raw file, for a re-analysis to find it again: the file, the
    # edge positions used and (stream recordings) the host-known interval searched for them,
    # in the file's sample ids
    raw_file: str | None = None
    start_position: float | None = None
    stop_position: float | None = None
    interval_ids: list[int] | None = None
    # the current ranges inside the window (streams): a switch is flagged and counted in U
    current_ranges_used_a: list[float] | None = None
    range_switches: int | None = None  # None: not known (a capture)
    range_switch_samples: int | None = None
    range_switch_energy_j: float | None = None
    # the idle baseline in the quiet span after the end edge (energy windows; None: not
    # measured, ``idle_baseline_unknown`` says why) and the energy per inference above it
    idle_baseline_power_w: float | None = None
    idle_baseline_power_uncertainty_w: float | None = None  # expanded (k=2)
    idle_baseline_span_s: float | None = None
    idle_baseline_unknown: str | None = None
    energy_above_baseline_per_inference_j: float | None = None
    energy_above_baseline_per_inference_uncertainty_j: float | None = None  # expanded (k=2)
    # further measured rails (bench file [rails.<name>]): each rail's figures of this window
    # (energy_j, energy_per_inference_j, energy_uncertainty_j, mean_power_w, raw_file, ...)
    rails: dict[str, dict[str, Any]] = field(default_factory=dict)

    def invalidate(self, problem: str) -> None:
        self.valid = False
        self.problems.append(problem)

    def cut(self, reason: str) -> None:
        """The attempt was cut mid-way by what ended the mode: kept, marked partial, invalid."""
        self.partial = True
        self.invalidate(f"not completed: {reason}")


@dataclass
class ModeResult:
    """The outcome of one mode of one workload."""

    workload: str
    mode: str
    valid: bool = False
    validity: list[str] = field(default_factory=list)  # why the result is not valid
    notes: list[str] = field(default_factory=list)  # flagged, not disqualifying
    windows: list[WindowRecord] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None
    aborted: str | None = None  # the reason a mode stopped early
    results_txt: str = ""  # the MLC-runner-format text (results.txt)

    @property
    def valid_windows(self) -> list[WindowRecord]:
        return [w for w in self.windows if w.valid]

    def abort(self, reason: str) -> None:
        """The mode ended early: the first reason goes into ``aborted`` and the validity."""
        if self.aborted is None:
            self.aborted = reason
            self.validity.append(f"aborted: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "workload": self.workload,
                "mode": self.mode,
                "valid": self.valid,
                "validity": self.validity,
                "notes": self.notes,
                "aborted": self.aborted,
                "figures": self.figures,
                "windows": [asdict(w) for w in self.windows],
                "provenance": self.provenance,
            }
        )


def flag_range_switches(result: ModeResult) -> None:
    """Windows with a current-range switch inside are flagged (a note per window and the
    figure ``range_switch_windows``); their energy stays, its U counts the switch."""
    switched = [w for w in result.windows if w.range_switches]
    if not any(w.range_switches is not None for w in result.windows):
        return
    result.figures["range_switch_windows"] = [[w.index, w.attempt] for w in switched]
    for w in switched:
        note = (
            f"window {w.index} attempt {w.attempt}: {w.range_switches} current-range "
            f"switch(es) inside ({w.range_switch_samples} settling samples, "
            f"{w.range_switch_energy_j or 0.0:.3g} J counted in U)"
        )
        if note not in result.notes:
            result.notes.append(note)


def write_json(path: Path, result: ModeResult) -> None:
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")


CSV_COLUMNS = (
    ("window", "index"),
    ("attempt", "attempt"),
    ("file", "file"),
    ("valid", "valid"),
    ("partial", "partial"),
    ("inferences", "inferences"),
    ("warmups", "warmups"),
    ("duration_s", "duration_s"),
    ("energy_j", "energy_j"),
    ("energy_per_inference_j", "energy_per_inference_j"),
    ("energy_uncertainty_k2_j", "energy_uncertainty_j"),
    ("mean_power_w", "mean_power_w"),
    ("mean_current_a", "mean_current_a"),
    ("latency_s", "latency_s"),
    ("throughput_per_s", "throughput_per_s"),
    ("dut_elapsed_s", "dut_elapsed_s"),
    ("start_s", "start_s"),
    ("stop_s", "stop_s"),
    ("missing_samples", "missing_samples"),
    ("range_switches", "range_switches"),
    ("idle_baseline_power_w", "idle_baseline_power_w"),
    ("idle_baseline_power_uncertainty_k2_w", "idle_baseline_power_uncertainty_w"),
    ("idle_baseline_span_s", "idle_baseline_span_s"),
    ("idle_baseline_unknown", "idle_baseline_unknown"),
    ("energy_above_baseline_per_inference_j", "energy_above_baseline_per_inference_j"),
    (
        "energy_above_baseline_per_inference_uncertainty_k2_j",
        "energy_above_baseline_per_inference_uncertainty_j",
    ),
    ("problems", "problems"),
)


RAIL_CSV_FIGURES = ("energy_j", "energy_per_inference_j", "energy_uncertainty_j", "mean_power_w")


def write_csv(path: Path, result: ModeResult) -> None:
    """One row per window attempt; units in the column names; a run with further rails adds
    ``<rail>_<figure>`` columns for each (docs/rails.md)."""
    rails = sorted({name for w in result.windows for name in w.rails})
    rail_columns = [(r, f) for r in rails for f in RAIL_CSV_FIGURES]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = [name for name, _ in CSV_COLUMNS]
        header += [f"{r}_{f.replace('uncertainty_j', 'uncertainty_k2_j')}" for r, f in rail_columns]
        writer.writerow(header)
        for w in result.windows:
            row = []
            for _, attr in CSV_COLUMNS:
                value = getattr(w, attr)
                if attr == "problems":
                    value = " | ".join(value)
                row.append("" if value is None else value)
            for rail, figure in rail_columns:
                value = w.rails.get(rail, {}).get(figure)
                row.append("" if value is None else value)
            writer.writerow(row)
