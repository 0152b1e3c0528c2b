"""`energybench run` and `energybench demo` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runner_helpers import lab_bench, standin

from energybench.sim.lab import VirtualLab
from energybench.sim.meters import bench_toml

ENERGYBENCH = [sys.executable, "-m", "energybench"]


def _run(args: list[str], timeout_s: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        ENERGYBENCH + args, capture_output=True, text=True, timeout=timeout_s, env=env
    )


def test_run_command_performance_json(tmp_path: Path) -> None:
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="performance", workload="kws01") as lab:
        bench = tmp_path / "bench.toml"
        text = '[meter]\ndriver = "sim_stream"\nresource = "tcp://127.0.0.1:9"\n' + lab.bench_toml()
        bench.write_text(text)
        lab_bench(lab, None)  # the same text parses
        proc = _run(
            [
                "run",
                "kws01",
                "--mode",
                "performance",
                "--bench",
                str(bench),
                "--dataset",
                str(root),
                "--runs-dir",
                str(tmp_path / "runs"),
                "--json",
            ]
        )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["summary"]["valid"] is True
    assert payload["summary"]["throughput_per_s"] > 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("_kws01_performance")


def test_run_command_energy_table(tmp_path: Path) -> None:
    from energybench.sim.meters import attach_meter

    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "sim_stream")
        bench = tmp_path / "bench.toml"
        bench.write_text(bench_toml(lab, "sim_stream"))
        proc = _run(
            [
                "run",
                "kws01",
                "--mode",
                "energy",
                "--bench",
                str(bench),
                "--dataset",
                str(root),
                "--runs-dir",
                str(tmp_path / "runs"),
                "--no-plots",
            ]
        )
    assert proc.returncode == 0, proc.stderr
    assert "energy/inference (µJ ± U, k=2)" in proc.stdout
    assert "kws01" in proc.stdout and "yes" in proc.stdout
    assert "ETA" in proc.stderr  # progress bars go to stderr


def test_run_command_bad_bench_is_one_line(tmp_path: Path) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text("[meter]\n")
    proc = _run(["run", "kws01", "--bench", str(bench), "--dataset", str(tmp_path)])
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_prints_the_table(tmp_path: Path) -> None:
    proc = _run(["demo", "--runs-dir", str(tmp_path / "runs")], timeout_s=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for header in ("energy/inference (µJ ± U, k=2)", "latency (ms)", "accuracy", "power (mW)"):
        assert header in out
    for workload in ("kws01", "vww01", "ic01", "ad01", "sww01"):
        assert workload in out
    assert "stand-in" in out  # vww01/ic01/ad01 inputs are synthetic, and labelled so
    assert "demo: 5 workloads" in proc.stderr
    folders = sorted(p.name.split("_", 1)[1] for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 15  # 5 workloads x 3 modes


def test_ctrl_c_during_energy_run_switches_the_output_off(tmp_path: Path) -> None:
    """SIGINT in the middle of an energy run: exit 130, the SMU's output off, the folder
    says why."""
    import signal
    import time

    from runner_helpers import require_meter

    from energybench.sim.meters import attach_meter

    require_meter("keysight_b2900")
    root = standin(tmp_path, "kws01", files=5)
    runs = tmp_path / "runs"
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "keysight_b2900")
        bench = tmp_path / "bench.toml"
        bench.write_text(bench_toml(lab, "keysight_b2900"))
        env = dict(os.environ, COLUMNS="200")
        args = ["run", "kws01", "--mode", "energy", "--bench", str(bench)]
        args += ["--dataset", str(root), "--runs-dir", str(runs), "--no-plots"]
        proc = subprocess.Popen(
            ENERGYBENCH + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the probe window was measured
            logs = list(runs.glob("*/log.txt"))
            if logs and "probe:" in logs[0].read_text():
                break
            time.sleep(0.05)
        assert lab.timeline.supply_state(lab.timeline.now_s)[1]  # powered while running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert not lab.timeline.supply_state(lab.timeline.now_s)[1]
    (folder,) = runs.iterdir()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["valid"] is False and "interrupted" in saved["aborted"]
    assert "outputs off" in (folder / "log.txt").read_text()


def test_table_marks_accuracy_below_the_closed_division_target() -> None:
    from rich.console import Console

    from energybench.cli.runview import render_table

    console = Console(width=200, record=True)
    rows = [
        {"workload": "vww01", "metric": "top1", "top1_percent": 50.0,
         "meets_quality_target": False, "quality_target": 0.80, "valid": True},
        {"workload": "ad01", "metric": "auc", "auc": 0.9, "meets_quality_target": True,
         "quality_target": 0.85, "valid": True},
    ]  # fmt: skip
    render_table(rows, console)
    text = console.export_text()
    assert "top-1 50.0 % (< target 80 %)" in text
    assert "AUC 0.900 " in text and "AUC 0.900 (<" not in text
