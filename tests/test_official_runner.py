"""The official MLCommons runner (the unchanged copy in ../shared), run as a separate process
against `energybench lab up`: energy mode through the interface board with the LPM01A,
performance and accuracy modes with the DUT direct, each to the lines its results.txt is read
for. Only its USB discovery is replaced (energybench.sim.mlc_runner_ports); whatever the lab did
differently from the real boards failed here first (an unanswered `pwr on` after `pwr off`, LPM01A
samples faster than real time without `event` lines, a clock run ahead of the wall)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path
from lab_support import lab_up
from runner_helpers import CHECKER_ENERGY, CHECKER_PERF, CHECKER_TOP1

from energybench.sim.dut.profiles import load_profile

pytestmark = pytest.mark.slow

RUNNER = ("mlperf-tiny", "reference", "benchmark", "runner")
DEVICES = "devices_kws_ic_vww.yaml"
INTERFACE, POWER, DUT = "stm32h573i-dk", "lpm01a", "l4r5zi"  # names in DEVICES
RUN_TIMEOUT_S = 600.0
PROFILE = load_profile("stm32l4r5-reference")  # lab up's default DUT


@pytest.fixture(scope="module")
def runner_dir() -> Path:
    return shared_path(*RUNNER)


def lab_ports(text: str) -> dict[str, str]:
    """The resource lines `lab up` prints (``# dut: /dev/pts/3`` ...)."""
    return dict(re.findall(r"^# (\w+): (/dev/\S+)$", text, flags=re.MULTILINE))


def run_official(
    runner_dir: Path,
    workdir: Path,
    ports: dict[str, str],
    mode: str,
    dataset: Path,
    test_script: str,
    devices: str = DEVICES,
) -> str:
    """main.py through the discovery wrapper; its results.txt (the run must exit 0)."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "energybench.sim.mlc_runner_ports",
        "--runner-dir",
        str(runner_dir),
        "--workdir",
        str(workdir),
        *(f"--port={name}={path}" for name, path in ports.items()),
        "--",
        f"--dataset_path={dataset}",
        f"--device_list={runner_dir / devices}",
        f"--test_script={runner_dir / test_script}",
        f"--mode={mode}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    (results,) = workdir.glob("sessions/*/results.txt")
    return results.read_text()


def figures(pattern: str, text: str) -> list[float]:
    return [float(m.group(1)) for line in text.splitlines() if (m := re.search(pattern, line))]


def test_energy_mode_kws01_with_the_lpm01a(runner_dir, tmp_path, mlperf_tiny) -> None:
    with lab_up("--meter", "lpm01a") as (_proc, text):
        assert "# pace: realtime" in text  # the default: the runner needs real time
        ports = lab_ports(text)
        results = run_official(
            runner_dir,
            tmp_path / "runner",
            {INTERFACE: ports["interface"], POWER: ports["lpm01a"]},
            "e",
            mlperf_tiny / "datasets",
            "tests_energy.yaml",
        )
    (median_uj,) = figures(CHECKER_ENERGY, results)
    per_trial_uj = figures(r"Energy/Inf\s+: ([\d.]+) uJ/inf", results)
    assert len(per_trial_uj) == 5
    # the stand-in model draws the profile's active current for its latency per inference;
    # the runner's 1 ms bins and the first pulse's hold inside the window stay below 0.1 %
    v = PROFILE.supply_voltage_v
    expected_uj = (
        1e6 * v * PROFILE.workload_current_a("kws01") * PROFILE.workload_latency_s("kws01")
    )
    assert median_uj == pytest.approx(expected_uj, rel=2e-3)
    assert all(x == pytest.approx(expected_uj, rel=3e-3) for x in per_trial_uj)
    elapsed = figures(r"Elapsed time\s+: ([\d.]+)", results)
    latency_s = PROFILE.workload_latency_s("kws01")
    assert all(x == pytest.approx(70 * latency_s, abs=0.01) for x in elapsed)


def test_performance_mode_kws01_dut_direct(runner_dir, tmp_path, mlperf_tiny) -> None:
    with lab_up("--mode", "performance") as (_proc, text):
        ports = lab_ports(text)
        results = run_official(
            runner_dir,
            tmp_path / "runner",
            {DUT: ports["dut"]},
            "p",
            mlperf_tiny / "datasets",
            "tests_performance.yaml",
        )
    (median,) = figures(CHECKER_PERF, results)
    # the DUT times itself with its µs counter (clock error in ppm) over 70 jittered inferences
    clock = 1 + PROFILE.clock_error_ppm * 1e-6
    assert median == pytest.approx(1 / (PROFILE.workload_latency_s("kws01") * clock), rel=2e-3)
    assert "ERROR" not in results


def subset(source: Path, target: Path, files: int) -> Path:
    """The first ``files`` rows of a dataset's y_labels.csv, with their inputs (linked)."""
    target.mkdir(parents=True)
    rows = (source / "y_labels.csv").read_text().splitlines()[:files]
    (target / "y_labels.csv").write_text("\n".join(rows) + "\n")
    for row in rows:
        name = row.split(",")[0]
        (target / name).symlink_to(source / name)
    return target.parent


def test_accuracy_mode_kws01_matches_energybench(runner_dir, tmp_path, mlperf_tiny) -> None:
    """Top-1 of the official runner and of `energybench run --mode accuracy` on the same files
    through the same lab (reference model run by ai-edge-litert)."""
    dataset = subset(mlperf_tiny / "datasets" / "kws01", tmp_path / "data" / "kws01", 40)
    models = mlperf_tiny / "models"
    # energybench's bench file needs a [meter] even for accuracy mode (never opened there)
    lab_options = ("--mode", "performance", "--model-dir", str(models), "--meter", "stream")
    with lab_up(*lab_options) as (_proc, text):
        ports = lab_ports(text)
        results = run_official(
            runner_dir,
            tmp_path / "runner",
            {DUT: ports["dut"]},
            "a",
            dataset,
            "tests_accuracy.yaml",
        )
        bench = tmp_path / "bench.toml"
        bench.write_text(text.split("# bench file:\n", 1)[1])
        assert "# the simulated DUT runs its performance build" in bench.read_text()
        ours = subprocess.run(
            [
                *(sys.executable, "-m", "energybench", "run", "kws01", "--mode", "accuracy"),
                *("--bench", str(bench), "--dataset", str(dataset), "--runs-dir", str(tmp_path)),
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    assert ours.returncode == 0, ours.stderr[-2000:]
    (theirs_top1,) = figures(CHECKER_TOP1, results)
    (folder,) = tmp_path.glob("*_kws01_accuracy")
    (our_top1,) = figures(CHECKER_TOP1, (folder / "results.txt").read_text())
    assert theirs_top1 == our_top1
    assert 50.0 < our_top1 <= 100.0  # the reference model, not a stand-in


def test_sww01_energy_mode_plays_the_wav_through_the_interface_board(
    runner_dir, tmp_path, mlperf_tiny
) -> None:
    """Streaming wakeword: the runner's `stream` step (dut stop/start, record_detections, play,
    print_detections, print_dutycycle) and the LPM01A window around the stream. The runner's
    README recommends its short test first (a tests file naming `sww_short_test.json`); the
    reference model scores 2 TP, 1 FN, 0 FP on it, as that README reports for hardware."""
    sd_card = tmp_path / "sd"
    sd_card.mkdir()
    (sd_card / "short_wav_easy10s.wav").symlink_to(runner_dir / "sd_card" / "short_wav_easy10s.wav")
    tests = tmp_path / "tests_sww_short.yaml"
    tests.write_text(
        "sww01:\n  name: streaming_wakeword\n  model: sww01\n"
        "  truth_file: sww_short_test.json\n  script:\n    - stream\n"
    )
    options = ("--workload", "sww01", "--meter", "lpm01a", "--sd-card", str(sd_card))
    with lab_up(*options, "--model-dir", str(mlperf_tiny / "models")) as (_proc, text):
        ports = lab_ports(text)
        results = run_official(
            runner_dir,
            tmp_path / "runner",
            {INTERFACE: ports["interface"], POWER: ports["lpm01a"]},
            "e",
            mlperf_tiny / "datasets",
            str(tests),
            devices="devices_sww.yaml",
        )
    assert "Accuracy: 2 True positives, 1 False negatives, 0 False positives" in results
    (elapsed_s,) = figures(r"Elapsed time\s+: ([\d.]+)", results)
    assert 10.0 < elapsed_s < 11.0  # the 10 s WAV between the start and stop pulses
    (power_mw,) = figures(r"Power\s+: ([\d.]+) mW", results)
    (duty,) = figures(r"Average duty cycle: ([\d.]+)", results)
    assert 0.0 < duty < 1.0 and power_mw > 0
    assert figures(CHECKER_ENERGY, results)
