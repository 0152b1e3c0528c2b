"""sww01 energy mode on the virtual lab for every meter that can delimit a stream: our energy of
the stream against the simulated truth, and the wall time of each run.

    python bench/sww_energy.py [--profile stm32l4r5-reference]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import tomllib
from pathlib import Path

from energybench.runner.bench import parse_bench
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, available_meters, bench_toml


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", default="stm32l4r5-reference")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for meter in available_meters():
        with VirtualLab(args.profile, mode="energy", workload="sww01") as lab:
            attach_meter(lab, meter, seed=5)
            bench = parse_bench(tomllib.loads(bench_toml(lab, meter)), "virtual lab")
            if bench.sync.mode == "hw_trigger_start":
                print(f"{meter:>14}: start edge only, cannot delimit a stream (refused)")
                continue
            started = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                (result,) = run_workload(bench, "sww01", "energy", lab.sd_card, Path(tmp))
            wall_s = time.monotonic() - started
            truth = lab.dut.streams[-1]
        (window,) = result.valid_windows
        length_s = truth.end_s - truth.start_s
        print(
            f"{meter:>14}: {1e3 * window.energy_j:10.4f} mJ over {window.duration_s:.4f} s, "
            f"truth {1e3 * truth.energy_j:10.4f} mJ over {length_s:.4f} s, "
            f"relative error {window.energy_j / truth.energy_j - 1:+.1e}, "
            f"{1e3 * window.energy_j / window.duration_s:.3f} mW, {wall_s:.1f} s wall"
        )


if __name__ == "__main__":
    main()
