"""open_recording dispatch, the results.txt parser, and the bundled examples/sample.jls."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from energybench.analysis.trace import Trace
from energybench.errors import TraceFileError
from energybench.traces import open_recording
from energybench.traces.published import parse_results_txt

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SAMPLE = PROJECT_ROOT / "examples" / "sample.jls"


def test_unknown_paths_raise_naming_the_path_and_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    for path in (tmp_path, tmp_path / "notes.txt", tmp_path / "absent"):
        with pytest.raises(TraceFileError, match=r"expected a \.jls or \.csv") as info:
            open_recording(path)
        assert str(path) in str(info.value)


def test_a_file_inside_an_energy_folder_opens_the_folder(real_results: Path) -> None:
    folder = next(real_results.glob("tiny_results_v1.3/**/kws/energy"))
    run = open_recording(folder / "results.json")
    assert run.runner == "mlcommons" and run.path == folder


EEMBC_EXCERPT = """\
00136.808 ulp-ml: Energy data for window 2 at time 3.72 for 13.20 sec.:\r
00136.809 ulp-ml:   Energy       :    94830.716 uJ\r
00136.809 ulp-ml:   Power        :     7181.969 uW\r
00136.809 ulp-ml:   Energy/Inf.  :       31.610 uJ/inf.\r
00136.833 ulp-ml: Energy data for window 4 at time 19.73 for 13.21 sec.:\r
00136.833 ulp-ml:   Energy       :    94425.000 uJ\r
00136.833 ulp-ml:   Power        :        7.148 mW\r
00136.833 ulp-ml:   Energy/Inf.  :       31.475 uJ/inf.\r
00136.852 ulp-ml: ---------------------------------------------------------\r
00136.854 ulp-ml: Median energy cost is 31.537 uJ/inf.\r
00136.855 ulp-ml: Performance results for window 2:\r
00136.856 ulp-ml:   # Inferences :         3000\r
00136.857 ulp-ml:   Runtime      :       13.204 sec.\r
"""


def test_results_parser_reads_eembc_blocks_in_si_units(tmp_path: Path) -> None:
    path = tmp_path / "results.txt"
    path.write_bytes(EEMBC_EXCERPT.encode())
    res = parse_results_txt(path)
    assert [w.number for w in res.windows] == [2, 4]
    w2, w4 = res.windows
    assert w2.energy_j == pytest.approx(94830.716e-6)
    assert w2.power_w == pytest.approx(7181.969e-6)
    assert w4.power_w == pytest.approx(7.148e-3)
    assert w2.energy_per_inference_j == pytest.approx(31.610e-6)
    assert (w2.start_s, w2.elapsed_s) == (3.72, 13.20)
    assert (w2.inferences, w4.inferences) == (3000, None)
    assert res.median_energy_per_inference_j == pytest.approx(31.537e-6)


def test_results_parser_rejects_unknown_units(tmp_path: Path) -> None:
    path = tmp_path / "results.txt"
    path.write_text("Energy data for trial 0\n  Energy/Inf    : 1.0 uW/inf\n")
    with pytest.raises(TraceFileError, match="line 2: unit 'uW' is not a J unit"):
        parse_results_txt(path)


def _load_sample_script():
    spec = importlib.util.spec_from_file_location(
        "make_sample_recording", PROJECT_ROOT / "scripts" / "make_sample_recording.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_sample_is_what_the_script_generates(tmp_path: Path) -> None:
    script = _load_sample_script()
    assert script.main(["make", str(tmp_path / "again.jls")]) == 0
    bundled, again = open_recording(SAMPLE), open_recording(tmp_path / "again.jls")
    assert isinstance(bundled, Trace)
    assert SAMPLE.stat().st_size < 2_000_000
    assert (bundled.n_samples, bundled.sample_rate_hz) == (again.n_samples, 100_000.0)
    assert bundled.digital_names == ("gpi[0]",) and bundled.t0_utc_ns == again.t0_utc_ns
    a = bundled.read(0, bundled.n_samples)
    b = again.read(0, again.n_samples)
    np.testing.assert_array_equal(a.current_a, b.current_a)
    np.testing.assert_array_equal(a.voltage_v, b.voltage_v)
    np.testing.assert_array_equal(a.digital["gpi[0]"], b.digital["gpi[0]"])
    bits = a.digital["gpi[0]"]
    falls = np.flatnonzero(bits[:-1] & ~bits[1:]) + 1
    assert len(falls) == 11  # boot pulse + 5 windows x 2 edges


def test_readme_ground_truth_matches_the_timeline() -> None:
    script = _load_sample_script()
    timeline, windows = script.build_timeline()
    readme = (PROJECT_ROOT / "examples" / "README.md").read_text()
    rows = re.findall(r"^\| (\d) +\| ([\d.]+) \| ([\d.]+) \|[^|]+\| ([\d.]+) +\|", readme, re.M)
    assert len(rows) == len(windows) == 5
    for (k, start, stop, energy_uj), (a, b) in zip(rows, windows, strict=True):
        assert float(start) == pytest.approx(a, abs=1e-7)
        assert float(stop) == pytest.approx(b, abs=1e-7)
        assert float(energy_uj) == pytest.approx(timeline.energy_j(a, b) * 1e6, abs=1e-4), k
