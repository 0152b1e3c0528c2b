"""Native rate and fixed ranges (issue 14 §4): the ranging pass picks the smallest range that
holds the peak with margin, a range switch inside a window is flagged and counted in U, an
over-range window is invalid, and a Joulescope-like stream records at its native 2 MS/s."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from runner_helpers import StepProgress, energy_truth, lab_bench, ranging_windows, standin
from stream_testlib import bench_timeline

from energybench.analysis.ranges import range_use
from energybench.analysis.trace import Trace
from energybench.errors import ConfigError
from energybench.instruments.capabilities import StreamRequest
from energybench.instruments.sim_stream import SimStreamMeter
from energybench.runner.context import RunOptions
from energybench.runner.ranging import MARGIN, pick_range
from energybench.runner.run import run_workload
from energybench.sim.instruments.stream_source import RANGES_A, RangeSwitch, SimStreamSource
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter

FAST = {"sample_rate_hz": 10_000}  # the bench says so: the lab's quick rate


def test_pick_range_is_the_smallest_holding_peak_with_margin() -> None:
    assert pick_range(RANGES_A, 0.0125) == 0.018  # 15.6 mA fits 18 mA
    assert pick_range(RANGES_A, 0.0150) == 0.18  # 18.75 mA does not
    assert pick_range(RANGES_A, 100e-6) == 180e-6
    assert pick_range(RANGES_A, 50.0) == 10.0  # beyond every range: the widest


def _trace(current, ranges, fs=1000.0) -> Trace:
    current = np.asarray(current, dtype=np.float32)
    return Trace.from_arrays(current, 2.0, fs, current_range=np.asarray(ranges, dtype=np.uint8))


def test_range_use_counts_switches_their_energy_and_over_range() -> None:
    current = [0.01] * 10 + [0.02] * 5 + [0.01] * 10
    ranges = [2] * 10 + [1] * 5 + [2] * 10  # 18 mA, 180 mA, 18 mA
    use = range_use(_trace(current, ranges), 0.0, 25.0, full_scales_a=RANGES_A)
    assert use.current_ranges_used_a == (0.018, 0.18)
    assert use.range_switches == 2 and use.range_switch_samples == 2  # one sample each at 1 kHz
    assert use.range_switch_energy_j == pytest.approx((0.02 + 0.01) * 2.0 / 1000.0, rel=1e-6)
    assert use.over_range_samples == 0
    clipped = range_use(_trace([0.018] * 4, [2] * 4), 0.0, 4.0, full_scales_a=RANGES_A)
    assert clipped.over_range_samples == 4 and clipped.over_range_a == 0.018
    fixed = range_use(Trace.from_arrays(np.full(5, 0.5, np.float32), 2.0, 1000.0), 0, 5,
                      range_in_use_a=0.18)  # fmt: skip
    assert (fixed.range_switches, fixed.over_range_samples) == (0, 5)


def _run(tmp_path, *, options=None, progress=None, **bench):
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        sim = attach_meter(lab, "sim_stream", seed=3)
        hooks = progress(lab, sim) if progress else None
        (result,) = run_workload(
            lab_bench(lab, "sim_stream", **{"sample_rate_hz": None, **bench}), "kws01",
            "energy", root, tmp_path / "runs", options=options or RunOptions(), progress=hooks,
        )  # fmt: skip
        truth = list(lab.dut.windows)
        peak_a = _truth_peak(lab, truth[0]) if ranging_windows(result) else None
    return result, truth, peak_a


def _truth_peak(lab, window) -> float:
    """The largest true current over the ranging pass' window."""
    rate = 100_000
    n = int((window.end_s - window.start_s) * rate)
    return float(np.max(lab.timeline.render(window.start_s, rate, n, kind="point").current_a))


def test_ranging_pass_picks_the_expected_range_and_windows_stay_in_it(tmp_path) -> None:
    result, truth, peak_a = _run(tmp_path, sample_rate_hz=10_000)
    assert result.valid, result.validity
    choice = result.figures["current_range"]
    assert choice["source"] == "ranging pass" and choice["margin"] == MARGIN
    assert choice["peak_a"] == pytest.approx(peak_a, rel=1e-3)
    assert choice["chosen_a"] == pick_range(RANGES_A, peak_a) == 0.018
    assert (result.folder / "ranging.jls").is_file()
    assert result.figures["sample_rate"] == {"value_hz": 10_000.0, "source": "bench file"}
    ran = [w for w in result.windows if w.energy_j is not None]
    pairs = list(zip(ran, energy_truth(result, truth)[1:], strict=True))
    for ours, true in pairs:
        assert ours.current_ranges_used_a == [0.018] and ours.range_switches == 0
        expected = true.energy_j / true.inferences
        assert ours.energy_per_inference_j == pytest.approx(expected, rel=1e-3)
    assert result.figures["range_switch_windows"] == []
    assert result.figures[
        "measurement_setup"
    ]["current_ranges_a"] == [0.018]  # fmt: skip


def test_a_forced_range_switch_mid_window_is_flagged_and_counted_in_u(tmp_path) -> None:
    def progress(lab, sim):
        def arm() -> None:  # after the probe: inside window 0 (download < 1 s, window >= 10 s)
            sim.faults.range_switch = RangeSwitch(lab.timeline.now_s + 3.0, 2e-3, to_index=0)

        return StepProgress({0: arm})

    result, truth, _ = _run(tmp_path, progress=progress, sample_rate_hz=10_000)
    assert result.valid, result.validity  # flagged, not invalid: the energy is still measured
    first = result.windows[0]
    assert first.range_switches == 2  # into the 10 A range and back
    assert first.current_ranges_used_a == [0.018, 10.0]
    assert first.range_switch_samples == 2 and first.range_switch_energy_j > 0
    assert all(w.range_switches == 0 for w in result.windows[1:])
    saved = json.loads((result.folder / "results.json").read_text())
    assert saved["figures"]["range_switch_windows"] == [[0, 0]]
    assert any("current-range switch" in note for note in saved["notes"])
    assert saved["windows"][0]["range_switches"] == 2
    true = energy_truth(result, truth)[1]
    assert abs(first.energy_j - true.energy_j) <= first.energy_uncertainty_j


def test_over_range_windows_are_invalid(tmp_path) -> None:
    options = RunOptions(min_window_s=0.2, windows=1, max_attempts=1)
    result, _, _ = _run(tmp_path, options=options, sample_rate_hz=10_000, current_range_a=0.0018)
    assert not result.valid
    assert result.figures["current_range"] == {
        "chosen_a": 0.0018, "peak_a": None, "margin": None, "source": "bench file",
        "ranging_file": None, "attempts": 0,
    }  # fmt: skip
    assert any("over-range" in p and "0.0018 A" in p for p in result.windows[0].problems)


def test_native_rate_is_the_default_and_recorded(tmp_path) -> None:
    """No sample_rate_hz: the Joulescope-like source streams at its native 2 MS/s."""
    options = RunOptions(min_window_s=0.2, windows=1)
    result, truth, _ = _run(tmp_path, options=options)
    assert result.valid, result.validity
    assert result.figures["sample_rate"] == {"value_hz": 2e6, "source": "driver native rate"}
    assert result.figures["acquisition"]["sample_rate_hz"] == 2e6
    assert result.figures["acquisition"]["dropped_samples"] == 0
    assert result.figures["current_range"]["chosen_a"] == 0.018
    (ours,) = [w for w in result.windows if w.energy_j is not None]
    true = energy_truth(result, truth)[1]
    assert math.isclose(ours.energy_j, true.energy_j, rel_tol=1e-4)


def test_auto_range_needs_a_meter_with_ranges(tmp_path) -> None:
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "keithley_2461", seed=3)
        bench = lab_bench(lab, "keithley_2461", current_range_a="auto")
        with pytest.raises(ConfigError, match="current_range_a"):
            run_workload(bench, "kws01", "energy", root, tmp_path / "runs")


def test_stream_source_range_commands_and_driver_refusal() -> None:
    """RANGES? lists the JS220's ranges widest first; RANGE sets one or auto; the driver refuses
    a value that is no range and streams each sample's range index in a fixed range."""
    with SimStreamSource(bench_timeline(), sample_rate_hz=10_000) as src:
        meter = SimStreamMeter.open(src.resource)
        try:
            assert meter.range_table_a() == RANGES_A
            assert meter.current_ranges_a == tuple(sorted(RANGES_A))
            assert meter.native_sample_rate_hz() == 2e6
            with pytest.raises(ConfigError, match=r"0\.5 A is not a range"):
                meter.configure_stream(StreamRequest(10_000, current_range_a=0.5))
            settings = meter.configure_stream(StreamRequest(10_000, current_range_a=0.18))
            assert src.range_index == 1 and settings.current_ranges_a == RANGES_A
            meter.configure_stream(StreamRequest(10_000))
            assert src.range_index is None  # auto, the JS220's default
            meter.configure_stream(StreamRequest(10_000, current_range_a=0.018))
            meter.start()
            chunk = next(meter.chunks(5.0))
            meter.stop()
            assert chunk.current_range is not None and set(chunk.current_range) == {2}
        finally:
            meter.close()
    assert "RANGE 2" in src.commands and "RANGE auto" in src.commands


def test_auto_in_the_bench_file_runs_the_ranging_pass(tmp_path) -> None:
    options = RunOptions(min_window_s=0.2, windows=1)
    result, _, peak_a = _run(
        tmp_path, options=options, sample_rate_hz=10_000, current_range_a="auto"
    )
    assert result.valid, result.validity
    choice = result.figures["current_range"]
    assert choice["source"] == "ranging pass" and choice["chosen_a"] == pick_range(RANGES_A, peak_a)
