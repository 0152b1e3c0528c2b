"""sww01 end to end on the virtual lab: the runner drives the simulated SWW DUT through the
simulated interface board while each simulated meter records; figures against the lab's
ground truth (the stream's exact energy, the true detections), and the reference model on the
real short file."""

from __future__ import annotations

import re

import pytest
from conftest import shared_path
from runner_helpers import lab_bench, output_still_on, require_meter

from energybench.errors import ConfigError
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import SIM_METERS, attach_meter

# triggered on the start edge only: a stream cannot be delimited, refused for sww01 energy
START_ONLY = {m for m, meter in SIM_METERS.items() if meter.sync_mode == "hw_trigger_start"}
METERS = [m for m in SIM_METERS if m not in START_ONLY]
POWER = re.compile(r"Power\s+: ([\d\.]+) mW.*")
ACCURACY = re.compile(
    r"Accuracy: ([\d]+) True positives, ([\d]+) False negatives, ([\d]+) False positives"
)


@pytest.mark.parametrize("meter", METERS)
def test_energy_of_the_stream_matches_the_lab(tmp_path, meter) -> None:
    require_meter(meter)
    with VirtualLab("fast-m33", mode="energy", workload="sww01") as lab:
        attach_meter(lab, meter, seed=5)
        (result,) = run_workload(
            lab_bench(lab, meter), "sww01", "energy", lab.sd_card, tmp_path / "runs"
        )
        streams = list(lab.dut.streams)
        supply_on = output_still_on(lab)
    (window,) = result.valid_windows  # one stream, bounded by exactly two timestamp edges
    truth = streams[-1]
    assert window.energy_j == pytest.approx(truth.energy_j, rel=1e-3)
    assert window.duration_s == pytest.approx(truth.end_s - truth.start_s, rel=1e-3)
    (power_mw,) = (float(m.group(1)) for m in POWER.finditer(result.results_txt))
    true_mw = 1e3 * truth.energy_j / (truth.end_s - truth.start_s)
    assert power_mw == pytest.approx(true_mw, rel=1e-3)
    # the stand-in card's truth file is not the official long one: never called valid
    assert not result.valid
    assert any("is not the official sww_long_test.json" in v for v in result.validity)
    if SIM_METERS[meter].role == "supply":
        assert not supply_on


@pytest.mark.parametrize("meter", sorted(START_ONLY))
def test_a_start_only_trigger_is_refused_before_anything_runs(tmp_path, meter) -> None:
    require_meter(meter)
    with VirtualLab("fast-m33", mode="energy", workload="sww01") as lab:
        attach_meter(lab, meter, seed=5)
        with pytest.raises(ConfigError, match="start-only trigger cannot delimit a stream"):
            run_workload(lab_bench(lab, meter), "sww01", "energy", lab.sd_card, tmp_path / "r")
        assert lab.dut.streams == []


def test_accuracy_counts_the_lab_detections(tmp_path) -> None:
    with VirtualLab("fast-m33", mode="energy", workload="sww01") as lab:
        (result,) = run_workload(
            lab_bench(lab, None), "sww01", "accuracy", lab.sd_card, tmp_path / "runs"
        )
        stream = lab.dut.streams[-1]
    (match,) = ACCURACY.finditer(result.results_txt)
    # the stand-in file has 3 tone bursts, one per truth window; the stand-in detector fires
    # once per onset, and the first detection is the start marker
    assert match.groups() == ("3", "0", "0")
    assert len(stream.detections_s) == 4


def test_reference_model_on_the_short_file_through_the_runner(tmp_path) -> None:
    card = shared_path("mlperf-tiny", "datasets", "sww01")
    model = shared_path("mlperf-tiny", "models", "str_ww_ref_model.tflite")
    pytest.importorskip("ai_edge_litert", reason="the reference model needs ai-edge-litert")
    with VirtualLab(
        "stm32l4r5-reference", mode="energy", workload="sww01", model=model, sd_card=card
    ) as lab:
        (result,) = run_workload(lab_bench(lab, None), "sww01", "accuracy", card, tmp_path / "r")
    (match,) = ACCURACY.finditer(result.results_txt)
    # what the MLCommons runner README reports for the reference model on real hardware
    assert match.groups() == ("2", "1", "0")
