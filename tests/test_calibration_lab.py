"""Calibration end to end on the virtual lab: a sim_stream meter with +2 % gain error, +50 µA
offset and 30 µs skew (an N6705C supplies the rail), the simulated reference resistor; kws01
energy against the timeline's truth before and after `calibrate`, `verify` before/after, an
expired record, and the refusals (expired certificate, residuals beyond the tolerance, an
instrument that does not answer)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics

import pytest

from energybench.calibration.procedure import CalibrationRefused
from energybench.calibration.records import finish, list_records, load_record, write_record
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
    """Median energy per inference against the truth of the same windows (relative)."""
    ran = [w for w in result.windows if w.energy_j is not None]
    true = [t.energy_j / t.inferences for t in truth[-len(ran) :]]
    return result.figures["median_energy_per_inference_j"] / statistics.median(true) - 1


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv("ENERGYBENCH_CALIBRATION_DIR", str(folder))
    return folder


@pytest.mark.slow
def test_calibrate_then_run_verify_and_expire(tmp_path, store) -> None:
    data = make_standin_dataset(tmp_path / "data", load_workload("kws01"), files=5)
    with CalibrationLab(store, seed=2, **KNOBS) as cl:
        bench = cl.bench()
        runs = tmp_path / "runs"
        (raw,) = run_workload(
            bench, "kws01", "energy", data, runs / "raw", options=RunOptions(plots=False)
        )
        assert raw.valid, raw.validity
        assert _error(raw, cl.window_truth()) == pytest.approx(0.02, abs=0.006)
        assert raw.figures["calibration_status"] == "uncalibrated (no record)"
        assert "no calibration record for SimJS220" in " ".join(raw.notes)

        cl.reference_on()
        said: list[str] = []
        record, path = run_calibration(bench, say=said.append)
        assert path.parent == store and path.is_file()
        assert record.range_a == 0.18  # the range that holds the 100 Ω's 18 mA × 1.25
        assert any("connect:" in line for line in said)  # what to connect, at each step
        c = record.data["coefficients"]
        true_gain = 1.02 * cl.reference.certificate_ohm / cl.reference.true_ohm
        assert abs(c["gain"] - true_gain) <= 3 * c["gain_std"]
        assert c["offset_a"] == pytest.approx(50e-6, abs=1e-7)
        skew = record.data["skew"]
        assert abs(skew["skew_s"] - 30e-6) <= max(4 * skew["skew_std_s"], 5e-6)
        before = run_verify(bench, "before")
        assert before.passed, before

        cl.dut_on()
        (cal,) = run_workload(
            bench, "kws01", "energy", data, runs / "cal", options=RunOptions(plots=False)
        )
        assert cal.valid, cal.validity
        assert abs(_error(cal, cl.window_truth())) < 1e-3
        saved = json.loads((cal.folder / "results.json").read_text())
        assert saved["figures"]["calibration_status"] == "calibrated"
        (prov,) = saved["provenance"]["calibration"]  # the submission checker's format
        assert prov["content_hash"] == record.hash and prov["coefficients"]["gain"] == c["gain"]
        assert prov["id"] == record.record_id and len(prov["sha256"]) == 64
        assert prov["valid_until"] == record.expires.isoformat()

        cl.reference_on()
        after = run_verify(bench, "after", mark=[cal.folder])
        assert after.passed and after.drift_rel is not None
        assert json.loads((cal.folder / "results.json").read_text())["verification"]["after"][
            "passed"
        ]
        unc = run_verify(bench, "after", calibration="none", mark=[cal.folder])
        assert not unc.passed  # the 2 % gain error is far beyond the datasheet's U
        marked = json.loads((cal.folder / "results.json").read_text())
        assert not marked["valid"] and any("verification" in v for v in marked["validity"])
        assert (
            "ERROR: Not valid for submission.  verification (after) failed"
            in (cal.folder / "results.txt").read_text()
        )

        # the record dated past its validity: the next run is uncalibrated, saying why
        old = dict(record.data)
        created = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        old["created_utc"] = created.isoformat()
        old["record_id"] = record.record_id + "-old"
        path.unlink()
        write_record(store, finish({k: v for k, v in old.items() if k != "content_hash"}))
        cl.dut_on()
        (late,) = run_workload(
            bench,
            "kws01",
            "energy",
            data,
            runs / "late",
            options=RunOptions(plots=False, windows=1),
        )
        assert late.figures["calibration_status"] == "uncalibrated (expired)"
        late_prov = json.loads((late.folder / "results.json").read_text())["provenance"]
        assert late_prov["calibration"] == []
        assert "expired on" in late_prov["calibration_status"]["reason"]


def test_refuses_an_expired_certificate(tmp_path, store) -> None:
    expired = ReferenceResistor(certificate_date="2020-01-01", seed=1)
    with CalibrationLab(store, reference=expired) as cl:
        cl.reference_on()
        with pytest.raises(CalibrationRefused, match="certificate expired on 2020-12-31"):
            run_calibration(cl.bench())
    assert not store.exists()


@pytest.mark.slow
def test_refuses_residuals_beyond_the_tolerance(tmp_path, store) -> None:
    # 3 mA rms of noise: the points' means scatter by far more than the resistor's 0.1 %
    with CalibrationLab(store, noise_a=3e-3, seed=4) as cl:
        cl.reference_on()
        with pytest.raises(CalibrationRefused, match="exceeds the reference tolerance"):
            run_calibration(cl.bench())
        assert list_records(store)[0] == []


def test_refuses_an_instrument_that_does_not_answer(tmp_path, store) -> None:
    with CalibrationLab(store) as cl:
        bench = cl.bench()
        meter = dataclasses.replace(bench.meter, resource="tcp://127.0.0.1:9")
        with pytest.raises(CalibrationRefused, match="does not answer"):
            run_calibration(dataclasses.replace(bench, meter=meter))


@pytest.mark.slow
def test_record_schema_and_hash(tmp_path, store) -> None:
    with CalibrationLab(store, **KNOBS) as cl:
        cl.reference_on()
        record, path = run_calibration(cl.bench())
    data = json.loads(path.read_text())
    for key in (
        "schema",
        "record_id",
        "created_utc",
        "instrument",
        "channel",
        "range_a",
        "temperature_c",
        "reference",
        "coefficients",
        "fit",
        "skew",
        "validity",
        "energybench_version",
        "content_hash",
    ):
        assert key in data, key
    assert data["instrument"]["serial_number"] and data["validity"]["days"] == 365
    assert data["reference"]["id"] == cl.reference.reference_id
    assert load_record(path).hash == record.hash
    data["coefficients"]["gain"] = 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="content hash mismatch"):
        load_record(path)


@pytest.mark.slow
def test_analyze_applies_the_runs_calibration(tmp_path, store) -> None:
    """`analyze` reproduces a calibrated run from its raw trace with the run's own record,
    and `--calibration none` gives the raw (2 % high) figures."""
    from typer.testing import CliRunner

    from energybench.cli.app import app

    data = make_standin_dataset(tmp_path / "data", load_workload("kws01"), files=5)
    with CalibrationLab(store, seed=3, **KNOBS) as cl:
        bench = cl.bench()
        cl.reference_on()
        record, _ = run_calibration(bench)
        cl.dut_on()
        options = RunOptions(plots=False, windows=2)
        (cal,) = run_workload(bench, "kws01", "energy", data, tmp_path / "runs", options=options)
    runner = CliRunner()
    done = runner.invoke(app, ["analyze", str(cal.folder), "--json"])
    assert done.exit_code == 0, done.output
    ours = json.loads(done.output)
    assert ours["run"]["reproduced"] and ours["calibration"].startswith("the run's own")
    # a newer record of another range: `--calibration auto` keeps the one of the run's range
    other = {k: v for k, v in record.data.items() if k != "content_hash"}
    other.update(record_id="other-range", range_a=0.018,
                 created_utc=dt.datetime.now(dt.UTC).isoformat())  # fmt: skip
    write_record(store, finish(other))
    auto = json.loads(runner.invoke(app, ["analyze", str(cal.folder), "--json",
                                          "--calibration", "auto"]).output)  # fmt: skip
    assert auto["calibration"] == f"record {record.record_id} ({record.record_id})"
    assert auto["median_energy_per_inference_j"] == pytest.approx(
        ours["median_energy_per_inference_j"], rel=1e-9
    )
    raw = json.loads(runner.invoke(app, ["analyze", str(cal.folder), "--json",
                                         "--calibration", "none"]).output)  # fmt: skip
    assert raw["median_energy_per_inference_j"] / ours["median_energy_per_inference_j"] > 1.015
