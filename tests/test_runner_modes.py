"""Performance and accuracy modes on the virtual lab, through the real serial protocol."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from conftest import shared_path
from runner_helpers import (
    CHECKER_AUC,
    CHECKER_PERF,
    CHECKER_TOP1,
    StepProgress,
    lab_bench,
    standin,
)

from energybench.errors import DutError
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.workloads.dataset import load_dataset
from energybench.workloads.definitions import load_workload


def _last(pattern: str, text: str) -> str | None:
    found = None
    for line in text.splitlines():
        if m := re.match(pattern, line):
            found = m.group(1)
    return found


def test_accuracy_kws01_equals_direct_litert(tmp_path) -> None:
    """Top-1 over the full kws01 set (1000 files) through the DUT protocol equals a direct
    ai-edge-litert evaluation of the same files."""
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    model = shared_path("mlperf-tiny", "models", "kws_ref_model.tflite")
    data_root = shared_path("mlperf-tiny", "datasets")
    wl = load_workload("kws01")
    dataset = load_dataset(data_root, wl)
    assert len(dataset) == 1000
    interp = Interpreter(model_path=str(model), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    hits = 0
    for sample in dataset.samples:
        x = np.frombuffer(sample.path.read_bytes(), dtype=np.int8).reshape(inp["shape"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        hits += int(np.argmax(interp.get_tensor(out["index"]).reshape(-1)) == sample.label)
    direct_top1 = hits / len(dataset)

    with VirtualLab("fast-m33", mode="performance", workload="kws01", model=model) as lab:
        (result,) = run_workload(
            lab_bench(lab, None), "kws01", "accuracy", data_root, tmp_path / "runs"
        )
    assert result.valid, result.validity
    assert result.figures["files"] == 1000 and result.figures["inferences"] == 1000
    assert result.figures["top1"] == direct_top1
    assert float(_last(CHECKER_TOP1, result.results_txt)) == round(100 * direct_top1, 1)
    assert _last(CHECKER_AUC, result.results_txt) is not None
    folder = result.folder
    for name in ("log.txt", "results.txt", "results.json", "results.csv"):
        assert (folder / name).is_file(), name
    saved = json.loads((folder / "results.json").read_text())
    assert saved["figures"]["top1"] == direct_top1
    assert saved["provenance"]["dut"]["model"] == "kws01"
    assert "infer 1 0%" in (folder / "log.txt").read_text()


def test_accuracy_ad01_scores_every_window(tmp_path) -> None:
    """ad01: every window of every file is inferred; per-file score = mean over windows."""
    root = standin(tmp_path, "ad01", files=4)
    wl = load_workload("ad01")
    windows = load_dataset(root, wl).total_windows
    with VirtualLab("fast-m33", mode="performance", workload="ad01") as lab:
        (result,) = run_workload(lab_bench(lab, None), "ad01", "accuracy", root, tmp_path / "r")
    assert result.figures["inferences"] == windows == 4 * 6
    assert 0.0 <= result.figures["auc"] <= 1.0
    assert _last(CHECKER_AUC, result.results_txt) is not None
    assert result.figures["metric"] == "auc" and "top1" not in result.figures


def test_partial_accuracy_run_says_so_in_results_txt(tmp_path) -> None:
    """accuracy_limit makes a run not submission-valid: results.txt carries the reason."""
    root = standin(tmp_path, "kws01", files=3)
    with VirtualLab("fast-m33", mode="performance", workload="kws01") as lab:
        (result,) = run_workload(
            lab_bench(lab, None),
            "kws01",
            "accuracy",
            root,
            tmp_path / "r",
            options=RunOptions(accuracy_limit=2),
        )
    assert not result.valid and result.figures["files"] == 2
    assert _last(CHECKER_TOP1, result.results_txt) is not None
    assert "ERROR: Not valid for submission.  only 2 of 3 files" in result.results_txt


def test_performance_throughput_equals_simulated_latency(tmp_path) -> None:
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="performance", workload="kws01") as lab:
        (result,) = run_workload(lab_bench(lab, None), "kws01", "performance", root, tmp_path)
        profile = lab.profile
        truth = lab.dut.windows
    latency = profile.workload_latency_s("kws01")
    valid = result.valid_windows
    assert result.valid and len(valid) == 5
    assert all(w.duration_s >= 10.0 for w in valid)
    n = valid[0].inferences
    # the DUT clock's error, the m-lap-us line printed inside the window, the jitter's mean
    lap_line_s = len("m-lap-us-4294967295\r\n") * 10 / profile.baud_for("performance", "kws01")
    bound = (
        abs(profile.clock_error_ppm) * 1e-6
        + lap_line_s / (n * latency)
        + 5 * profile.jitter / math.sqrt(n)
    )
    throughput = result.figures["median_throughput_per_s"]
    assert abs(throughput * latency - 1.0) <= bound
    assert abs(throughput * latency - 1.0) > 0  # the DUT's timing, not the profile echoed
    # five different input files, like the reference runner
    assert len({w.file for w in valid}) == 5
    assert len(truth) == 6  # the probe and the five windows
    assert float(_last(CHECKER_PERF, result.results_txt)) == pytest.approx(throughput, abs=1e-3)


def test_wrong_firmware_build_is_refused(tmp_path) -> None:
    """An energy build on a performance run is refused with the reason (no flash hook)."""
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        bench = lab_bench(lab, None)
        with pytest.raises(DutError, match="energy-mode build"):
            run_workload(bench, "kws01", "performance", root, tmp_path / "r")
    (folder,) = (tmp_path / "r").iterdir()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["valid"] is False and "energy-mode build" in saved["aborted"]


def test_performance_mode_aborted_by_a_silent_dut_keeps_its_attempts(tmp_path) -> None:
    """A DUT that stops answering after the probe aborts the mode: the attempts so far stay
    in the record, and results.txt carries the reason as an ERROR line."""
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="performance", workload="kws01") as lab:

        def hang() -> None:  # after the probe
            lab.dut.faults.hang_on_infer = True

        (result,) = run_workload(
            lab_bench(lab, None),
            "kws01",
            "performance",
            root,
            tmp_path / "r",
            options=RunOptions(infer_timeout_s=1.0),
            progress=StepProgress({0: hang}),
        )
    assert result.aborted and "stopped answering" in result.aborted
    text = (result.folder / "results.txt").read_text()
    assert f"ERROR: Not valid for submission.  aborted: {result.aborted}\n" in text
    assert "ERROR 1 - loop_count was not exactly 5." in text  # the MLC runner's own line
    # the attempt that timed out stays in the record
    saved = json.loads((result.folder / "results.json").read_text())
    assert [(w["index"], w["valid"]) for w in saved["windows"]] == [(0, False)]
    assert "DUT timeout" in saved["windows"][0]["problems"][0]


def test_an_interrupted_performance_run_keeps_its_windows(tmp_path) -> None:
    """Ctrl-C after the second window: the interrupt propagates, and the folder holds both
    windows, the reason, and the MLC runner's own line for a short run."""
    root = standin(tmp_path, "kws01", files=5)

    def interrupt() -> None:
        raise KeyboardInterrupt

    with (
        VirtualLab("fast-m33", mode="performance", workload="kws01") as lab,
        pytest.raises(KeyboardInterrupt),
    ):
        run_workload(
            lab_bench(lab, None),
            "kws01",
            "performance",
            root,
            tmp_path / "r",
            progress=StepProgress({2: interrupt}),  # 0: the probe, 1 and 2: windows 0 and 1
        )
    (folder,) = (tmp_path / "r").iterdir()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["aborted"] == "interrupted (Ctrl-C)" and saved["valid"] is False
    assert [(w["index"], w["valid"]) for w in saved["windows"]] == [(0, True), (1, True)]
    assert all(w["throughput_per_s"] > 0 for w in saved["windows"])
    text = (folder / "results.txt").read_text()
    assert "ERROR: Not valid for submission.  aborted: interrupted (Ctrl-C)\n" in text
    assert "ERROR 1 - loop_count was not exactly 5." in text
    assert len((folder / "results.csv").read_text().splitlines()) == 3  # header + 2 windows


def test_wrong_workload_firmware_is_refused(tmp_path) -> None:
    root = standin(tmp_path, "ic01", files=5)
    with (
        VirtualLab("fast-m33", mode="performance", workload="kws01") as lab,
        pytest.raises(DutError, match="kws01 firmware"),
    ):
        run_workload(lab_bench(lab, None), "ic01", "performance", root, tmp_path / "r")


@pytest.mark.parametrize("mode", ["performance", "accuracy"])
def test_flash_hook_switches_builds_for_all_modes(tmp_path, mode) -> None:
    """`all` without a meter-free bench still runs performance and accuracy first; the flash
    hook is called before the mode that needs the other build, with the build's name: the DUT
    on the energy build is flashed with "performance" for accuracy mode too (never
    "accuracy", which no bench file's [dut] flash has a command for)."""
    root = standin(tmp_path, "kws01", files=5)
    flashed = []
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:

        def flash(build: str) -> None:
            flashed.append(build)
            lab.flash(build)

        (result,) = run_workload(
            lab_bench(lab, None),
            "kws01",
            mode,
            root,
            tmp_path / "r",
            options=RunOptions(flash=flash),
        )
    assert flashed == ["performance"]
    assert result.valid, result.validity
    assert "flashing the performance build" in (result.folder / "log.txt").read_text()


def test_performance_powers_the_rail_from_the_bench_supply(tmp_path) -> None:
    """When the bench's SMU powers the DUT, performance mode switches it on (the DUT boots)
    and off again at the end."""
    from runner_helpers import require_meter

    from energybench.sim.meters import attach_meter

    require_meter("keysight_b2900")
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="performance", workload="kws01") as lab:
        attach_meter(lab, "keysight_b2900")
        assert not lab.timeline.supply_state(lab.timeline.now_s)[1]  # the SMU took the rail
        (result,) = run_workload(
            lab_bench(lab, "keysight_b2900"), "kws01", "performance", root, tmp_path
        )
        assert not lab.timeline.supply_state(lab.timeline.now_s)[1]
    assert result.valid, result.validity
    log = (result.folder / "log.txt").read_text()
    assert "OUTP" in log and "supply shut down: outputs off (confirmed)" in log
