"""A kws01 energy run with the PPK2 in the virtual lab: the PPK2 powers the DUT (source-meter
mode), the timestamp pin reaches it on D0, and it switches between its 7 mA and 70 mA ranges at
every inference. The per-inference energy is checked against the timeline's truth within what
the simulated unit can resolve plus its error model; the ranges are in the recording."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runner_helpers import lab_bench, output_still_on, require_meter, standin

from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter
from energybench.sim.physics.measurement import MeasurementModel
from energybench.traces.jls import read_jls


def test_kws01_energy_run_with_the_ppk2(tmp_path) -> None:
    require_meter("nordic_ppk2")
    model = MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=5e-5, seed=7)
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        sim = attach_meter(lab, "nordic_ppk2", measurement=model, seed=3)
        bench = lab_bench(lab, "nordic_ppk2", lab_figures=False)  # the profile alone
        (result,) = run_workload(
            bench, "kws01", "energy", root, tmp_path / "runs", options=RunOptions()
        )
        truth = list(lab.dut.windows)[1:]  # the first ground-truth window is the probe
        assert not output_still_on(lab), "the PPK2 left the DUT powered"
    assert result.valid, result.validity
    windows = [w for w in result.windows if w.energy_j is not None]
    assert len(windows) == 5 == len(result.valid_windows)
    resolution_a = sim.unit.forward(np.array([8001.0] * 5), np.arange(5), 0.0) - sim.unit.forward(
        np.array([8000.0] * 5), np.arange(5), 0.0
    )
    for ours, true in zip(windows, truth, strict=True):
        assert ours.inferences == true.inferences
        mean_a = true.energy_j / true.duration_s / 1.8
        # half an ADC count of the widest range the DUT reaches (70 mA), the unit's error model
        quantisation = 0.5 * resolution_a[2] / mean_a
        bound = model.error_bound(mean_a, 100_000) / mean_a + quantisation + 2e-4
        expected = true.energy_j / true.inferences
        assert abs(ours.energy_per_inference_j / expected - 1) <= bound
        assert ours.duration_s == pytest.approx(true.duration_s, rel=1e-4)
    # every window holds range switches, recorded sample by sample beside the current
    trace = read_jls(result.folder / "trace.jls")
    assert trace.digital_names == tuple(f"d{k}" for k in range(8))
    for w in windows:
        start = trace.first_sample_id + round(w.start_s * trace.sample_rate_hz)
        chunk = trace.read(start, start + 20_000)  # 0.2 s of the window
        assert {1, 2} <= set(np.unique(chunk.current_range).tolist())
    saved = json.loads((result.folder / "results.json").read_text())
    assert saved["figures"]["trace_sample_rate_hz"] == 100_000
    # Nordic documents no accuracy: the uncertainty is unknown rather than an invented figure
    assert saved["figures"]["energy_per_inference_uncertainty_j"] is None
    assert saved["figures"]["uncertainty_status"] == "unknown: accuracy.current in nordic_ppk2.toml"
    assert any("uncertainty unknown" in n for n in saved["notes"])
