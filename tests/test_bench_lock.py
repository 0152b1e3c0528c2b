"""One run at a time on a bench: the lock names its holder, the OS drops it when the holder
dies (SIGKILL included), ports open exclusively, and `energybench run` on a lab another run is
using is refused in one line while the first one completes valid."""

from __future__ import annotations

import json
import os
import platform
import pty
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lab_support import read_line
from runner_helpers import StepProgress, require_meter, standin

from energybench.errors import BenchBusyError
from energybench.runner.bench import load_bench
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, bench_toml
from energybench.transport.locks import HolderLock
from energybench.transport.serial_port import SerialTransport

ENERGYBENCH = [sys.executable, "-m", "energybench"]

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from energybench.transport.locks import HolderLock

    with HolderLock(sys.argv[1], "test bench"):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_a_second_holder_is_refused_with_the_holder_named(tmp_path) -> None:
    path = tmp_path / "bench.toml.lock"
    with HolderLock(path, "bench file bench.toml"):
        record = json.loads(path.read_text())
        assert record["pid"] == os.getpid() and record["host"] == platform.node()
        with pytest.raises(BenchBusyError) as busy, HolderLock(path, "bench file bench.toml"):
            pass
    line = busy.value.one_line()
    assert line.startswith("bench file bench.toml: in use by pid ")
    assert f"pid {os.getpid()} on {platform.node()} since " in line
    assert not path.exists()  # a holder that ends normally removes its lock file
    with HolderLock(path, "bench file bench.toml"):  # released: free again
        pass


def test_a_holder_killed_with_sigkill_does_not_block_the_next_run(tmp_path) -> None:
    path = tmp_path / "bench.toml.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert read_line(proc.stdout, 60.0, "the holder").strip() == "held"
        with pytest.raises(BenchBusyError, match=f"in use by pid {proc.pid} on "):
            HolderLock(path, "test bench").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert json.loads(path.read_text())["pid"] == proc.pid  # the stale record is still there
    with HolderLock(path, "test bench"):  # ... and the lock is free: the OS dropped it
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_a_serial_port_is_opened_exclusively() -> None:
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    try:
        first = SerialTransport(name)
        with pytest.raises(BenchBusyError, match="in use"):
            SerialTransport(name)
        first.close()
        SerialTransport(name).close()  # free again once closed
    finally:
        os.close(master)
        os.close(slave)


def _second_run(bench: Path, root: Path, runs: Path) -> subprocess.CompletedProcess:
    args = ["run", "kws01", "--mode", "energy", "--bench", str(bench), "--dataset", str(root)]
    return subprocess.run(
        [*ENERGYBENCH, *args, "--runs-dir", str(runs)], capture_output=True, text=True, timeout=120
    )


def test_a_second_run_on_a_running_lab_is_refused_and_the_first_stays_valid(tmp_path) -> None:
    """The first run is paused in its first window (its progress hook) while `energybench run`
    is tried twice as a user would, with the same bench file and with a copy of it naming the
    same instruments: both are refused at once, naming the first run's process; the first run
    then completes valid."""
    require_meter("sim_stream")
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "sim_stream")
        bench = tmp_path / "bench.toml"
        bench.write_text(bench_toml(lab, "sim_stream"))
        other = tmp_path / "copy" / "bench.toml"  # another bench file, the same instruments
        other.parent.mkdir()
        other.write_text(bench.read_text())
        refused: list[subprocess.CompletedProcess] = []

        def try_again() -> None:
            refused.extend(_second_run(b, root, tmp_path / "runs2") for b in (bench, other))

        (first,) = run_workload(
            load_bench(bench), "kws01", "energy", root, tmp_path / "runs1",
            progress=StepProgress({1: try_again}),
        )  # fmt: skip
    assert first.valid, first.validity
    same, copy = refused
    for proc in refused:
        assert proc.returncode == 1, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("error: ") and f"in use by pid {os.getpid()} on " in line, line
    assert f"bench file {bench}" in same.stderr
    assert "meter tcp://127.0.0.1:" in copy.stderr  # the instrument's own lock caught it
    assert not (tmp_path / "runs2").exists()  # refused before anything was opened or written
    assert not list(tmp_path.rglob("*.lock"))  # the first run removed its lock files
