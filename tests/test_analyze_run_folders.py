"""`energybench analyze` reproduces what `energybench run` wrote, for every simulated meter: the
run folder, its stream recording alone, and each capture file alone give the per-window
energies of results.json to 1e-9 relative and the same median; a folder whose raw data was cut
short says so and fails unless allowed."""

from __future__ import annotations

import json
import shutil

import pytest
from runner_helpers import lab_bench, require_meter, standin
from typer.testing import CliRunner

from energybench.cli.app import app
from energybench.errors import TruncatedRecordingError
from energybench.instruments.catalogue import CATALOGUE
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import SIM_METERS, attach_meter
from energybench.traces.jls import read_jls
from energybench.traces.jls_writer import JlsWriter

runner = CliRunner(env={"COLUMNS": "220"})
REL = 1e-9
WINDOWS = 3  # fewer than a submission's 5: enough to pair, compare and take a median
PROFILES = {entry.name: entry.profile for entry in CATALOGUE}


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory) -> dict:
    """One energy run per simulated meter (run once for the module)."""
    folders = {}
    for meter in SIM_METERS:
        require_meter(meter)
        tmp = tmp_path_factory.mktemp(meter)
        with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
            attach_meter(lab, meter, seed=3)
            (result,) = run_workload(
                lab_bench(lab, meter),
                "kws01",
                "energy",
                standin(tmp, "kws01", files=WINDOWS),
                tmp / "runs",
                options=RunOptions(windows=WINDOWS, plots=False),
            )
        assert result.valid, (meter, result.validity)
        folders[meter] = result.folder
    return folders


def _analyze(*args: str) -> dict:
    out = runner.invoke(app, ["analyze", *map(str, args), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def _recorded(folder) -> dict:
    return json.loads((folder / "results.json").read_text())


@pytest.mark.parametrize("meter", list(SIM_METERS))
def test_run_folder_reproduces_results_json(run_folders, meter) -> None:
    folder = run_folders[meter]
    recorded = _recorded(folder)
    measured = [w for w in recorded["windows"] if w["energy_j"] is not None]
    data = _analyze(folder)
    assert data["kind"] == "energybench run"
    assert len(data["windows"]) == len(measured) >= WINDOWS
    for ours, theirs in zip(data["windows"], measured, strict=True):
        assert ours["energy_j"] == pytest.approx(theirs["energy_j"], rel=REL, abs=0)
        assert ours["energy_per_inference_j"] == pytest.approx(
            theirs["energy_per_inference_j"], rel=REL, abs=0
        )
        assert ours["file"] == theirs["raw_file"]
    median = recorded["figures"]["median_energy_per_inference_j"]
    assert data["median_energy_per_inference_j"] == pytest.approx(median, rel=REL, abs=0)
    assert data["run"]["reproduced"] is True
    assert data["truncated"] is None and data["implausible"] == []
    assert data["bounds"].startswith(PROFILES[meter])  # the meter's own ranges


@pytest.mark.parametrize("meter", list(SIM_METERS))
def test_each_raw_file_alone_reproduces_its_window(run_folders, meter) -> None:
    folder = run_folders[meter]
    recorded = _recorded(folder)
    measured = [w for w in recorded["windows"] if w["energy_j"] is not None]
    trace_file = recorded["figures"].get("trace_file")
    if trace_file:  # the stream recording with results.json beside it: the run's windows
        data = _analyze(folder / trace_file)
        assert [w["energy_j"] for w in data["windows"]] == pytest.approx(
            [w["energy_j"] for w in measured], rel=REL, abs=0
        )
        # moved away from its results.json, the file alone: every window it holds (the
        # probe first), in the run's own sync line and polarity, nothing truncated
        alone = folder.parent / f"alone{(folder / trace_file).suffix}"
        shutil.copy(folder / trace_file, alone)
        data = _analyze(alone)
        energies = [w["energy_j"] for w in data["windows"]]
        assert energies[1:] == pytest.approx([w["energy_j"] for w in measured], rel=REL, abs=0)
        assert data["truncated"] is None
        return
    for w in measured:  # a capture file alone: its window by the capture rule
        data = _analyze(folder / w["raw_file"])
        assert data["kind"] == "capture"
        (ours,) = data["windows"]
        assert ours["energy_j"] == pytest.approx(w["energy_j"], rel=REL, abs=0)
        assert data["rule"] == f"capture: {w['edge_source']}"


def test_a_stream_folder_cut_short_is_truncated(run_folders, tmp_path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(run_folders["sim_stream"], folder)
    trace = read_jls(folder / "trace.jls")
    windows = _recorded(folder)["windows"]
    cut_at = windows[1]["interval_ids"][1] + 10  # after the second window, before the third
    (folder / "trace.jls").unlink()
    with JlsWriter(
        folder / "trace.jls",
        sample_rate_hz=trace.sample_rate_hz,
        digital_names=trace.digital_names,
        first_sample_id=trace.first_sample_id,
        source=trace.source,
        metadata=trace.metadata["run"],
        current_range=True,  # the stream source sends each sample's range
    ) as writer:
        for chunk in trace.chunks(200_000, stop_id=cut_at):
            writer.append(chunk)
    out = runner.invoke(app, ["analyze", str(folder)])
    assert isinstance(out.exception, TruncatedRecordingError)
    message = out.exception.one_line()
    assert f"results.json lists {len(windows)} measured windows, the raw data holds 2" in message
    assert "trace.jls ends at t = " in message and "--allow-truncated" in message
    data = _analyze(folder, "--allow-truncated")
    assert len(data["windows"]) == 2 and data["truncated"].startswith("truncated:")
    assert data["windows"][1]["energy_j"] == pytest.approx(windows[1]["energy_j"], rel=REL)


def test_a_missing_capture_is_truncated(run_folders, tmp_path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(run_folders["keithley_2461"], folder)
    last = _recorded(folder)["windows"][-1]["raw_file"]
    (folder / last).unlink()
    out = runner.invoke(app, ["analyze", str(folder)])
    assert isinstance(out.exception, TruncatedRecordingError)
    assert f"{last} is missing" in str(out.exception)
    data = _analyze(folder, "--allow-truncated")
    assert len(data["windows"]) == WINDOWS - 1
