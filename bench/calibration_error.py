"""What a calibration buys on the virtual lab: kws01 energy with a meter whose current channel
has an injected gain error, offset and skew, measured uncalibrated, then calibrated against the
simulated reference resistor; the error of the median energy per inference against the
timeline's truth, with the reported U/E; the fitted coefficients; the verify checks; the range
each record is for and the range each run measured in; last, a record of another range (a
150 Ω reference calibrates the 0.018 A range) applied to a run that measured in 0.18 A: refused.

    python bench/calibration_error.py [--gain-error 0.02] [--offset-a 50e-6] [--skew-s 30e-6]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from energybench.runner.calibrate import run_calibration
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.runner.verify import run_verify
from energybench.sim.calibration_lab import CalibrationLab
from energybench.sim.dut.standin_data import make_standin_dataset
from energybench.sim.physics.reference_resistor import ReferenceResistor
from energybench.workloads.definitions import load_workload


def _error(result, truth) -> tuple[float, float]:
    """(median energy per inference − truth)/truth and U/E of the run."""
    ran = [w for w in result.windows if w.energy_j is not None]
    true = [t.energy_j / t.inferences for w, t in zip(ran, truth[-len(ran) :], strict=True)]
    median = result.figures["median_energy_per_inference_j"]
    u = result.figures["energy_per_inference_uncertainty_j"]
    return median / statistics.median(true) - 1, u / median


def _verdict(check) -> str:
    word = "PASS" if check.passed else "FAIL"
    return (
        f"{word} error {check.error_rel * 100:+.4f} %, U {check.uncertainty_rel * 100:.4f} % "
        f"(range {check.range_a:g} A)"
    )


def _range(result) -> str:
    choice = result.figures["current_range"]
    return f"range {choice['chosen_a']:g} A ({choice['source']})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gain-error", type=float, default=0.02)
    p.add_argument("--offset-a", type=float, default=50e-6)
    p.add_argument("--skew-s", type=float, default=30e-6)
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ["ENERGYBENCH_CALIBRATION_DIR"] = str(tmp_path / "store")
        data = make_standin_dataset(tmp_path / "data", load_workload("kws01"), files=5)
        knobs = {"gain_error": args.gain_error, "offset_a": args.offset_a, "skew_s": args.skew_s}
        print(
            f"injected: gain error {args.gain_error:+g}, offset {args.offset_a * 1e6:+g} µA, "
            f"skew {args.skew_s * 1e6:g} µs (meter sim_stream, supply N6705C)"
        )
        with CalibrationLab(tmp_path / "store", **knobs) as cl:
            bench = cl.bench()
            options = RunOptions(plots=False, calibration="none")
            (raw,) = run_workload(
                bench, "kws01", "energy", data, tmp_path / "runs", options=options
            )
            err, u_rel = _error(raw, cl.window_truth())
            print(
                f"uncalibrated kws01: error {err * 100:+.4f} %, U/E {u_rel * 100:.3f} % (k=2), "
                f"{_range(raw)}"
            )
            cl.reference_on()
            started = time.monotonic()
            said: list[str] = []
            record, _path = run_calibration(bench, say=said.append)
            wall = time.monotonic() - started
            print(next(line for line in said if line.startswith("range ")))
            c, s = record.data["coefficients"], record.data["skew"]
            ref = cl.reference
            true_gain = (1 + args.gain_error) * ref.certificate_ohm / ref.true_ohm
            print(
                f"calibration ({wall:.1f} s wall): gain {c['gain']:.6f} ± {c['gain_std']:.1e}, "
                f"offset {c['offset_a'] * 1e6:+.3f} ± {c['offset_std_a'] * 1e6:.1e} µA, "
                f"skew {s['skew_s'] * 1e6:.1f} ± {s['skew_std_s'] * 1e6:.1f} µs (true gain "
                f"{true_gain:.6f}"
                " against the certificate)"
            )
            before = run_verify(bench, "before")
            print(f"verify before: {_verdict(before)}")
            cl.dut_on()
            options = RunOptions(plots=False)
            (cal,) = run_workload(
                bench, "kws01", "energy", data, tmp_path / "runs2", options=options
            )
            err, u_rel = _error(cal, cl.window_truth())
            print(
                f"calibrated kws01:   error {err * 100:+.4f} %, U/E {u_rel * 100:.3f} % (k=2), "
                f"{cal.figures['calibration_status']}, {_range(cal)}"
            )
            cl.reference_on()
            after = run_verify(bench, "after", mark=[cal.folder])
            print(f"verify after:  {_verdict(after)}, drift {after.drift_rel * 100:+.4f} %")
            unc = run_verify(bench, "after", calibration="none")
            print(f"verify with --calibration none: {_verdict(unc)}")
            cl.reference = ReferenceResistor(certificate_ohm=150.0)  # 12 mA at 1.8 V
            cl.reference_on()
            narrow, narrow_path = run_calibration(cl.bench())
            print(f"150 Ω reference: record for the {narrow.range_a:g} A range")
            cl.dut_on()
            options = RunOptions(plots=False, windows=1, calibration=str(narrow_path))
            (other,) = run_workload(
                bench, "kws01", "energy", data, tmp_path / "runs3", options=options
            )
            reason = other.figures["calibration_status"]
            print(f"that record on a run in the {_range(other)}: {reason}")
            print(f"  {next(n for n in other.notes if n.startswith('uncalibrated'))}")


if __name__ == "__main__":
    main()
