"""Helpers for the runner's virtual-lab tests: a lab with a simulated meter, its bench file,
stand-in datasets and a Progress that can inject faults at a given step."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from energybench.runner.bench import Bench, parse_bench
from energybench.sim.dut.standin_data import make_standin_dataset
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, available_meters, bench_toml, sim_meter
from energybench.workloads.definitions import load_workload

CHECKER_PERF = r".* Median throughput is\s+([\d\.]+) inf\./sec\..*"
CHECKER_ENERGY = r"Median energy cost is ([\d\.]+) uJ/inf"
CHECKER_TOP1 = r".* Top[- ]1%?\s?[:=] ([\d\.]+).*"
CHECKER_AUC = r".* AUC\s?[:=] ([\d\.]+).*"


def require_meter(name: str) -> None:
    """Every simulated meter ships with its driver: a missing one is a broken install, a
    failure rather than a skip."""
    meter = sim_meter(name)  # a registry name or a catalogue alias
    if meter.name not in available_meters():
        pytest.fail(f"simulated meter {name!r} ({meter.module}) or its driver is missing")


def lab_bench(lab: VirtualLab, meter: str | None, *, lab_figures: bool = True, **options) -> Bench:
    """The lab's bench file; with ``lab_figures`` (default) it states the figures of the
    meter's true error model its profile lacks, so the run's uncertainty is known."""
    if meter is None:  # performance/accuracy only: a meter-only driver is never opened
        text = '[meter]\ndriver = "sim_stream"\nresource = "tcp://127.0.0.1:9"\n' + lab.bench_toml()
    else:
        text = bench_toml(lab, meter, lab_figures=lab_figures, **options)
    return parse_bench(tomllib.loads(text), "virtual lab")


def with_meter(lab: VirtualLab, meter: str, **kw):
    return attach_meter(lab, meter, **kw)


def output_still_on(lab: VirtualLab, timeout_s: float = 2.0) -> bool:
    """The supply output at the end, once the simulator has read what was sent to it (a meter
    that acknowledges nothing, the PPK2, acts on its last command a moment after the driver
    returns; bounded)."""
    deadline = time.monotonic() + timeout_s
    while lab.timeline.supply_state(lab.timeline.now_s)[1] and time.monotonic() < deadline:
        time.sleep(0.01)
    return lab.timeline.supply_state(lab.timeline.now_s)[1]


def standin(tmp_path: Path, workload: str, files: int | None = None) -> Path:
    return make_standin_dataset(tmp_path / "data", load_workload(workload), files=files)


class StepProgress:
    """A Progress calling ``hooks[n]()`` after the n-th ``advance`` (0-based)."""

    def __init__(self, hooks: dict[int, Callable[[], None]] | None = None) -> None:
        self.hooks = hooks or {}
        self.steps = 0
        self.notes: list[str] = []
        self.labels: list[str] = []

    def start(self, label: str, total: float) -> None:
        self.labels.append(label)

    def advance(self, amount: float = 1.0) -> None:
        hook = self.hooks.get(self.steps)
        self.steps += 1
        if hook is not None:
            hook()

    def note(self, text: str) -> None:
        self.notes.append(text)


def ranging_windows(result) -> int:
    """DUT windows the run's ranging pass ran before the probe (results' figures.current_range;
    0 without a pass): the lab's ground-truth windows start with them."""
    choice = result.figures.get("current_range") or {}
    return int(choice.get("attempts") or 0) if choice.get("source") == "ranging pass" else 0


def energy_truth(result, truth: list) -> list:
    """The lab's ground-truth windows of the run's own measurement (probe and windows), the
    ranging pass' windows skipped."""
    return list(truth)[ranging_windows(result) :]
