"""`submission check` recomputes an energy run from each kind of raw recording the simulated
meters leave: triggered captures (one file per window; both edges from the trigger, or the end
found on the current step) and a digital-line stream at another rate."""

from __future__ import annotations

import pytest
from runner_helpers import lab_bench, require_meter, standin

from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter
from energybench.submission.add import add_runs, init_tree
from energybench.submission.check import check_tree

# triggered captures (both trigger edges; start edge + current step), written as CSV at their
# non-integer rates, and a digital line streamed at the Arc's 4 kHz. The N6705C's and LPM01A's
# recordings are read the same ways (capture time base; sample id over the rate).
METERS = ("keithley_2461", "keysight_b2900", "otii")


@pytest.mark.parametrize("meter", METERS)
def test_the_energy_of_each_recording_kind_is_recomputed(tmp_path, meter) -> None:
    require_meter(meter)
    data = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        attach_meter(lab, meter, seed=3)
        (result,) = run_workload(lab_bench(lab, meter), "kws01", "energy", data, tmp_path / "runs")
    assert result.valid, result.validity
    tree, _ = init_tree(tmp_path / "tree", "open", "Lab", "v1.4")
    add_runs(tree, "Sys", [result.folder])
    report = check_tree(tree.root)
    (figure,) = report.energy
    assert figure.windows == 5
    assert figure.recomputed == pytest.approx(figure.published, rel=1e-5)
    energy_errors = [p.line() for p in report.errors if p.rule.startswith(("energy", "window"))]
    assert energy_errors == []
    # the raw recording cut to its first half: the manifest says so, and the recomputation
    # fails (a CSV capture then lacks the window's samples; a JLS recording that changed is
    # not read at all: one cut inside a chunk makes pyjls loop)
    raw = tree.raw_dir("Sys", "kws", "energy")
    recording = sorted(raw.glob("capture_w*_a*.*")) or sorted(raw.glob("trace.*"))
    recording[-1].write_bytes(recording[-1].read_bytes()[: recording[-1].stat().st_size // 2])
    broken = {(p.rule, p.path.rsplit("/", 1)[-1]): p.message for p in check_tree(tree.root).errors}
    assert ("manifest", recording[-1].name) in broken
    failed = broken[("energy-raw", "energy")]
    if recording[-1].suffix == ".jls":
        assert f"not recomputed: {recording[-1].name}" in failed
    else:  # cut inside a line (the reader names it) or between lines (too few samples)
        assert recording[-1].name in failed or "outside the trace" in failed
