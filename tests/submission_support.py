"""Helpers for the submission tests: virtual-lab run folders of all five workloads that are
valid for a closed-division submission, the official checker run as a separate process, and
the energybench CLI.

Valid for submission means: closed-division accuracy and, for sww01, the official truth file's
50 wakewords. The lab's stand-in model and data cannot give that by chance, so the datasets here
are labelled with the stand-in model's own answers (top-1 100 %; ad01: anomalies 200x louder
than normal inputs, AUC 1) and the sww01 SD card holds a stand-in stream of 50 tone bursts under
the official names (long_wav.wav, sww_long_test.json), which the stand-in detector finds. The
accuracy figures are therefore properties of the fixture, not measurements of anything."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
from conftest import shared_path

from energybench.runner.bench import parse_bench
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.dut.models import load_model
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, bench_toml
from energybench.sim.sww.audio import make_standin_sd_card
from energybench.workloads.definitions import load_workload

PROFILE = "fast-m33"
METER = "sim_stream"
FILES = {"kws01": 12, "vww01": 6, "ic01": 8, "ad01": 4}
SWW_BURSTS_S = tuple((2.0 + 2.0 * k, 2.5 + 2.0 * k) for k in range(50))
SWW_LENGTH_S = 103.0
ENERGYBENCH = [sys.executable, "-m", "energybench"]


def self_labelled_dataset(root: Path, name: str, files: int, seed: int = 0) -> Path:
    """``<root>/<name>/`` with random inputs labelled with the stand-in model's answer."""
    wl = load_workload(name)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    if wl.windowed:  # ad01: normal inputs quantise well, loud ones clip (large error)
        size = wl.window_bytes + 5 * wl.stride_bytes
        for k in range(files):
            anomaly = k % 2
            values = rng.normal(0.0, 200.0 if anomaly else 1.0, size // 4).astype("<f4")
            file = f"selflabel_{k:04d}_{anomaly}.bin"
            (folder / file).write_bytes(values.tobytes())
            rows.append(f"{file},{wl.classes},{anomaly},{wl.window_bytes},{wl.stride_bytes}")
    else:
        model = load_model(name)
        for k in range(files):
            data = rng.integers(0, 256, wl.input_bytes, dtype=np.uint8).tobytes()
            model.load_tensor(data)
            model.infer()
            values = [float(v) for v in re.findall(r"-?[\d.]+", model.results_line())]
            label = int(np.argmax(values))
            file = f"selflabel_{k:04d}_{label}.bin"
            (folder / file).write_bytes(data)
            rows.append(f"{file},{wl.classes},{label}")
    (folder / wl.truth_file).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def long_stream_card(folder: Path) -> Path:
    return make_standin_sd_card(
        folder,
        bursts_s=SWW_BURSTS_S,
        length_s=SWW_LENGTH_S,
        wav_name="long_wav.wav",
        truth_name="sww_long_test.json",
    )


def valid_runs(out: Path) -> Path:
    """All three modes of the five workloads, valid for a closed submission; returns the
    folder holding the run folders."""
    runs = out / "runs"
    for k, name in enumerate(("kws01", "vww01", "ic01", "ad01", "sww01")):
        if name == "sww01":
            data = card = long_stream_card(out / "sd_card")
        else:
            data, card = self_labelled_dataset(out / "data", name, FILES[name], seed=k), None
        with VirtualLab(PROFILE, mode="performance", workload=name, seed=k, sd_card=card) as lab:
            attach_meter(lab, METER, seed=k)
            bench = parse_bench(tomllib.loads(bench_toml(lab, METER)), "virtual lab")
            results = run_workload(
                bench, name, "all", data, runs, options=RunOptions(flash=lab.flash)
            )
        bad = [(r.mode, r.validity) for r in results if not r.valid]
        if bad:
            raise AssertionError(f"{name}: a fixture run is not valid: {bad}")
    return runs


def energybench(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [*ENERGYBENCH, *args], capture_output=True, text=True, timeout=timeout_s, env=env
    )


def official_checker() -> Path:
    return shared_path("mlperf-tiny", "reference", "tools", "submission", "submission_checker.py")


def run_official(root: Path, version: str, csv_path: Path) -> subprocess.CompletedProcess:
    """The official checker as a separate process (it chdirs into ``root``; the CSV path is
    opened before, so it is made absolute)."""
    return subprocess.run(
        [
            sys.executable,
            str(official_checker()),
            "--input",
            str(root),
            "--version",
            version,
            "--csv",
            str(csv_path.resolve()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def official_summary(proc: subprocess.CompletedProcess) -> str:
    """Its verdict line without the logging prefix ("Results=..., SUMMARY: ..." or a crash)."""
    counts = re.search(r"Results=\d+, NoResults=\d+", proc.stderr)
    summary = re.search(r"SUMMARY: (.*)", proc.stderr)
    if counts is None or summary is None:
        return "crash"
    return f"{counts.group(0)}, SUMMARY: {summary.group(1).strip()}"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
