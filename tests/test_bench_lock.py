"""One run at a time on a bench: the lock names its holder, the OS drops it when the holder
dies (SIGKILL included), ports open exclusively, and a second `energybench run` on a running
lab is refused in one line while the first one completes valid."""

from __future__ import annotations

import json
import os
import platform
import pty
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lab_support import read_line
from runner_helpers import require_meter, standin

from energybench.errors import BenchBusyError
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


def _start_run(bench: Path, root: Path, runs: Path) -> subprocess.Popen:
    args = ["run", "kws01", "--mode", "energy", "--bench", str(bench), "--dataset", str(root)]
    args += ["--runs-dir", str(runs), "--no-plots", "--json"]
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen(
        ENERGYBENCH + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _second_run(bench: Path, root: Path, runs: Path) -> subprocess.CompletedProcess:
    args = ["run", "kws01", "--mode", "energy", "--bench", str(bench), "--dataset", str(root)]
    return subprocess.run(
        [*ENERGYBENCH, *args, "--runs-dir", str(runs)], capture_output=True, text=True, timeout=120
    )


def test_a_second_run_on_a_running_lab_is_refused_and_the_first_stays_valid(tmp_path) -> None:
    require_meter("stream")
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "stream")
        bench = tmp_path / "bench.toml"
        bench.write_text(bench_toml(lab, "stream"))
        other = tmp_path / "copy" / "bench.toml"  # another bench file, the same instruments
        other.parent.mkdir()
        other.write_text(bench.read_text())
        first = _start_run(bench, root, tmp_path / "runs1")
        try:
            deadline = time.monotonic() + 90
            while not list((tmp_path / "runs1").glob("*/log.txt")):
                assert time.monotonic() < deadline and first.poll() is None, "first run stalled"
                time.sleep(0.02)
            refused = [_second_run(b, root, tmp_path / "runs2") for b in (bench, other)]
            out, err = first.communicate(timeout=300)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(timeout=30)
    assert first.returncode == 0, err[-2000:]
    assert json.loads(out)["summary"]["valid"] is True
    same, copy = refused
    for proc in refused:
        assert proc.returncode == 1, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("error: ") and f"in use by pid {first.pid} on " in line, line
        assert "energybench run kws01 --mode energy" in line
    assert f"bench file {bench.resolve()}" in same.stderr
    assert "meter tcp://127.0.0.1:" in copy.stderr  # the instrument's own lock caught it
    assert not (tmp_path / "runs2").exists()  # refused before anything was opened or written
