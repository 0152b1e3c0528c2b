"""The Python API: importable from ``energybench`` without slowing ``import energybench``, the
same figures as the CLI, clear errors. (The docstring examples of energybench/api.py run as
tests too: pyproject's testpaths.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import energybench
from energybench import api
from energybench.errors import ResultsError

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.jls"


def test_import_energybench_does_not_load_the_api() -> None:
    code = (
        "import sys, energybench; print('energybench.api' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_every_api_name_is_exported_lazily() -> None:
    # the package keeps its own copy of the list (importing the API eagerly costs about 0.6 s)
    assert set(energybench._API) == set(api.__all__)
    for name in api.__all__:
        assert getattr(energybench, name) is getattr(api, name)
        assert name in dir(energybench)
    assert energybench.__version__
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        energybench.nonexistent  # noqa: B018


def test_analyze_the_sample_with_its_baseline() -> None:
    result = energybench.analyze(SAMPLE, skip_edges=1, inferences=10, baseline=True)
    assert len(result.rows) == 5
    assert result.median_energy_per_inference_j == pytest.approx(363.8633e-6, rel=1e-5)
    baseline = result.to_dict()["baseline"]
    assert baseline["median_idle_baseline_power_w"] == pytest.approx(0.0021 * 1.7995, rel=1e-3)
    trace = energybench.open_trace(SAMPLE)
    report = energybench.analyze_trace(trace, skip_leading_edges=1, inferences=10)
    assert report.median_energy_per_inference_j == pytest.approx(
        result.median_energy_per_inference_j, rel=1e-12
    )


def test_load_bench_and_missing_runs_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ResultsError, match=r"no results\.json"):
        energybench.load_run(tmp_path)
    with pytest.raises(ResultsError):
        energybench.find_runs(tmp_path / "absent")
    with energybench.virtual_lab(folder=tmp_path) as lab:
        bench = energybench.load_bench(lab.bench_file)
        assert bench.meter.driver == lab.bench.meter.driver == "sim_stream"
        assert (lab.dataset / "kws01").is_dir()
