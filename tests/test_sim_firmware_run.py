"""`energybench run`'s runner in energy mode against the C firmware on the virtual lab: the
simulated streaming meter samples the timeline, and in every window the runner's edge pairing
finds exactly the two timestamp edges, matching the FirmwareDut's ground truth."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter
from energybench.sim.posix_dut import build as firmware_build

helpers = importlib.import_module("runner_helpers")  # the runner's test helpers (tests/)

RATE_HZ = 100_000  # the fast profile's 100 µs pulse is 10 samples


@pytest.fixture(scope="module")
def firmware_binary() -> Path:
    missing = firmware_build.build_tools_missing()
    if missing and not firmware_build.default_binary().is_file():
        pytest.skip(f"cannot build the firmware: {missing}")
    return firmware_build.ensure_binary()


@pytest.mark.slow  # realtime: the C process runs on the wall clock (about 10 s)
def test_energy_run_of_kws01_on_the_firmware_dut(firmware_binary: Path, tmp_path: Path) -> None:
    helpers.require_meter("sim_stream")
    root = helpers.standin(tmp_path, "kws01", files=5)
    options = RunOptions(min_window_s=0.3, windows=5)  # short windows: this lab is realtime
    with VirtualLab("fast-m33", dut="firmware", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "sim_stream", sample_rate_hz=RATE_HZ)
        bench = helpers.lab_bench(lab, "sim_stream", sample_rate_hz=RATE_HZ)
        (result,) = run_workload(bench, "kws01", "energy", root, tmp_path / "runs", options=options)
        ranging = helpers.ranging_windows(result)  # ranging pass, probe, windows
        truth = lab.dut.wait_windows(ranging + 1 + options.windows, timeout_s=5.0)[ranging:]
        late = lab.dut.track.late_events
    assert late == 0
    ran = [w for w in result.windows if w.energy_j is not None]
    assert len(ran) == options.windows, result.validity
    for ours, true in zip(ran, truth[1:], strict=True):
        assert ours.inferences == true.inferences
        assert ours.duration_s == pytest.approx(true.duration_s, abs=2 / RATE_HZ)
        assert ours.energy_per_inference_j == pytest.approx(
            true.energy_j / true.inferences, rel=5e-3
        )
    assert all(w.valid and not w.problems for w in ran), [w.problems for w in ran]
    assert all(w.edge_source.startswith("digital_channel") for w in ran)
