"""Energy mode on the virtual lab, for every simulated meter in this checkout: 5 windows of
>= 10 s, per-inference energy against the simulated DUT's ground truth, the run folder, and the
failure paths (hung DUT, dropped connection, dropped chunk)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import threading
import time

import pytest
from runner_helpers import (
    CHECKER_ENERGY,
    StepProgress,
    energy_truth,
    lab_bench,
    output_still_on,
    require_meter,
    standin,
)

from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import SIM_METERS, attach_meter
from energybench.sim.physics.measurement import MeasurementModel
from energybench.traces.jls import read_jls

METERS = list(SIM_METERS)


def _energy_run(tmp_path, meter: str, *, measurement=None, progress=None, options=None, **kw):
    require_meter(meter)
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        sim = attach_meter(lab, meter, measurement=measurement, seed=3)
        hooks = progress(lab, sim) if progress else None
        (result,) = run_workload(
            lab_bench(lab, meter),
            "kws01",
            "energy",
            root,
            tmp_path / "runs",
            options=options or RunOptions(),
            progress=hooks,
            **kw,
        )
        truth = list(lab.dut.windows)
        supply_on = output_still_on(lab)
    return result, truth, supply_on


def _pair(result, truth):
    """Our window attempts that ran an infer, in order, with the DUT's ground truth (after the
    ranging pass' windows, the first ground-truth window is the probe)."""
    ran = [w for w in result.windows if w.energy_j is not None]
    return list(zip(ran, energy_truth(result, truth)[1:], strict=True))


@pytest.mark.parametrize("meter", METERS)
def test_energy_ideal_matches_ground_truth(tmp_path, meter) -> None:
    result, truth, supply_on = _energy_run(tmp_path, meter)
    assert result.valid, result.validity
    valid = result.valid_windows
    assert len(valid) == 5 and len(result.windows) == 5
    for ours, true in _pair(result, truth):
        assert true.inferences == ours.inferences
        assert ours.duration_s >= 10.0 and true.duration_s >= 10.0
        expected = true.energy_j / true.inferences
        assert ours.energy_per_inference_j == pytest.approx(expected, rel=1e-3)
        assert ours.duration_s == pytest.approx(true.duration_s, rel=1e-3)
        assert ours.energy_uncertainty_j is not None and ours.energy_uncertainty_j > 0
    # N was scaled from the probe, not taken from the workload's table (70)
    assert valid[0].inferences > 70
    median = result.figures["median_energy_per_inference_j"]
    text = result.results_txt
    found = [m.group(1) for line in text.splitlines() if (m := re.search(CHECKER_ENERGY, line))]
    assert float(found[-1]) == pytest.approx(median * 1e6, abs=1e-4)
    assert "ERROR" not in text
    folder = result.folder
    for name in ("log.txt", "results.txt", "results.json", "results.csv"):
        assert (folder / name).is_file()
    assert len(list(folder.glob("energy_inf_*.png"))) == 5
    if "capture_files" in result.figures:  # triggered: the probe's and each window's capture
        names = result.figures["capture_files"]
        assert names[0].startswith("capture_probe_a0.") and len(names) == 6
        assert all((folder / name).is_file() for name in names)
    else:  # streaming: one recording of the whole mode
        assert (folder / result.figures["trace_file"]).is_file()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["figures"]["energy_per_inference_uncertainty_j"] > 0
    assert saved["provenance"]["energybench_version"]
    assert saved["provenance"]["dut"]["timestamp_mode"] == "energy"
    header = (folder / "results.csv").read_text().splitlines()[0]
    assert "energy_per_inference_j" in header and "duration_s" in header
    log = (folder / "log.txt").read_text()
    assert "infer" in log and "instrument:" in log
    if SIM_METERS[meter].role == "supply":
        assert not supply_on  # output switched off at the end


@pytest.mark.slow
@pytest.mark.parametrize("meter", METERS)
def test_energy_with_noise_within_bound(tmp_path, meter) -> None:
    model = MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=5e-5, seed=7)
    result, truth, _ = _energy_run(tmp_path, meter, measurement=model)
    assert result.valid, result.validity
    for ours, true in _pair(result, truth):
        mean_a = true.energy_j / true.duration_s / 1.8
        rel_bound = model.error_bound(mean_a, 10_000) / mean_a + 1e-3
        expected = true.energy_j / true.inferences
        assert abs(ours.energy_per_inference_j / expected - 1) <= rel_bound
        assert ours.energy_per_inference_j != pytest.approx(expected, rel=1e-7)  # noise shows


def test_dropped_chunk_invalidates_and_reruns_the_window(tmp_path) -> None:
    def arm(lab, sim):
        def drop() -> None:  # after the probe: a frame a few seconds into window 0 is lost
            sim.faults.drop_frames = {sim.frames_sent + 40}

        return StepProgress({0: drop})

    result, _, _ = _energy_run(tmp_path, "sim_stream", progress=arm)
    assert result.valid, result.validity
    invalid = [w for w in result.windows if not w.valid]
    assert len(invalid) == 1 and invalid[0].index == 0
    assert any("missing" in p.lower() for p in invalid[0].problems)
    assert [w.index for w in result.valid_windows] == [0, 1, 2, 3, 4]
    assert len(result.windows) == 6
    assert result.figures["acquisition"]["dropped_samples"] > 0
    trace = read_jls(result.folder / "trace.jls")
    assert trace.missing_count > 0  # the gap is in the raw file too, never interpolated


def test_hung_dut_ends_in_bounded_time_with_a_reason(tmp_path) -> None:
    def arm(lab, sim):
        def hang() -> None:  # after window 1
            lab.dut.faults.hang_on_infer = True

        return StepProgress({2: hang})

    started = time.monotonic()
    result, _, _ = _energy_run(
        tmp_path, "sim_stream", progress=arm, options=RunOptions(infer_timeout_s=1.0)
    )
    assert time.monotonic() - started < 30
    assert not result.valid
    assert any("DUT timeout" in p for w in result.windows for p in w.problems)
    assert result.aborted and "stopped answering" in result.aborted
    assert len(result.valid_windows) == 2
    saved = json.loads((result.folder / "results.json").read_text())
    assert saved["valid"] is False and saved["aborted"]
    assert "Not valid for submission" in (result.folder / "results.txt").read_text()
    assert read_jls(result.folder / "trace.jls").n_samples > 0


def test_dropped_meter_connection_aborts_cleanly(tmp_path) -> None:
    def arm(lab, sim):
        def close() -> None:
            sim.faults.close_at_frame = sim.frames_sent + 30

        return StepProgress({1: close})

    started = time.monotonic()
    result, _, _ = _energy_run(tmp_path, "sim_stream", progress=arm)
    assert time.monotonic() - started < 30
    assert not result.valid and result.aborted
    assert "meter" in result.aborted
    trace = read_jls(result.folder / "trace.jls")  # readable up to the failure
    assert trace.n_samples > 0
    saved = json.loads((result.folder / "results.json").read_text())
    assert any("aborted" in v for v in saved["validity"])


def test_hung_dut_is_power_cycled_and_the_window_rerun(tmp_path) -> None:
    """With the supply in the runner's hands a hung DUT is power-cycled (a transient hang:
    the reboot clears it) and the window re-run; the output is off at the end."""

    def arm(lab, sim):
        reset = lab.dut.reset

        def reboot(*args, **kw) -> None:
            lab.dut.faults.hang_on_infer = False
            reset(*args, **kw)

        lab.dut.reset = reboot

        def hang() -> None:
            lab.dut.faults.hang_on_infer = True

        return StepProgress({2: hang})

    result, _, supply_on = _energy_run(
        tmp_path, "keysight_b2900", progress=arm, options=RunOptions(infer_timeout_s=1.0)
    )
    assert result.valid, result.validity
    invalid = [w for w in result.windows if not w.valid]
    assert len(invalid) == 1 and invalid[0].index == 2
    assert any("DUT timeout" in p for p in invalid[0].problems)
    assert "power-cycled" in (result.folder / "log.txt").read_text()
    assert not supply_on


def test_extra_edge_in_a_window_invalidates_and_reruns_it(tmp_path) -> None:
    """A glitch on the timestamp line inside a window: three edges where two are expected;
    the window is invalid with the edges found listed, and re-run."""

    def arm(lab, sim):
        dut, state = lab.dut, {"armed": False}
        compute = dut.compute

        def glitchy(inferences: int, timed: bool) -> None:
            if not (timed and state["armed"]):
                compute(inferences, timed)
                return
            state["armed"] = False
            compute(inferences // 2, timed)
            t = lab.timeline.now_s
            with lab.timeline.hold():
                lab.timeline.set_pin("timestamp", t, False)
                lab.timeline.set_pin("timestamp", t + 0.002, True)
            compute(inferences - inferences // 2, timed)

        dut.compute = glitchy
        return StepProgress({1: lambda: state.update(armed=True)})

    result, _, _ = _energy_run(tmp_path, "sim_stream", progress=arm)
    assert result.valid, result.validity
    (bad,) = [w for w in result.windows if not w.valid]
    assert bad.index == 1 and bad.attempt == 0
    assert any("EdgeCountError" in p and "3 edge(s)" in p for p in bad.problems), bad.problems
    assert [w.index for w in result.valid_windows] == [0, 1, 2, 3, 4]


def test_n6705c_elog_stream_with_the_vmeter_sync_channel(tmp_path) -> None:
    """analog_channel on a streaming meter: the N6705C's Elog (bin averages at a rate JLS cannot
    store, so the recording is CSV) with the timestamp pin digitized on a VMETer channel. The
    reference DUT's 2 ms timestamp pulse spans several Elog bins."""
    import tomllib

    from energybench.runner.bench import parse_bench
    from energybench.sim.meters import bench_toml
    from energybench.traces.csv_io import read_csv

    require_meter("keysight_n6705c")
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("stm32l4r5-reference", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "keysight_n6705c")
        lab.start_idle_clock()  # the Elog reports only what the timeline made final
        text = bench_toml(lab, "keysight_n6705c", acquisition="stream", sample_rate_hz=2000.0)
        bench = parse_bench(tomllib.loads(text.replace('line = "PIN1"', 'line = "BUS"')))
        (result,) = run_workload(bench, "kws01", "energy", root, tmp_path / "runs")
        truth = list(lab.dut.windows)
    assert result.valid, result.validity
    for ours, true in _pair(result, truth):
        assert ours.energy_per_inference_j == pytest.approx(
            true.energy_j / true.inferences, rel=1e-3
        )
    assert result.figures["trace_file"] == "trace.csv"
    trace = read_csv(result.folder / "trace.csv")
    assert trace.sample_kind == "bin" and "timestamp" in trace.digital_names


def _saved(tmp_path):
    (folder,) = (tmp_path / "runs").iterdir()
    saved = json.loads((folder / "results.json").read_text())
    with (folder / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return folder, saved, rows


def test_an_interrupted_energy_run_keeps_the_windows_it_measured(tmp_path) -> None:
    """Ctrl-C after the second window: the run stops (the interrupt propagates) and its
    folder holds both windows with their figures, the reason, and the raw trace."""

    def arm(lab, sim):
        def interrupt() -> None:
            raise KeyboardInterrupt

        return StepProgress({2: interrupt})  # 0: the probe, 1 and 2: windows 0 and 1

    with pytest.raises(KeyboardInterrupt):
        _energy_run(tmp_path, "sim_stream", progress=arm)
    folder, saved, rows = _saved(tmp_path)
    assert saved["aborted"] == "interrupted (Ctrl-C)" and saved["valid"] is False
    windows = [(w["index"], w["valid"], w["partial"]) for w in saved["windows"]]
    assert windows == [(0, True, False), (1, True, False)]
    assert all(w["energy_per_inference_j"] > 0 for w in saved["windows"])
    assert saved["figures"]["median_energy_per_inference_j"] > 0
    assert [(r["window"], r["valid"], r["partial"]) for r in rows] == [
        ("0", "True", "False"),
        ("1", "True", "False"),
    ]
    assert float(rows[1]["energy_per_inference_j"]) == saved["windows"][1]["energy_per_inference_j"]
    text = (folder / "results.txt").read_text()
    assert "Energy data for trial 1" in text and "Energy data for trial 2" not in text
    assert "ERROR: Not valid for submission.  aborted: interrupted (Ctrl-C)\n" in text
    assert read_jls(folder / "trace.jls").n_samples > 0
    log = (folder / "log.txt").read_text()
    assert log.count("energy mode failed: interrupted (Ctrl-C)") == 1  # said once


def test_a_window_cut_mid_way_is_kept_as_partial(tmp_path) -> None:
    """The DUT hangs inside window 2 (after its start pulse) and Ctrl-C arrives while the
    runner waits for it: windows 0 and 1 stay valid, window 2 is recorded as partial."""

    def arm(lab, sim):
        def hang_then_ctrl_c() -> None:
            lab.dut.faults.hang_on_infer = True
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()

        return StepProgress({2: hang_then_ctrl_c})

    with pytest.raises(KeyboardInterrupt):
        _energy_run(tmp_path, "sim_stream", progress=arm, options=RunOptions(infer_timeout_s=60.0))
    folder, saved, rows = _saved(tmp_path)
    assert saved["aborted"] == "interrupted (Ctrl-C)"
    windows = [(w["index"], w["valid"], w["partial"]) for w in saved["windows"]]
    assert windows == [(0, True, False), (1, True, False), (2, False, True)]
    cut = saved["windows"][2]
    assert cut["problems"] == ["not completed: interrupted (Ctrl-C)"]
    assert cut["energy_j"] is None  # a cut window has no figures
    assert [r["partial"] for r in rows] == ["False", "False", "True"]
    assert "Energy data for trial 1" in (folder / "results.txt").read_text()
