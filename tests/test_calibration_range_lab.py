"""Calibration per current range on the virtual lab (a sim_stream meter 2 % high, 50 µA off,
30 µs late): a record is for the range calibrate measured in, a run applies the record of the
range its ranging pass picked, and records of two ranges coexist, each applied by the runs of
its range. The calibration lab's DUT (stm32l4r5-reference kws01) peaks at ~18.3 mA, so its runs
measure in the 0.18 A range; the fast-m33 DUT peaks within the 18 mA range."""

from __future__ import annotations

import json
import statistics

import pytest

from energybench.runner.calibrate import run_calibration
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.runner.verify import run_verify
from energybench.sim.calibration_lab import CalibrationLab
from energybench.sim.dut.standin_data import make_standin_dataset
from energybench.sim.physics.reference_resistor import ReferenceResistor
from energybench.workloads.definitions import load_workload

KNOBS = {"gain_error": 0.02, "offset_a": 50e-6, "skew_s": 30e-6}


def _error(result, truth) -> float:
    ran = [w for w in result.windows if w.energy_j is not None]
    true = [t.energy_j / t.inferences for t in truth[-len(ran) :]]
    return result.figures["median_energy_per_inference_j"] / statistics.median(true) - 1


def _saved(result) -> dict:
    return json.loads((result.folder / "results.json").read_text())


@pytest.mark.slow
def test_records_per_range_and_runs_apply_their_ranges(tmp_path, monkeypatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("ENERGYBENCH_CALIBRATION_DIR", str(store))
    data = make_standin_dataset(tmp_path / "data", load_workload("kws01"), files=5)
    runs = tmp_path / "runs"
    ref_150 = ReferenceResistor(certificate_ohm=150.0, seed=5)  # 12 mA at 1.8 V
    with CalibrationLab(store, seed=5, reference=ref_150, **KNOBS) as cl:
        bench = cl.bench()
        cl.reference_on()
        said: list[str] = []
        narrow, _ = run_calibration(bench, say=said.append)
        assert narrow.range_a == 0.018  # picked, not None (the meter never auto-ranged)
        assert "range 0.018 A: holds the reference's 12.0 mA × 1.25" in said
        assert said.index("range 0.018 A: holds the reference's 12.0 mA × 1.25") < min(
            k for k, line in enumerate(said) if line.startswith("step 1/")
        )
        check = run_verify(bench, "before")  # the reference in the record's range
        assert check.range_a == 0.018 and check.calibration == "calibrated" and check.passed

        cl.dut_on()
        options = RunOptions(plots=False, windows=1)
        (mismatch,) = run_workload(bench, "kws01", "energy", data, runs / "a", options=options)
        assert mismatch.figures["current_range"]["chosen_a"] == 0.18
        assert mismatch.figures["calibration_status"] == "uncalibrated (mismatch)"
        status = _saved(mismatch)["provenance"]["calibration_status"]
        assert status["why"] == "mismatch" and _saved(mismatch)["provenance"]["calibration"] == []
        assert (
            f"record {narrow.record_id} is for the 0.018 A range, this run measured in the "
            "0.18 A range (ranging pass): calibrate that range (`energybench calibrate --range "
            "0.18`) or set [meter] options.current_range_a = 0.018"
        ) == status["reason"]
        assert f"uncalibrated: {status['reason']}" in mismatch.notes
        assert not any("no calibration record" in n for n in mismatch.notes)  # replaced
        log = (mismatch.folder / "log.txt").read_text()
        assert "calibration for the 0.18 A range (ranging pass): uncalibrated (mismatch)" in log

        cl.reference_on()
        wide, _ = run_calibration(bench, range_a=0.18)  # the same 150 Ω, in the run's range
        assert wide.range_a == 0.18
        cl.dut_on()
        (cal,) = run_workload(bench, "kws01", "energy", data, runs / "b",
                              options=RunOptions(plots=False))  # fmt: skip
        assert cal.valid, cal.validity
        assert cal.figures["calibration_status"] == "calibrated"
        (applied,) = _saved(cal)["provenance"]["calibration"]
        assert applied["id"] == wide.record_id and applied["range_a"] == 0.18
        assert abs(_error(cal, cl.window_truth())) < 1e-3

    with CalibrationLab(store, seed=5, profile="fast-m33", **KNOBS) as fast:
        (small,) = run_workload(fast.bench(), "kws01", "energy", data, runs / "c",
                                options=RunOptions(plots=False))  # fmt: skip
        assert small.valid, small.validity
        assert small.figures["current_range"]["chosen_a"] == 0.018
        assert small.figures["calibration_status"] == "calibrated"
        (applied,) = _saved(small)["provenance"]["calibration"]
        assert applied["id"] == narrow.record_id  # not the newer 0.18 A record
        assert abs(_error(small, fast.window_truth())) < 1e-3
