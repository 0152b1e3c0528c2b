"""`energybench analyze` on real published raw data reproduces every published per-trial
energy per inference and the median line: the MLCommons-runner folder to 1e-5 relative, the
EEMBC EnergyRunner folder to 5e-4 (its 1 ms event quantisation)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import shared_path

CASES = [
    ("tiny_results_v1.3", "NUCLEO_U385RG_Q", 1e-5, 245.3412e-6),
    ("tiny_results_v1.2", "NUCLEO_U575ZI_Q", 5e-4, 656.163e-6),
]


@pytest.mark.parametrize(("round_", "system", "rel", "published_median_j"), CASES)
def test_cli_reproduces_published_figures(round_, system, rel, published_median_j) -> None:
    folder = shared_path(
        "real-results", round_, "closed", "STMicroelectronics", "results", system, "kws", "energy"
    )
    out = subprocess.run(
        [sys.executable, "-m", "energybench", "analyze", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    published = report["published_energy_per_inference_j"]
    ours = [w["energy_per_inference_j"] for w in report["windows"]]
    assert len(ours) == len(published) == 5
    for k, (mine, theirs) in enumerate(zip(ours, published, strict=True)):
        assert mine == pytest.approx(theirs, rel=rel), f"window {k}"
    assert report["median_energy_per_inference_j"] == pytest.approx(published_median_j, rel=rel)
