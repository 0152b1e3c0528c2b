"""A kws01 energy run on the virtual lab with the Joulescope-like stream at its default rate
(no ``sample_rate_hz`` in the bench: the meter's native 2 MS/s) and its default range (the
ranging pass picks it): the rate and range recorded, dropped samples, and each window's energy
per inference against the lab's ground truth with its expanded uncertainty U (k=2).

    .venv/bin/python bench/native_rate_energy.py [--windows 5] [--min-window-s 10]
        [--sample-rate-hz 2000000] [--out /tmp/energybench_native_rate]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--min-window-s", type=float, default=10.0)
    parser.add_argument("--sample-rate-hz", type=int, default=None, help="default: native")
    parser.add_argument("--out", type=Path, default=Path("/tmp/energybench_native_rate"))
    args = parser.parse_args()

    from runner_helpers import energy_truth, lab_bench, standin

    from energybench.runner.context import RunOptions
    from energybench.runner.run import run_workload
    from energybench.sim.lab import VirtualLab
    from energybench.sim.meters import attach_meter

    shutil.rmtree(args.out, ignore_errors=True)
    root = standin(args.out, "kws01", files=5)
    options = RunOptions(min_window_s=args.min_window_s, windows=args.windows, plots=False)
    wall0 = time.perf_counter()
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, "sim_stream", seed=3)
        bench = lab_bench(lab, "sim_stream", sample_rate_hz=args.sample_rate_hz)
        (result,) = run_workload(bench, "kws01", "energy", root, args.out / "runs", options=options)
        truth = energy_truth(result, list(lab.dut.windows))[1:]  # after the probe
    wall = time.perf_counter() - wall0
    f = result.figures
    rate, rng, acq = f.get("sample_rate", {}), f.get("current_range", {}), f.get("acquisition", {})
    print(f"run folder    {result.folder}   valid {result.valid} {result.validity or ''}")
    print(f"sample rate   {rate.get('value_hz', 0):,.0f} Hz ({rate.get('source')})")
    print(
        f"current range {rng.get('chosen_a')} A ({rng.get('source')}; peak "
        f"{rng.get('peak_a')} A, margin {rng.get('margin')}, {rng.get('ranging_file')})"
    )
    print(f"recorded      {acq.get('samples', 0):,} samples, dropped {acq.get('dropped_samples')}")
    print(f"wall          {wall:.1f} s ({acq.get('samples', 0) / wall / 1e6:.2f} MS/s end to end)")
    ran = [w for w in result.windows if w.energy_j is not None]
    print("window  attempt  uJ/inf (ours)  uJ/inf (truth)  rel. error  error/U  switches  valid")
    for ours, true in zip(ran, truth, strict=False):
        expected = true.energy_j / true.inferences
        ratio = abs(ours.energy_j - true.energy_j) / (ours.energy_uncertainty_j or float("nan"))
        print(
            f"{ours.index:>6}  {ours.attempt:>7}  {ours.energy_per_inference_j * 1e6:13.4f}  "
            f"{expected * 1e6:14.4f}  {ours.energy_j / true.energy_j - 1:10.2e}  {ratio:7.3f}  "
            f"{ours.range_switches!s:>8}  {ours.valid}"
        )
    median = f.get("median_energy_per_inference_j")
    if median is not None:
        u = f["energy_per_inference_uncertainty_j"]
        print(f"median        {median * 1e6:.4f} uJ/inf +- {u * 1e6:.4f} uJ (k=2)")


if __name__ == "__main__":
    main()
