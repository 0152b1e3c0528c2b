"""The MLCommons runner importer on real published data (R1.3 ST NUCLEO_U385RG_Q kws)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from energybench.errors import TraceFileError
from energybench.traces import open_recording
from energybench.traces.imported import ImportedRun
from energybench.traces.mlcommons import import_mlcommons

KWS = "tiny_results_v1.3/closed/STMicroelectronics/results/NUCLEO_U385RG_Q/kws"
PUBLISHED_UJ = (245.350, 245.341, 245.349, 245.321, 245.320)


@pytest.fixture
def energy_dir(real_results: Path) -> Path:
    return real_results / KWS / "energy"


@pytest.fixture
def copy_dir(energy_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(energy_dir, tmp_path / "energy"))


def _window_energy_j(run: ImportedRun, k: int) -> float:
    w = run.windows[k]
    chunk = run.trace.read(int(w.start_position), int(w.stop_position))
    power_w = np.asarray(chunk.current_a, dtype=np.float64) * chunk.voltage_array()
    return float(np.sum(power_w)) / run.trace.sample_rate_hz


def test_windows_and_trace_from_results_json(energy_dir: Path) -> None:
    run = open_recording(energy_dir.parent)  # the benchmark folder above energy/ works too
    assert isinstance(run, ImportedRun)
    assert run.runner == "mlcommons" and run.path == energy_dir
    trace = run.trace
    trials = json.loads((energy_dir / "results.json").read_text())
    lengths = [len(t["power"]["samples"]) for t in trials]
    assert trace.sample_rate_hz == 1000.0 and trace.sample_kind == "bin"
    assert (trace.first_sample_id, trace.n_samples) == (0, sum(lengths))
    assert run.voltage_v == 1.8 and trace.read(0, 1).voltage_v == 1.8
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    expected = [
        (s + t["power"]["timestamps"][0][1], s + t["power"]["timestamps"][1][1])
        for s, t in zip(starts, trials, strict=True)
    ]
    assert [(w.start_position, w.stop_position) for w in run.windows] == expected
    assert expected[0] == (3937, 15997) and expected[1] == (16108 + 1803, 16108 + 13859)
    assert [w.inferences for w in run.windows] == [250] * 5
    assert [w.index for w in run.windows] == list(range(5))
    # the trace reproduces the raw energy bins: current = E / (V * 1 ms)
    first = trace.read(0, lengths[0])
    np.testing.assert_allclose(
        first.current_a * 1.8 / 1000.0, trials[0]["power"]["samples"], rtol=1e-15
    )
    assert run.warnings == ()


def test_window_sums_reproduce_published_energy_per_inference(energy_dir: Path) -> None:
    run = import_mlcommons(energy_dir)
    assert run.published_energy_per_inference_j == pytest.approx(
        [e * 1e-6 for e in PUBLISHED_UJ], rel=1e-12
    )
    assert run.published_median_energy_per_inference_j == pytest.approx(245.3412e-6, rel=1e-12)
    per_inference = []
    for k, w in enumerate(run.windows):
        e = _window_energy_j(run, k) / w.inferences
        assert e == pytest.approx(run.published_energy_per_inference_j[k], rel=1e-5)
        per_inference.append(e)
    assert np.median(per_inference) == pytest.approx(245.3412e-6, rel=1e-5)
    assert run.published_window_energy_j[0] == pytest.approx(61337.445e-6, rel=1e-12)
    assert run.published_power_w[0] == pytest.approx(5.0860e-3, rel=1e-12)
    assert run.published_elapsed_s[1] == pytest.approx(12.056000000000001)


def _mutate(copy_dir: Path, edit) -> Path:
    path = copy_dir / "results.json"
    trials = json.loads(path.read_text())
    edit(trials)
    path.write_text(json.dumps(trials))
    return copy_dir


def test_extra_events_are_an_error_unless_skipping_is_asked(copy_dir: Path) -> None:
    path = copy_dir / "results.json"
    trials = json.loads(path.read_text())
    trials[0]["power"]["timestamps"] = [["00", 12], ["01", 3937], ["02", 15997]]
    for k, t in enumerate(trials[1:], start=1):
        t["power"]["timestamps"] = [[f"{2 * k + 1:02d}", e[1]] for e in t["power"]["timestamps"]]
        t["power"]["timestamps"][1][0] = f"{2 * k + 2:02d}"
    path.write_text(json.dumps(trials))
    with pytest.raises(TraceFileError, match=r"trial 0 has 3 timestamp events .*\(0, 12\)"):
        import_mlcommons(copy_dir)
    run = import_mlcommons(copy_dir, skip_leading_events=True)
    assert (run.windows[0].start_position, run.windows[0].stop_position) == (3937, 15997)
    assert any("skipped the leading 1" in w for w in run.warnings)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t[2]["power"].update(timestamps=[["04", 1784]]), "trial 2 has 1 timestamp"),
        (lambda t: t[1]["power"].update(timestamps=[["02", 10], ["04", 20]]), "not consecutive"),
        (lambda t: t[3]["power"].update(timestamps=[["06", 10], ["07", 99999]]), "beyond"),
        (lambda t: t[0]["infer"].pop("iterations"), r"\[0\]\.infer\.iterations"),
        (lambda t: t[4]["power"].pop("voltage"), r"\[4\]\.power\.voltage"),
        (lambda t: t[1]["power"].pop("samples"), r"\[1\]\.power\.samples"),
        (lambda t: t[0]["infer"].update(iterations=0), "positive integer"),
        (lambda t: t.pop(), "truncated: results.txt lists 5 windows, the raw data holds 4"),
    ],
)  # fmt: skip
def test_broken_folders_raise_one_error_naming_the_file(copy_dir, edit, message) -> None:
    _mutate(copy_dir, edit)
    with pytest.raises(TraceFileError, match=message) as info:
        import_mlcommons(copy_dir)
    assert str(copy_dir) in str(info.value)


def test_non_json_and_missing_results_txt(copy_dir: Path) -> None:
    (copy_dir / "results.txt").unlink()
    run = import_mlcommons(copy_dir)
    assert run.published_energy_per_inference_j == ()
    assert run.published_median_energy_per_inference_j is None
    assert any("no results.txt" in w for w in run.warnings)
    (copy_dir / "results.json").write_text("Logging initialized")
    with pytest.raises(TraceFileError, match=r"results\.json: not valid JSON"):
        open_recording(copy_dir)


def test_lf_line_endings_parse_the_same(copy_dir: Path) -> None:
    text = (copy_dir / "results.txt").read_bytes()
    assert b"\r\n" in text
    (copy_dir / "results.txt").write_bytes(text.replace(b"\r\n", b"\n"))
    run = import_mlcommons(copy_dir)
    assert run.published_median_energy_per_inference_j == pytest.approx(245.3412e-6)
    assert len(run.published_energy_per_inference_j) == 5
