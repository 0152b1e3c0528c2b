"""Energy-mode runs of kws01 against the POSIX firmware DUT, one per simulated meter (prints).

Usage: python bench/firmware_lab_runs.py [--meters sim_stream lpm01a ...] [--min-window-s 0.3]
       [--dut sim]   (the same runs on the Python simulated DUT, for comparison)
For each meter: VirtualLab(dut="firmware"), the runner's energy mode with five short windows
(realtime), then prints validity, windows with exactly two edges, late firmware events, the
worst per-inference energy error against the DUT's ground truth, and the wall time.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import tomllib
from pathlib import Path

from energybench.runner.bench import parse_bench
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.dut.standin_data import make_standin_dataset
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, available_meters, bench_toml
from energybench.workloads.definitions import load_workload


def run_one(meter: str, min_window_s: float, folder: Path, dut: str = "firmware") -> str:
    root = make_standin_dataset(folder / "data", load_workload("kws01"), files=5)
    options = RunOptions(min_window_s=min_window_s, windows=5)
    t0 = time.monotonic()
    with VirtualLab("fast-m33", dut=dut, mode="energy", workload="kws01") as lab:
        attach_meter(lab, meter)
        bench = parse_bench(tomllib.loads(bench_toml(lab, meter)), "virtual lab")
        (result,) = run_workload(bench, "kws01", "energy", root, folder / "runs", options=options)
        if dut == "firmware":
            lab.dut.wait_windows(1 + options.windows, timeout_s=5.0)  # probe + windows
        truth = list(lab.dut.windows)
        late = lab.dut.track.late_events if dut == "firmware" else 0
    ran = [w for w in result.windows if w.energy_j is not None]
    errors = [
        abs(w.energy_per_inference_j / (t.energy_j / t.inferences) - 1)
        for w, t in zip(ran, truth[1:], strict=False)
    ]
    paired = sum(1 for w in ran if w.valid and not w.problems)
    worst = f"{max(errors):.2e}" if errors else "n/a"
    return (
        f"{meter:14s} valid={result.valid!s:5s} windows with 2 edges {paired}/{len(ran)}  "
        f"late events {late}  worst energy/inf error {worst}  {time.monotonic() - t0:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", nargs="*", default=None)
    parser.add_argument("--min-window-s", type=float, default=0.3)
    parser.add_argument("--dut", default="firmware", choices=("firmware", "sim"))
    args = parser.parse_args()
    meters = args.meters or list(available_meters())
    for meter in meters:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                print(run_one(meter, args.min_window_s, Path(tmp), args.dut), flush=True)
            except Exception as exc:  # a figures script: report and go on
                print(f"{meter:14s} FAILED {type(exc).__name__}: {exc}", flush=True)
                logging.getLogger(__name__).debug("run failed", exc_info=True)


if __name__ == "__main__":
    main()
