"""SIGINT, SIGTERM and SIGHUP to `energybench run` mid-window, as a user (or systemd, or a
closed terminal) sends them, against a virtual lab whose DUT rail an SCPI supply (N6705C)
powers: the output goes off (read back), the exit code is 128 + the signal, results.json says
the run was aborted and by which signal, the log states the shutdown that happened, and every
file the run recorded opens as `energybench analyze` opens it. The stream meter's trace.jls
is closed properly (no recovery needed).

The window the signal arrives in is kept: completed, or cut and marked partial (never valid)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import require_meter, standin

from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, bench_toml
from energybench.traces import open_recording
from energybench.traces.jls_check import check_jls

ENERGYBENCH = [sys.executable, "-m", "energybench"]
TRACE_SUFFIXES = (".jls", ".csv")
SAID = {
    signal.SIGINT: "interrupted (Ctrl-C)",
    signal.SIGTERM: "terminated (SIGTERM)",
    signal.SIGHUP: "terminated (SIGHUP)",
}


def _mid_window(log: Path) -> bool:
    """The probe window is done and the first measured window's infer has been sent."""
    if not log.exists():
        return False
    text = log.read_text()
    return "probe:" in text and "dut: << dut infer" in text.split("probe:", 1)[1]


def _run_and_stop(tmp_path: Path, meter: str, signum: int) -> tuple[Path, int, str, bool]:
    require_meter(meter)
    root = standin(tmp_path, "kws01", files=5)
    runs = tmp_path / "runs"
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, meter)
        bench = tmp_path / "bench.toml"
        bench.write_text(bench_toml(lab, meter))
        args = ["run", "kws01", "--mode", "energy", "--bench", str(bench), "--dataset", str(root)]
        args += ["--runs-dir", str(runs), "--no-plots"]
        proc = subprocess.Popen(
            ENERGYBENCH + args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, COLUMNS="200"),
        )
        try:
            deadline = time.monotonic() + 120
            while not any(_mid_window(p) for p in runs.glob("*/log.txt")):
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the run never reached its first window"
                time.sleep(0.01)
            assert lab.timeline.supply_state(lab.timeline.now_s)[1]  # powered mid-window
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        on = lab.timeline.supply_state(lab.timeline.now_s)[1]
    (folder,) = runs.iterdir()
    return folder, proc.returncode, err, on


@pytest.mark.parametrize(
    ("meter", "signum"),
    [
        ("keysight_n6705c", signal.SIGTERM),
        ("keysight_n6705c", signal.SIGHUP),
        ("keysight_n6705c", signal.SIGINT),
        ("sim_stream", signal.SIGTERM),
    ],
)
def test_a_stop_signal_mid_window_leaves_the_bench_safe_and_the_run_written(
    tmp_path, meter, signum
) -> None:
    folder, code, err, output_on = _run_and_stop(tmp_path, meter, signum)
    assert code == 128 + signum, err[-2000:]
    assert err.strip().splitlines()[-1] == SAID[signum]
    assert output_on is (meter == "sim_stream")  # the SCPI supply is off (the stream meter
    # sources nothing: the lab powers that DUT, as a bench supply would)
    saved = json.loads((folder / "results.json").read_text())
    assert saved["valid"] is False and saved["aborted"] == SAID[signum]
    windows = saved["windows"]  # the window the signal arrived in stays in the record
    assert len(windows) >= 1 and not any(w["valid"] and w["partial"] for w in windows)
    assert windows[-1]["valid"] or windows[-1]["partial"], windows[-1]
    log = (folder / "log.txt").read_text()
    assert f"energy mode failed: {SAID[signum]}" in log
    shut = next(x for x in log.splitlines() if "runner: instruments shut down: " in x)
    if meter == "keysight_n6705c":  # the supply read its output back off
        assert shut.endswith("outputs off (confirmed)"), shut
    else:
        assert shut.endswith("stopped (no instrument sources an output)"), shut
    assert saved["provenance"]["shutdown"]["summary"] == shut.split("instruments shut down: ")[1]
    traces = [p for p in folder.iterdir() if p.suffix in TRACE_SUFFIXES and p.name != "results.csv"]
    assert not list(folder.glob("*.partial"))
    for path in traces:  # every recorded file opens as analyze opens it
        trace = open_recording(path)
        assert trace.n_samples >= 0
        if path.suffix == ".jls":
            assert check_jls(path).clean, path  # closed by the stop path, not recovered
    if meter == "sim_stream":
        assert (folder / "trace.jls") in traces
