"""kws01 energy per inference on one virtual lab (LPM01A through the interface board, realtime
pace), measured three ways: the official MLCommons runner (a separate process, unchanged, its
USB discovery replaced by energybench.sim.mlc_runner_ports), energybench's own energy mode, and
the timeline's truth for the windows each of them measured. Prints the three figures, whether the
two measurements agree within their combined expanded uncertainty, the wall time of each run and
the realtime pacing's slack (the DUT's latest wake-up past its target, the LPM01A's latest batch
of bins after their end). ``--load N`` runs N busy-loop processes meanwhile (a loaded lab PC).

    python bench/official_runner_side_by_side.py --runner-dir TINY/benchmark/runner \\
        --dataset DATASETS [--load 2]

energybench runs as a separate process too (`energybench run`, on the lab's bench file), so the
lab's threads have this process to themselves. The runner's figure has no uncertainty of its
own: its window runs from the 1 ms energy bin that holds the first timestamp edge to the one
that holds the second, so each end is off by up to one bin (rectangular);
U(k=2) = 2 · sqrt(2 · (P · 1 ms)² / 3) / N with P the window's mean power. energybench's U is
its uncertainty budget (k=2).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, bench_toml

BIN_S = 1e-3  # the runner sets the LPM01A to `freq 1k`, energy output


class RunnerFailed(Exception):
    pass


@contextmanager
def busy_loops(n: int):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def run_official(runner_dir: Path, lab: VirtualLab, meter_port: str, dataset: Path, work: Path):
    """The runner in energy mode; (its median J/inf, per-trial (J/inf, s), wall s)."""
    command = [
        sys.executable,
        "-m",
        "energybench.sim.mlc_runner_ports",
        f"--runner-dir={runner_dir}",
        f"--workdir={work}",
        f"--port=stm32h573i-dk={lab.interface.port}",
        f"--port=lpm01a={meter_port}",
        "--",
        f"--dataset_path={dataset}",
        f"--device_list={runner_dir / 'devices_kws_ic_vww.yaml'}",
        f"--test_script={runner_dir / 'tests_energy.yaml'}",
        "--mode=e",
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    wall_s = time.monotonic() - started
    if done.returncode != 0:
        raise RunnerFailed((done.stdout + done.stderr)[-1500:])
    text = next(work.glob("sessions/*/results.txt")).read_text()
    median_j = 1e-6 * float(re.search(r"Median energy cost is ([\d.]+) uJ/inf", text).group(1))
    per_inf = [1e-6 * float(x) for x in re.findall(r"Energy/Inf\s+: ([\d.]+) uJ/inf", text)]
    elapsed = [float(x) for x in re.findall(r"Elapsed time\s+: ([\d.]+)", text)]
    return median_j, list(zip(per_inf, elapsed, strict=True)), wall_s


def run_energybench(lab: VirtualLab, dataset: Path, work: Path) -> tuple[dict, float]:
    """`energybench run kws01 --mode energy` as a separate process on the lab's bench file;
    (its results.json, wall s)."""
    bench = work / "bench.toml"
    # as `energybench lab up --meter lpm01a` prints it: the figures the LPM01A's documents do
    # not give (offset, voltage, timebase) are stated from the lab's error model
    bench.write_text(bench_toml(lab, "lpm01a", lab_figures=True))
    command = [sys.executable, "-m", "energybench", "run", "kws01", "--mode", "energy"]
    command += ["--bench", str(bench), "--dataset", str(dataset), "--runs-dir", str(work / "runs")]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    wall_s = time.monotonic() - started
    folders = list((work / "runs").glob("*_kws01_energy"))
    if done.returncode not in (0, 3) or not folders:
        sys.exit(f"energybench run failed:\n{done.stderr[-2000:]}")
    saved = json.loads((folders[0] / "results.json").read_text())
    saved["valid_windows"] = sum(1 for w in saved["windows"] if w["valid"])
    return saved, wall_s


def runner_u_j(trials: list[tuple[float, float]], inferences: int) -> float:
    """U(k=2) of the runner's median from its ±1 bin edge placement (see the module doc)."""
    energy_per_inf, elapsed = trials[len(trials) // 2]
    power_w = energy_per_inf * inferences / elapsed
    return 2 * math.sqrt(2 * (power_w * BIN_S) ** 2 / 3) / inferences


def slack(lab: VirtualLab, sim) -> str:
    """The realtime pacing's slack so far, and how far the host fell behind the LPM01A."""
    backlog_s = sim.max_backlog_bytes / (len("1234-09\r\n") * 1000)  # ascii_dec lines at 1 kHz
    return (
        f"  realtime slack  : DUT woke at most {1e3 * lab.timeline.max_late_s:.1f} ms late, "
        f"LPM01A bins left at most {1e3 * sim.max_emit_lag_s:.1f} ms after their end, "
        f"at most {sim.max_backlog_bytes} bytes (~{backlog_s:.2f} s of data) unread by the host; "
        f"a DUT reply waited at most {1e3 * lab.timeline.max_report_wait_s:.1f} ms for the "
        f"LPM01A's data of its instant"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runner-dir", type=Path, required=True, help="the runner's folder (main.py)")
    p.add_argument("--dataset", type=Path, required=True, help="datasets folder holding kws01/")
    p.add_argument("--profile", default="stm32l4r5-reference")
    p.add_argument("--load", type=int, default=0, help="busy-loop processes meanwhile")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with (
        busy_loops(args.load),
        tempfile.TemporaryDirectory() as tmp,
        VirtualLab(args.profile, mode="energy", workload="kws01", realtime=True) as lab,
    ):
        sim = attach_meter(lab, "lpm01a", seed=7)
        work = Path(tmp)
        before = len(lab.dut.windows)
        try:
            runner_j, trials, runner_wall_s = run_official(
                args.runner_dir.resolve(), lab, sim.resource, args.dataset.resolve(), work / "mlc"
            )
        except RunnerFailed as exc:
            print(f"the official runner failed ({args.load} busy loops):\n{exc}")
            print(slack(lab, sim))
            sys.exit(1)
        runner_truth = [w.energy_j / w.inferences for w in lab.dut.windows[before:]]
        inferences = lab.dut.windows[-1].inferences
        runner_u = runner_u_j(sorted(trials), inferences)

        before = len(lab.dut.windows)
        ours, ours_wall_s = run_energybench(lab, args.dataset.resolve(), work)
        ours_truth = [w.energy_j / w.inferences for w in lab.dut.windows[before + 1 :]]  # no probe
        ours_j = ours["figures"]["median_energy_per_inference_j"]
        ours_u = ours["figures"]["energy_per_inference_uncertainty_j"]
        pacing = slack(lab, sim)

    truth_runner_j, truth_ours_j = statistics.median(runner_truth), statistics.median(ours_truth)
    combined_u = math.hypot(runner_u, ours_u) if ours_u is not None else None
    ours_u_text = (
        f"± {1e6 * ours_u:.4f}"
        if ours_u is not None
        else f"± unknown ({ours['figures'].get('uncertainty_status')})"
    )
    print(f"kws01 on the virtual lab ({args.profile}, LPM01A, realtime, {args.load} busy loops)")
    print(
        f"  official runner : {1e6 * runner_j:10.4f} µJ/inf ± {1e6 * runner_u:.4f} (k=2, 1 ms "
        f"edges), {len(trials)} windows of {inferences} inferences, wall {runner_wall_s:.1f} s"
    )
    print(
        f"  energybench     : {1e6 * ours_j:10.4f} µJ/inf {ours_u_text} (k=2), "
        f"{ours['valid_windows']} windows, wall {ours_wall_s:.1f} s, valid: {ours['valid']}"
    )
    print(
        f"  truth           : {1e6 * truth_runner_j:10.4f} µJ/inf (runner's windows), "
        f"{1e6 * truth_ours_j:.4f} µJ/inf (energybench's windows)"
    )
    gap = ours_j - runner_j
    verdict = (
        "combined U unknown"
        if combined_u is None
        else f"combined U {1e6 * combined_u:.4f} µJ: "
        + ("agree" if abs(gap) <= combined_u else "DIFFER")
    )
    print(
        f"  runner - truth {1e6 * (runner_j - truth_runner_j):+.4f} µJ, energybench - truth "
        f"{1e6 * (ours_j - truth_ours_j):+.4f} µJ; energybench - runner {1e6 * gap:+.4f} µJ, "
        f"{verdict}"
    )
    print(pacing)


if __name__ == "__main__":
    main()
