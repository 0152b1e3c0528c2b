"""Rendering of runs: rich progress bars (ETA) on stderr and the summary table (units in the
headers) on stdout; shared by ``energybench run`` and ``energybench demo``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from energybench.runner.results import (
    ENERGY_ABOVE_BASELINE,
    ENERGY_ABOVE_BASELINE_UNCERTAINTY,
    IDLE_BASELINE_POWER_W,
    ModeResult,
)


class RichProgress:
    """The runner's Progress on a rich progress bar (stderr), one task per mode."""

    def __init__(self, console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.bar = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, label: str, total: float) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
        self.task = self.bar.add_task(label, total=total)

    def advance(self, amount: float = 1.0) -> None:
        if self.task is not None:
            self.bar.advance(self.task, amount)

    def note(self, text: str) -> None:
        self.bar.console.print(f"[yellow]{text}[/yellow]")


def summarize(results: Sequence[ModeResult], label: str = "") -> dict[str, Any]:
    """One row of the summary: a workload's figures across its modes."""
    row: dict[str, Any] = {"workload": results[0].workload if results else "", "model": label}
    problems = []
    for r in results:
        f = r.figures
        if f.get("metric") == "f1":  # a stream workload (sww01): every mode streams
            _stream_row(row, r)
        elif r.mode == "energy":
            row["energy_per_inference_uj"] = _scaled(f.get("median_energy_per_inference_j"), 1e6)
            row["energy_uncertainty_uj"] = _scaled(f.get("energy_per_inference_uncertainty_j"), 1e6)
            row["mean_power_mw"] = _scaled(f.get("mean_power_w"), 1e3)
            row["energy_latency_ms"] = _scaled(f.get("latency_s"), 1e3)
            row["energy_latency_uncertainty_ms"] = _scaled(f.get("latency_uncertainty_s"), 1e3)
            row["energy_uncertainty_status"] = f.get("uncertainty_status")
            row["energy_above_idle_uj"] = _scaled(f.get(ENERGY_ABOVE_BASELINE), 1e6)
            row["energy_above_idle_uncertainty_uj"] = _scaled(
                f.get(ENERGY_ABOVE_BASELINE_UNCERTAINTY), 1e6
            )
            row["idle_power_mw"] = _scaled(f.get(IDLE_BASELINE_POWER_W), 1e3)
            row["energy_folder"] = str(r.folder) if r.folder else None
            if f.get("rails"):
                row["rails"] = _rails_row(f["rails"])
            if "calibration_status" in f:
                row["calibration"] = f["calibration_status"]
        elif r.mode == "performance":
            row["latency_ms"] = _scaled(f.get("latency_s"), 1e3)
            row["throughput_per_s"] = f.get("median_throughput_per_s")
            row["performance_folder"] = str(r.folder) if r.folder else None
        elif r.mode == "accuracy":
            row["metric"] = f.get("metric")
            row["top1_percent"] = _scaled(f.get("top1"), 100)
            row["top1_ci95_percent"] = _scaled_pair(f.get("top1_ci95"), 100)
            row["auc"] = f.get("auc")
            row["auc_ci95"] = _scaled_pair(f.get("auc_ci95"), 1)
            row["meets_quality_target"] = f.get("meets_quality_target")
            row["quality_target"] = f.get("quality_target")
            row["accuracy_folder"] = str(r.folder) if r.folder else None
        row[f"{r.mode}_valid"] = r.valid
        problems += [f"{r.mode}: {v}" for v in r.validity]
    row["valid"] = bool(results) and all(r.valid for r in results)
    row["problems"] = problems
    return row


def _rails_row(rails: dict[str, Any]) -> dict[str, Any]:
    """Each rail's and the total energy per inference (µJ ± U), and which rail is MLPerf's."""

    def uj(figures: dict[str, Any]) -> dict[str, float | None]:
        return {
            "energy_per_inference_uj": _scaled(figures.get("energy_per_inference_j"), 1e6),
            "energy_uncertainty_uj": _scaled(
                figures.get("energy_per_inference_uncertainty_j"), 1e6
            ),
        }

    per_rail = {name: uj(f) for name, f in rails.get("per_rail", {}).items()}
    return {
        "per_rail": per_rail,
        "total": uj(rails.get("total", {})),
        "mlperf_rail": rails.get("mlperf_rail", {}).get("rail"),
    }


def _rails_text(rails: dict[str, Any]) -> str:
    """Lines under the MLPerf figure: every other rail, then the total."""
    lines = []
    mlperf = rails.get("mlperf_rail")
    for name, f in (*rails["per_rail"].items(), ("total", rails["total"])):
        if name == mlperf:
            continue
        value = f.get("energy_per_inference_uj")
        lines.append(f"{name} {_fmt(value, '.3f')} ± {_fmt(f.get('energy_uncertainty_uj'), '.3f')}")
    return "\n".join(lines)


def _stream_row(row: dict[str, Any], r: ModeResult) -> None:
    """sww01: power (energy mode), duty cycle and TP/FN/FP from whichever mode streamed (the
    energy mode's stream first), the frame processing time as the latency (1000/throughput,
    as the MLPerf Tiny final report shows it)."""
    f = r.figures
    row["metric"] = "f1"
    row[f"{r.mode}_folder"] = str(r.folder) if r.folder else None
    if r.mode == "energy":
        row["mean_power_mw"] = _scaled(f.get("mean_power_w"), 1e3)
        row["mean_power_uncertainty_mw"] = _scaled(f.get("mean_power_uncertainty_w"), 1e3)
        row["stream_energy_j"] = f.get("stream_energy_j")
    if "true_positives" in f and (r.mode == "energy" or "true_positives" not in row):
        for key in ("true_positives", "false_negatives", "false_positives", "f1"):
            row[key] = f.get(key)
        row["meets_quality_target"] = f.get("meets_quality_target")
        row["quality_target"] = f.get("quality_target")
    if "duty_cycle" in f and (r.mode == "energy" or "duty_cycle" not in row):
        row["duty_cycle"] = f.get("duty_cycle")
        row["latency_ms"] = _scaled(f.get("processing_time_s"), 1e3)
        row["throughput_per_s"] = f.get("estimated_throughput_per_s")


def _stream_accuracy(row: dict[str, Any]) -> str:
    parts = []
    if row.get("f1") is not None:
        parts.append(
            f"F1 {row['f1']:.3f} (TP {row['true_positives']} FN {row['false_negatives']} "
            f"FP {row['false_positives']})"
        )
    if row.get("duty_cycle") is not None:
        parts.append(f"duty {row['duty_cycle']:.4f}")
    text = ", ".join(parts) or "—"
    if row.get("meets_quality_target") is False:
        target = row.get("quality_target") or {}
        text += (
            f" (> target FP/FN ≤ {target.get('max_false_positives')}/"
            f"{target.get('max_false_negatives')})"
        )
    return text


def _scaled_pair(value: Any, factor: float) -> list[float] | None:
    """A (low, high) interval scaled, None when absent or not finite."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    pair = [_scaled(v, factor) for v in value]
    return None if None in pair else pair  # type: ignore[return-value]


def _interval(pair: list[float] | None, spec: str) -> str:
    return "" if pair is None else f" [{pair[0]:{spec}}, {pair[1]:{spec}}]"


def _scaled(value: Any, factor: float) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value) * factor


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _u_text(u: float | None) -> str:
    """An expanded uncertainty as a table shows it: "unknown" when a figure it needs is
    (never a smaller number with that term left out)."""
    return "unknown" if u is None else f"{u:.3f}"


def render_table(
    rows: Sequence[dict[str, Any]],
    console,
    title: str = "energybench",
    calibration_column: bool = False,
) -> None:
    """The summary table; ``calibration_column``: the energy mode's calibration status too
    (`energybench run`; the demo's lab is always uncalibrated and its table stays narrow)."""
    from rich.table import Table

    table = Table(title=title)
    for header, justify in (
        ("workload", "left"),
        ("model", "left"),
        ("energy/inference (µJ ± U, k=2)", "right"),
        ("above idle (µJ ± U; idle mW)", "right"),
        ("latency (ms)", "right"),
        ("accuracy [95 % CI]", "right"),
        ("power (mW)", "right"),
        ("valid", "left"),
    ):
        # the figures' headers and cells stay on one line; model, accuracy and validity wrap
        table.add_column(
            header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=header not in ("model", "accuracy [95 % CI]", "valid"),
        )
    calibrated = calibration_column and any("calibration" in row for row in rows)
    if calibrated:
        table.add_column("calibration", justify="left")
    for row in rows:
        energy = row.get("energy_per_inference_uj")
        u = row.get("energy_uncertainty_uj")
        energy_text = "—" if energy is None else f"{energy:.3f} ± {_u_text(u)}"
        above = row.get("energy_above_idle_uj")
        above_text = (
            "—"
            if above is None
            else f"{above:.3f} ± {_u_text(row.get('energy_above_idle_uncertainty_uj'))}; "
            f"{_fmt(row.get('idle_power_mw'), '.3f')}"
        )
        if row.get("rails") and energy is not None:  # the MLPerf rail first, named
            energy_text += f" ({row['rails']['mlperf_rail']}, MLPerf)\n" + _rails_text(row["rails"])
        latency = row.get("latency_ms", row.get("energy_latency_ms"))
        latency_text = _fmt(latency, ".3f")
        if "latency_ms" not in row and latency is not None:  # the meter's latency: its U
            u_latency = row.get("energy_latency_uncertainty_ms")
            latency_text += f" ± {'unknown' if u_latency is None else format(u_latency, '.4f')}"
        if row.get("metric") == "f1":
            accuracy = _stream_accuracy(row)
        elif row.get("metric") == "auc":
            accuracy = "—" if row.get("auc") is None else f"AUC {row['auc']:.3f}"
            accuracy += _interval(row.get("auc_ci95"), ".3f") if row.get("auc") is not None else ""
        else:
            accuracy = (
                "—"
                if row.get("top1_percent") is None
                else f"top-1 {row['top1_percent']:.1f} %"
                + _interval(row.get("top1_ci95_percent"), ".1f")
            )
        if row.get("metric") != "f1" and row.get("meets_quality_target") is False:
            target = row["quality_target"]
            shown = f"{target:.2f}" if row.get("metric") == "auc" else f"{100 * target:.0f} %"
            accuracy += f" (< target {shown})"
        power = _fmt(row.get("mean_power_mw"), ".3f")
        if row.get("metric") == "f1" and row.get("mean_power_mw") is not None:
            power += f" ± {_u_text(row.get('mean_power_uncertainty_mw'))}"  # sww01: the figure
        problems = row.get("problems") or []
        valid = "yes" if row.get("valid") else "NO: " + "; ".join(problems)[:120]
        cells = [row.get("workload", ""), row.get("model", ""), energy_text, above_text,
                 latency_text, accuracy, power, valid]  # fmt: skip
        if calibrated:
            cells.append(str(row.get("calibration", "—"))[:100])
        table.add_row(*cells)
    console.print(table)
