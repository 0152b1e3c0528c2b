"""The idle baseline in energy runs on the virtual lab, against its truth: the fast-m33 DUT idles
at 3 mA from 1.8 V (5.4 mW); the energy per inference above it is the true window energy less
5.4 mW x the true window duration, per inference. Per window and for the mode, in results.json,
results.csv, the run table, the HTML report and ``energybench analyze --baseline``."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path
from runner_helpers import energy_truth, lab_bench, require_meter, standin

from energybench.cli.runview import render_table, summarize
from energybench.report.html import build_html
from energybench.report.runs import load_run
from energybench.runner.context import RunOptions
from energybench.runner.results import IDLE_BASELINE_UNKNOWN
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter
from energybench.sim.physics.measurement import MeasurementModel
from energybench.traces.reanalysis import ReanalysisOptions, reanalyze

IDLE_W = 0.003 * 1.8  # fast-m33 profile: idle_current_a x supply_voltage_v
QUICK = RunOptions(min_window_s=1.0, windows=3, plots=False)
PROJECT = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, meter: str, measurement=None):
    require_meter(meter)
    root = standin(tmp_path, "kws01", files=3)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, meter, measurement=measurement, seed=3)
        (result,) = run_workload(
            lab_bench(lab, meter), "kws01", "energy", root, tmp_path / "runs", options=QUICK
        )
        truth = energy_truth(result, lab.dut.windows)[1:]  # after the ranging pass, the probe
    assert result.valid, result.validity
    ran = [w for w in result.windows if w.energy_j is not None]
    return result, list(zip(ran, truth, strict=True))


def _true_above(true) -> float:
    return (true.energy_j - IDLE_W * true.duration_s) / true.inferences


def test_baseline_and_energy_above_it_cover_the_truth(tmp_path) -> None:
    """A triggered meter with an accuracy profile (N6705C) and gain, offset and noise errors:
    every window's idle power and energy above it within U (k=2) of the truth, U not vacuous."""
    model = MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=5e-5, seed=7)
    result, pairs = _run(tmp_path, "keysight_n6705c", model)
    for ours, true in pairs:
        assert ours.idle_baseline_unknown is None
        assert 0.01 <= ours.idle_baseline_span_s <= 1.0
        u_p = ours.idle_baseline_power_uncertainty_w
        assert abs(ours.idle_baseline_power_w - IDLE_W) <= u_p < 0.02 * IDLE_W
        above, u = (
            ours.energy_above_baseline_per_inference_j,
            ours.energy_above_baseline_per_inference_uncertainty_j,
        )
        assert abs(above - _true_above(true)) <= u < 0.01 * above
    f = result.figures
    assert f["idle_baseline_power_w"] == pytest.approx(IDLE_W, rel=0.01)
    assert f["energy_above_baseline_per_inference_uncertainty_j"] > 0
    # the MLPerf figure is still the total between the edges
    totals = sorted(w.energy_per_inference_j for w, _ in pairs)
    assert f["median_energy_per_inference_j"] == pytest.approx(totals[1])
    assert f["energy_above_baseline_per_inference_j"] < f["median_energy_per_inference_j"]


def test_stream_run_records_the_baseline_everywhere(tmp_path) -> None:
    """A streaming meter without errors: the baseline is the DUT's idle power itself; it is in
    results.json, results.csv, the run table, the HTML report and analyze --baseline."""
    result, pairs = _run(tmp_path, "sim_stream")
    for ours, true in pairs:
        assert ours.idle_baseline_power_w == pytest.approx(IDLE_W, rel=1e-6)
        assert ours.energy_above_baseline_per_inference_j == pytest.approx(
            _true_above(true), rel=1e-4
        )
    folder = result.folder
    saved = json.loads((folder / "results.json").read_text())
    assert saved["figures"]["idle_baseline_power_w"] == pytest.approx(IDLE_W, rel=1e-6)
    window = saved["windows"][0]
    for key in ("idle_baseline_power_uncertainty_w", "idle_baseline_span_s"):
        assert window[key] is not None
    with (folder / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[0]["idle_baseline_power_w"]) == pytest.approx(IDLE_W, rel=1e-6)
    assert rows[0]["energy_above_baseline_per_inference_uncertainty_k2_j"] != ""

    from rich.console import Console

    console = Console(record=True, width=200)
    render_table([summarize([result])], console)
    text = console.export_text()
    assert "above idle (µJ ± U; idle mW)" in text and "; 5.400" in text

    page = build_html(runs=[load_run(folder)])
    assert "Idle baseline and inference increment" in page and "5.4000 ± " in page
    unknown = dataclasses.replace(
        load_run(folder),
        figures={IDLE_BASELINE_UNKNOWN: "3 of 3 window(s): no quiet span of 10 ms"},
    )
    assert "<b>unknown</b> (3 of 3 window(s): no quiet span of 10 ms)" in build_html(runs=[unknown])

    proc = subprocess.run(
        [sys.executable, "-m", "energybench", "analyze", str(folder), "--baseline", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["baseline"]["median_idle_baseline_power_w"] == pytest.approx(IDLE_W, rel=1e-6)
    assert out["windows"][0]["energy_above_baseline_per_inference_j"] == pytest.approx(
        pairs[0][0].energy_above_baseline_per_inference_j, rel=1e-9
    )


def test_analyze_baseline_on_the_bundled_sample() -> None:
    """examples/sample.jls idles at 2.1 mA between windows, on a rail sagging to 1.7995 V."""
    proc = subprocess.run(
        [sys.executable, "-m", "energybench", "analyze", str(PROJECT / "examples/sample.jls"),
         "--skip-edges", "1", "--inferences", "10", "--baseline"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "idle power" in proc.stdout and "above idle" in proc.stdout
    assert "5 of 5 window(s); median 3.7789 mW" in proc.stdout


def test_analyze_baseline_on_a_published_runner_folder() -> None:
    """The real v1.3 NUCLEO-U385RG-Q kws result (MLCommons runner, ../shared): every window
    has a quiet span after it; the published total is unchanged."""
    folder = shared_path(
        "real-results/tiny_results_v1.3/closed/STMicroelectronics/results/NUCLEO_U385RG_Q/kws/"
        "energy"
    )
    result = reanalyze(folder, ReanalysisOptions(baseline=True))
    baseline = result.extra["baseline"]
    assert baseline["windows_with_baseline"] == baseline["windows"] == 5
    assert result.median_energy_per_inference_j == pytest.approx(245.3412e-6, rel=1e-6)
    above = baseline["median_energy_above_baseline_per_inference_j"]
    assert 0 < above < result.median_energy_per_inference_j
