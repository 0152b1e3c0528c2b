"""A two-rail DUT on the virtual lab (core + I/O rail, docs/rails.md), kws01 energy mode: each
rail's and the total energy per inference with its expanded uncertainty (k=2) against the
simulated truth, for both ways of measuring the rails — one N6705C digitizing outputs 1 and 2
in the same captures, and two streaming meters sharing the DUT's timestamp line.

    python bench/rails_energy.py [--noise] [--profile fast-m33]

``--noise`` gives every meter gain, offset and noise errors (within the N6705C's data-sheet
accuracy; the sim_stream profile claims an ideal meter, so its errors are noise only).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

from energybench.runner.bench import parse_bench
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.dut.standin_data import make_standin_dataset
from energybench.sim.lab import VirtualLab
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.rails_lab import RAIL_METERS, attach_two_rails, rails_bench_toml
from energybench.workloads.definitions import load_workload

NOISE = {  # per meter: errors its profile's accuracy covers
    "keysight_n6705c": MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=5e-5, seed=7),
    "sim_stream": MeasurementModel(noise_rms=5e-5, seed=7),
}


def run(meter: str, profile: str, noise: bool, data: Path, runs: Path) -> None:
    with VirtualLab(profile, mode="energy", workload="kws01") as lab:
        rails = attach_two_rails(lab, meter, measurement=NOISE[meter] if noise else None, seed=3)
        bench = parse_bench(tomllib.loads(rails_bench_toml(lab, rails)), "two-rail lab")
        started = time.monotonic()
        (result,) = run_workload(
            bench, "kws01", "energy", data, runs, options=RunOptions(plots=False)
        )
        wall_s = time.monotonic() - started
        valid = result.valid_windows
        truth = [t for t in lab.dut.windows if t.inferences == valid[0].inferences][-len(valid) :]
        per_window = [rails.truth_j(lab, t.start_s, t.end_s) for t in truth]
    figures = result.figures["rails"]
    print(f"{meter} ({'noise' if noise else 'ideal'}), valid={result.valid}, {wall_s:.1f} s wall")
    for name in (*figures["per_rail"], "total"):
        ours = figures["total"] if name == "total" else figures["per_rail"][name]
        true = statistics.median(
            sum(w.values()) / t.inferences if name == "total" else w[name] / t.inferences
            for w, t in zip(per_window, truth, strict=True)
        )
        value, u = ours["energy_per_inference_j"], ours["energy_per_inference_uncertainty_j"]
        inside = "yes" if abs(value - true) <= u else "NO"
        print(
            f"  {name:>5}: {value * 1e6:9.3f} ± {u * 1e6:6.3f} µJ/inf (truth {true * 1e6:9.3f}), "
            f"error {(value - true) * 1e6:+7.3f} µJ, within U: {inside}"
        )
    print(f"  MLPerf figure: the {figures['mlperf_rail']['rail']} rail")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", default="fast-m33")
    p.add_argument("--noise", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_standin_dataset(Path(tmp) / "data", load_workload("kws01"), files=5)
        for meter in RAIL_METERS:
            run(meter, args.profile, args.noise, data, Path(tmp) / "runs")


if __name__ == "__main__":
    main()
