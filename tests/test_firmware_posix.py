"""The C DUT harness (firmware/) built for POSIX, driven over a real pseudo-terminal with pyserial.

Checks the MLPerf Tiny reply strings, chunked downloads with read-back, the stand-in models'
results against a Python re-implementation, m-lap-us in performance mode and the timestamp-pin
edges on the side channel in energy mode. The protocol helper here is deliberately small; the
real DUT client lives in energybench/dut/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import serial
from lab_support import read_line

from tests.conftest import PROJECT_ROOT

FIRMWARE_DIR = PROJECT_ROOT / "firmware"
BINARY = FIRMWARE_DIR / "build" / "ebdut-posix"
RESULTS_RE = re.compile(r"^m-results-\[([^]]+)\]$")  # the reference host's regex
LAP_RE = re.compile(r"^m-lap-us-([0-9]+)$")
MAX_CHUNK_BYTES = 38  # "db " + 76 hex digits = 79 characters < 80


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_bytes: int
    capacity_bytes: int
    classes: int
    logit_divisor: float


MODELS = {
    "kws01": ModelSpec("kws01", 490, 490, 12, 1200.0),
    "vww01": ModelSpec("vww01", 27648, 27648, 2, 9000.0),
    "ic01": ModelSpec("ic01", 3072, 3072, 10, 3000.0),
    "ad01": ModelSpec("ad01", 2560, 5120, 1, 1.0),
}


@pytest.fixture(scope="module")
def ebdut_binary() -> Path:
    """Build firmware/build/ebdut-posix with make, or skip when no C toolchain is present."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed: cannot build firmware/ (install make and a C compiler)")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc/gcc) on PATH: cannot build firmware/")
    result = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE_DIR)], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"make -C firmware failed:\n{result.stdout}{result.stderr}"
    return BINARY


class PosixDut:
    """ebdut-posix on a pseudo-terminal: start, send commands, read replies, stop."""

    def __init__(self, binary: Path, mode: str, model: str, events: Path) -> None:
        self.process = subprocess.Popen(
            [str(binary), "--mode", mode, "--model", model, "--events", str(events)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.port: serial.Serial | None = None
        try:
            path = self._read_pty_path(timeout_s=10.0)
            self.port = serial.Serial(path, baudrate=115200, timeout=0.05)
        except BaseException:
            self.close()
            raise

    def _read_pty_path(self, timeout_s: float) -> str:
        assert self.process.stdout is not None
        line = read_line(self.process.stdout, timeout_s, "ebdut-posix's 'pty:' line").strip()
        assert line.startswith("pty: "), f"unexpected first line {line!r}"
        return line.removeprefix("pty: ")

    def command(self, text: str, timeout_s: float = 20.0) -> list[str]:
        """Send text + '%'; return the reply lines up to and including m-ready."""
        assert self.port is not None
        self.port.write(text.encode("ascii") + b"%")
        lines: list[str] = []
        pending = b""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pending += self.port.read(self.port.in_waiting or 1)
            while b"\r\n" in pending:
                raw, pending = pending.split(b"\r\n", 1)
                lines.append(raw.decode("ascii"))
                if lines[-1] == "m-ready":
                    assert pending == b"", f"bytes after m-ready: {pending!r}"
                    return lines
        raise TimeoutError(f"no m-ready for {text[:40]!r} within {timeout_s} s; got {lines}")

    def download(self, data: bytes, chunk_bytes: int = MAX_CHUNK_BYTES) -> None:
        assert self.command(f"db load {len(data)}") == [
            f"m-[Expecting {len(data)} bytes]",
            "m-ready",
        ]
        for start in range(0, len(data), chunk_bytes):
            reply = self.command("db " + data[start : start + chunk_bytes].hex())
            last = start + chunk_bytes >= len(data)
            assert reply == (["m-load-done", "m-ready"] if last else ["m-ready"]), reply

    def read_back(self) -> bytes:
        lines = self.command("db print")
        assert lines[-1] == "m-ready"
        assert all(line.startswith("m-buffer-") for line in lines[:-1])
        assert all(len(line.split("-")) <= 10 for line in lines[:-1])  # 8 bytes per line
        return bytes.fromhex(
            "".join(line[len("m-buffer-") :].replace("-", "") for line in lines[:-1])
        )

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _mix32(values: np.ndarray) -> np.ndarray:
    x = values.astype(np.uint64) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def expected_outputs(spec: ModelSpec, data: bytes) -> np.ndarray:
    """The stand-in model of firmware/ports/posix/standin_model.c, in numpy."""
    if spec.name == "ad01":
        slices = np.frombuffer(data, dtype="<f4").astype(np.float64).reshape(5, 128)
        return np.array([np.mean((slices - slices.mean(axis=1, keepdims=True)) ** 2)])
    raw = np.frombuffer(data, dtype=np.uint8)
    values = (
        raw.view(np.int8).astype(np.int64) if spec.name == "kws01" else raw.astype(np.int64) - 128
    )
    index = np.arange(spec.input_bytes * spec.classes).reshape(spec.input_bytes, spec.classes)
    weights = (_mix32(index) % 7).astype(np.int64) - 3
    logits = (values.astype(np.int64) @ weights).astype(np.float64)
    scaled = np.exp((logits - logits.max()) / spec.logit_divisor)
    return scaled / scaled.sum()


def make_input(spec: ModelSpec, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if spec.name == "ad01":
        return rng.normal(10.0, 3.0, 640).astype("<f4").tobytes()
    return rng.integers(0, 256, spec.input_bytes, dtype=np.uint8).tobytes()


def read_events(path: Path) -> list[tuple[str, int, list[int]]]:
    events = []
    for line in path.read_text().splitlines():
        name, time_us, *rest = line.split()
        events.append((name, int(time_us), [int(value) for value in rest]))
    return events


@pytest.fixture
def start_dut(ebdut_binary: Path, tmp_path: Path):
    started: list[PosixDut] = []

    def start(mode: str, model: str) -> tuple[PosixDut, Path]:
        events = tmp_path / f"events-{mode}-{model}.txt"
        dut = PosixDut(ebdut_binary, mode, model, events)
        started.append(dut)
        return dut, events

    yield start
    for dut in started:
        dut.close()


@pytest.mark.parametrize("mode", ["performance", "energy"])
@pytest.mark.parametrize("model", list(MODELS))
def test_download_infer_results(start_dut, mode: str, model: str) -> None:
    spec = MODELS[model]
    dut, events_path = start_dut(mode, model)
    assert dut.command("name") == ["m-name-dut-[energybench-posix]", "m-ready"]
    assert dut.command("profile") == [
        "m-profile-[ULPMark for tinyML Firmware V0.0.1]",
        f"m-model-[{model}]",
        "m-ready",
    ]
    data = make_input(spec, seed=len(model) + (mode == "energy"))
    dut.download(data)
    assert dut.read_back() == data

    reply = dut.command("infer 3 1")
    laps = [int(m.group(1)) for m in map(LAP_RE.match, reply) if m]
    others = [line for line in reply if not LAP_RE.match(line)]
    assert others[:4] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3", "m-infer-done"]
    assert others[-1] == "m-ready" and len(others) == 6
    if mode == "performance":
        assert len(laps) == 2 and laps[1] >= laps[0]
    else:
        assert laps == []

    match = RESULTS_RE.match(others[4])
    assert match, others[4]
    if model == "vww01":
        assert match.group(1).endswith(","), "vww01 keeps the reference's trailing comma"
    printed = np.array([float(item) for item in match.group(1).split(",") if item])
    expected = expected_outputs(spec, data)
    assert printed.shape == expected.shape
    np.testing.assert_allclose(printed, expected, atol=0.0011, rtol=1e-6)
    if model == "kws01":
        assert np.all(printed <= expected + 1e-9), "kws01 truncates like the reference"
    assert dut.command("results") == [others[4], "m-ready"]

    second = dut.command("infer 2 0")
    assert "m-infer-start-2" in second and second[-1] == "m-ready"
    events = read_events(events_path)
    falls = [t for name, t, _ in events if name == "ts_fall"]
    rises = [t for name, t, _ in events if name == "ts_rise"]
    begins = [(t, args) for name, t, args in events if name == "infer_begin"]
    ends = [t for name, t, _ in events if name == "infer_end"]
    assert [args for _, args in begins] == [[3], [2]] and len(ends) == 2
    if mode == "energy":
        # boot + (start, end) of each infer; each window's edges bracket exactly its loop
        assert len(falls) == 5 and len(rises) == 5
        assert falls[0] < rises[0] < falls[1]
        for k, ((begin_us, _), end_us) in enumerate(zip(begins, ends, strict=True)):
            assert falls[1 + 2 * k] < rises[1 + 2 * k] <= begin_us <= end_us <= falls[2 + 2 * k]
        assert all(rise - fall >= 100 for fall, rise in zip(falls, rises, strict=True))  # hold
    else:
        assert falls == [] and rises == []
        assert laps[0] <= begins[0][0] <= ends[0] <= laps[1]  # one clock for laps and events


def test_wrong_size_and_bad_input_answered_with_errors(start_dut) -> None:
    dut, _ = start_dut("performance", "ic01")
    dut.download(bytes(range(100)))
    assert dut.command("infer 1 0") == [
        "Input db has 100 bytes, expected 3072",
        "e-[Input size mismatch: model ic01 needs 3072 bytes]",
        "m-ready",
    ]
    assert dut.command("db load 3073") == [
        "e-[Supplied buffer size 3073 exceeds maximum of 3072]",
        "m-ready",
    ]
    assert dut.command("db 00") == ["e-[Command 'db' data needs a prior 'db load N']", "m-ready"]
    assert dut.command("x" * 200) == [
        "e-[Command of 200 characters exceeds the maximum of 80; discarded]",
        "m-ready",
    ]
    assert dut.command("db load 2") == ["m-[Expecting 2 bytes]", "m-ready"]
    assert dut.command("db 0") == ["e-[Insufficent number of hex digits]", "m-ready"]
    assert dut.command("db 0q") == ["e-[Invalid hex digit '0q']", "m-ready"]
    assert dut.command("launch") == ["e-[Unknown command: launch]", "m-ready"]
    assert dut.command("name") == ["m-name-dut-[energybench-posix]", "m-ready"]


@pytest.mark.parametrize("mode", ["performance", "energy"])
def test_stdio_boot_banner(ebdut_binary: Path, mode: str) -> None:
    result = subprocess.run(
        [str(ebdut_binary), "--stdio", "--mode", mode, "--model", "ad01"],
        input=b"timestamp%",
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("ascii").split("\r\n")
    if mode == "performance":
        assert lines[0] == "m-timestamp-mode-performance" and LAP_RE.match(lines[1])
        assert lines[2:4] == ["m-init-done", "m-ready"] and LAP_RE.match(lines[4])
    else:
        assert lines[:3] == ["m-timestamp-mode-energy", "m-init-done", "m-ready"]
        assert lines[3] == "m-ready"  # timestamp is a pin pulse only


def test_lap_counter_continues_past_32_bit_wrap(ebdut_binary: Path) -> None:
    """The µs counter starts 0.5 s before 2^32; one 0.6 s inference crosses the wrap."""
    start_us = 2**32 - 500_000
    chunks = (bytes(min(MAX_CHUNK_BYTES, 490 - at)) for at in range(0, 490, MAX_CHUNK_BYTES))
    commands = b"db load 490%" + b"".join(b"db " + c.hex().encode() + b"%" for c in chunks)
    result = subprocess.run(
        [str(ebdut_binary), "--stdio", "--timer-offset-us", str(start_us), "--infer-us", "600000"],
        input=commands + b"infer 1 0%",
        capture_output=True,
        timeout=20,
    )
    lines = result.stdout.decode("ascii").split("\r\n")
    laps = [int(m.group(1)) for m in map(LAP_RE.match, lines) if m]
    assert "m-infer-done" in lines and len(laps) == 3  # boot, start, end
    assert start_us <= laps[0] < 2**32 < laps[2]
    assert laps[0] <= laps[1] and laps[2] - laps[1] >= 600_000


def test_baud_emulation_paces_the_dut_clock(ebdut_binary: Path) -> None:
    """At 9600 baud the ~21-byte reply between two timestamps takes >= 20 ms of DUT time."""
    result = subprocess.run(
        [str(ebdut_binary), "--stdio", "--baud", "9600"],
        input=b"timestamp%timestamp%",
        capture_output=True,
        timeout=20,
    )
    laps = [int(m.group(1)) for m in map(LAP_RE.match, result.stdout.decode().split("\r\n")) if m]
    assert len(laps) == 3 and laps[2] - laps[1] >= 20_000


@pytest.mark.parametrize("mode", ["energy", "performance"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_energybench_dut_client_drives_the_posix_build(
    ebdut_binary: Path, tmp_path: Path, mode: str, model: str
) -> None:
    """energybench's own DUT client (not the helper above) against the C harness."""
    from energybench.dut.client import DutClient
    from energybench.dut.link import DirectLink
    from energybench.transport.serial_port import SerialTransport

    spec = MODELS[model]
    events = tmp_path / "events.txt"
    process = subprocess.Popen(
        [str(ebdut_binary), "--mode", mode, "--model", model, "--events", str(events)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        path = read_line(process.stdout, 10.0, "ebdut-posix").strip().removeprefix("pty: ")
        transport = SerialTransport(path, 115200, timeout_s=5.0, read_termination="\n")
        client = DutClient(DirectLink(transport), timeout_s=5.0)
        try:
            identity = client.identify()
            assert identity.model == model
            assert client.probe_mode() == mode
            data = make_input(spec, seed=3)
            client.load(data, verify=True)
            result = client.infer(5, 1, timeout_s=20.0)
            if mode == "performance":
                assert result.dut_elapsed_s is not None and result.dut_elapsed_s > 0
            else:
                assert result.lap_us is None
            np.testing.assert_allclose(result.results, expected_outputs(spec, data), atol=1e-3)
            assert client.results() == result.results
        finally:
            transport.close()
    finally:
        process.kill()
        process.wait(timeout=10)
