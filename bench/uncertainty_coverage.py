"""Does the reported U (k=2) hold? Per simulated meter: seeded window energies, each from a
fresh unit of the meter's true error model (energybench.sim.error_models) and a fresh DUT
current pattern, integrated and budgeted by the same code a run uses (energybench.sim.coverage).
Prints the share of windows whose true energy lies within ±U (target >= 93 %) and the mean U
over the RMS actual error (target <= 3: a larger U would be vacuous); then the same for the
stream source claiming the ideal profile while it is not ideal (must FAIL).

    .venv/bin/python bench/uncertainty_coverage.py [--windows 200] [--seed 0]
"""

from __future__ import annotations

import argparse

from energybench.sim.coverage import CASES, run_coverage

TARGET_COVERAGE = 0.93
TARGET_U_OVER_RMS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'meter':18s} {'windows':>7s} {'coverage':>9s} {'U/RMS':>6s}  verdict")
    results = [run_coverage(name, windows=args.windows, seed=args.seed) for name in CASES]
    ideal = run_coverage("sim_stream", windows=args.windows, seed=args.seed, figures=None)
    rows = [(r.name, r) for r in results] + [("sim_stream (ideal)", ideal)]
    for label, r in rows:
        ok = r.coverage >= TARGET_COVERAGE and r.u_over_rms <= TARGET_U_OVER_RMS
        verdict = "ok" if ok else "FAIL"
        if r.unknown:
            verdict += f" ({r.unknown} windows with U unknown)"
        print(f"{label:18s} {r.windows:7d} {r.coverage:9.1%} {r.u_over_rms:6.2f}  {verdict}")
    print(
        f"targets: coverage >= {TARGET_COVERAGE:.0%}, U/RMS <= {TARGET_U_OVER_RMS:g}; the last "
        "row (an ideal claim for a noisy, offset source) must FAIL"
    )


if __name__ == "__main__":
    main()
