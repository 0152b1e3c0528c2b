"""The uncertainty through a whole lab run: "unknown" when the meter's figures are (results.json
null with the entry named, the table's "± unknown", analyze's line), and a known U that covers
the truth when the lab's bench file states the simulated meter's true error model."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from runner_helpers import energy_truth, lab_bench, require_meter, standin
from typer.testing import CliRunner

from energybench.cli.app import app
from energybench.cli.runview import render_table, summarize
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter

METER = "otii"  # nothing documented: every figure unknown


def _run(tmp_path, *, lab_figures: bool, meter: str = METER):
    require_meter(meter)
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, meter, measurement="datasheet", seed=5)
        bench = lab_bench(lab, meter, lab_figures=lab_figures)
        (result,) = run_workload(bench, "kws01", "energy", root, tmp_path / "runs")
        truth = energy_truth(result, lab.dut.windows)[1:]  # the first is the probe
    return result, truth


def _table(result) -> str:
    out = io.StringIO()
    render_table([summarize([result], "m")], Console(file=out, width=240))
    return out.getvalue()


def test_unknown_figures_give_an_unknown_uncertainty_everywhere(tmp_path) -> None:
    result, _ = _run(tmp_path, lab_figures=False)
    assert result.valid, result.validity
    saved = json.loads((result.folder / "results.json").read_text())
    figures = saved["figures"]
    assert figures["energy_per_inference_uncertainty_j"] is None
    assert figures["uncertainty_status"] == "unknown: accuracy.current in otii_arc.toml"
    assert figures["latency_uncertainty_s"] is None  # the Arc's timebase is unknown too
    assert all(w.energy_uncertainty_j is None for w in result.valid_windows)
    assert any("uncertainty unknown" in n for n in result.notes)
    table = _table(result)
    assert "± unknown" in table
    analyzed = CliRunner().invoke(app, ["analyze", str(result.folder)])
    assert analyzed.exit_code == 0, analyzed.output
    assert "U of the median (k=2): unknown: accuracy.current in otii_arc.toml" in analyzed.output


@pytest.mark.parametrize("meter", [METER, "keysight_n6705c"])  # a stream; one capture a window
def test_the_labs_stated_error_model_gives_a_u_that_covers_the_truth(tmp_path, meter) -> None:
    result, truth = _run(tmp_path, lab_figures=True, meter=meter)
    assert result.valid, result.validity
    figures = result.figures
    assert figures["uncertainty_status"] == "known"
    u = figures["energy_per_inference_uncertainty_j"]
    assert u > 0 and figures["latency_uncertainty_s"] > 0
    true_per_inf = sorted(t.energy_j / t.inferences for t in truth)[len(truth) // 2]
    assert abs(figures["median_energy_per_inference_j"] - true_per_inf) <= u
    assert u < 0.01 * true_per_inf  # not vacuous: the models' limits are 0.1 % or less
    assert "± unknown" not in _table(result)
    analyzed = CliRunner().invoke(app, ["analyze", str(result.folder), "--json"])
    assert analyzed.exit_code == 0, analyzed.output
    data = json.loads(analyzed.output)
    assert data["uncertainty_status"] == "known"
    assert data["energy_per_inference_uncertainty_j"] > 0
    assert "bench file" in data["uncertainty_profile"]
