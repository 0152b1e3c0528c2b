"""Lab runs for the compare/report tests: energy runs of kws01 on the virtual lab with a DUT
profile whose inference current is scaled (a "build" that costs more or less energy), short
windows so that many runs stay fast."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from runner_helpers import lab_bench, standin

from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.dut.profiles import DutProfile, load_profile
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter

WORKLOAD = "kws01"


def scaled_profile(scale: float, base: str = "fast-m33") -> DutProfile:
    """``base`` with its inference (active) current multiplied by ``scale``: the inference
    energy scales by ``scale``, the latency and idle current stay."""
    profile = load_profile(base)
    current = {k: v * scale for k, v in profile.active_current_a.items()}
    return replace(profile, name=f"{base}x{scale:g}", active_current_a=current)


def lab_energy_run(
    tmp_path: Path,
    *,
    scale: float = 1.0,
    seed: int = 0,
    meter: str = "sim_stream",
    label: str | None = None,
    runs_dir: Path | None = None,
    min_window_s: float = 1.0,
    mode: str = "energy",
) -> Path:
    """One kws01 run folder (energy mode unless ``mode``) on a fresh virtual lab."""
    root = standin(tmp_path, WORKLOAD, files=5)
    options = RunOptions(min_window_s=min_window_s, plots=False, label=label, seed=seed)
    lab_mode = "energy" if mode == "energy" else "performance"
    with VirtualLab(scaled_profile(scale), mode=lab_mode, workload=WORKLOAD, seed=seed) as lab:
        if mode == "energy":
            attach_meter(lab, meter, seed=seed)
        (result,) = run_workload(
            lab_bench(lab, meter if mode == "energy" else None),
            WORKLOAD,
            mode,
            root,
            runs_dir or tmp_path / "runs",
            options=options,
        )
    assert result.valid, result.validity
    return result.folder
