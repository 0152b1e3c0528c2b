"""compare/history over folders of results.json (synthetic, in the runner's schema): finding
runs in a submission tree and in folders of runs, several runs of one build per side, modes
and workloads present on one side only, invalid runs, accuracy and AUC, the markdown, the
history's order and exit status."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from energybench.errors import ResultsError, UsageError
from energybench.report.compare import compare_paths
from energybench.report.history import histories
from energybench.report.runs import find_runs
from energybench.report.text import history_markdown, markdown


def write_run(
    folder: Path,
    values,
    *,
    workload="kws01",
    mode="energy",
    serial="S1",
    label=None,
    started="2026-01-01T00:00:00",
    valid=True,
    figures=None,
) -> Path:
    """A results.json as the runner writes it, windows of the given energies per inference."""
    folder.mkdir(parents=True)
    windows = [
        {
            "index": k,
            "attempt": 0,
            "valid": True,
            "problems": [],
            "inferences": 100,
            "energy_per_inference_j": v,
            "energy_uncertainty_j": 2e-3 * v * 100,
            "latency_s": 0.01 + 1e-6 * k,
            "duration_s": 1.0,
            "mean_power_w": v * 100,
        }
        for k, v in enumerate(values)
    ]
    data = {
        "workload": workload,
        "mode": mode,
        "valid": valid,
        "validity": [] if valid else ["3 valid window(s), 5 required"],
        "notes": [],
        "aborted": None,
        "windows": windows,
        "figures": figures
        if figures is not None
        else {
            "median_energy_per_inference_j": float(np.median(values)),
            "uncertainty_components_per_inference_j": {
                "systematic_standard": 1e-3 * float(np.mean(values)),
                "edges_standard_per_window": 1e-6 * float(np.mean(values)),
            },
            "measurement_setup": {
                "current_ranges_a": [0.1],
                "calibration_ids": [""],
                "profile": "x.toml",
            },
        },
        "provenance": {
            "energybench_version": "0.1.0",
            "started_utc": started,
            "options": {"label": label},
            "meter": {"vendor": "V", "model": "M", "serial_number": serial},
            "bench": {"meter_driver": "d"},
        },
    }
    (folder / "results.json").write_text(json.dumps(data))
    return folder


def _values(mean: float, seed: int, n: int = 5) -> list[float]:
    return list(mean * (1 + 1e-4 * np.random.default_rng(seed).standard_normal(n)))


def test_submission_tree_and_foreign_results_json(tmp_path) -> None:
    tree = tmp_path / "closed" / "me" / "results" / "board"
    write_run(tree / "kws" / "energy", _values(1e-4, 1))
    write_run(tree / "vww" / "energy", _values(2e-4, 2), workload="vww01")
    (tree / "ic" / "energy").mkdir(parents=True)
    (tree / "ic" / "energy" / "results.json").write_text('{"MLCommons": "runner"}')
    runs = find_runs(tmp_path)
    assert sorted(r.workload for r in runs) == ["kws01", "vww01"]
    other = tmp_path / "other"
    write_run(other / "kws" / "energy", _values(1.02e-4, 3))
    c = compare_paths(tmp_path / "closed", other)
    assert [m.workload for m in c.metrics] == ["kws01"] * 2  # energy and latency
    assert any("vww01: no runs in B" in n for n in c.notes)
    assert c.exit_code == 4


def test_several_runs_per_side_use_the_runs_as_replicates(tmp_path) -> None:
    for k in range(3):
        write_run(tmp_path / "a" / f"r{k}", _values(1e-4 * (1 + 2e-4 * k), 10 + k))
        write_run(tmp_path / "b" / f"r{k}", _values(1e-4 * (1 + 2e-4 * k), 20 + k))
    c = compare_paths(tmp_path / "a", tmp_path / "b")
    (m,) = [x for x in c.metrics if x.metric.key == "energy_per_inference"]
    assert m.a.replicates == 3 and m.a.random_dof == 2 and m.a.basis == "mean of 3 runs"
    assert m.diff.verdict == "no significant change" and c.exit_code == 0


def test_invalid_run_and_unknown_scatter_are_reported(tmp_path) -> None:
    a = write_run(tmp_path / "a", _values(1e-4, 1), valid=False)
    b = write_run(tmp_path / "b", [1.1e-4], serial="S2")  # one window: scatter unknown
    c = compare_paths(a, b)
    (m,) = [x for x in c.metrics if x.metric.key == "energy_per_inference"]
    assert m.diff.verdict == "unknown" and not m.regression and c.exit_code == 0
    assert any("not valid" in p for p in c.problems)
    assert any("one window" in n for n in c.notes)
    assert not m.diff.correlated and "different meters" in m.setup
    text = markdown(c)
    assert "| kws01 | energy per inference |" in text and "unknown" in text


def test_a_run_whose_uncertainty_is_unknown_gets_no_verdict_and_says_why(tmp_path) -> None:
    a = write_run(tmp_path / "a", _values(1e-4, 1))
    b = write_run(tmp_path / "b", _values(1.1e-4, 2))
    data = json.loads((b / "results.json").read_text())
    data["figures"]["uncertainty_status"] = "unknown: accuracy.current in otii_arc.toml"
    data["figures"]["uncertainty_components_per_inference_j"]["systematic_standard"] = None
    (b / "results.json").write_text(json.dumps(data))
    c = compare_paths(a, b)
    (m,) = [x for x in c.metrics if x.metric.key == "energy_per_inference"]
    assert math.isnan(m.b.systematic_u) and m.diff.verdict == "unknown" and not m.regression
    assert any("unknown: accuracy.current in otii_arc.toml" in n for n in c.notes)
    assert any("no verdict (uncertainty unknown" in n for n in c.notes)
    assert "± unknown" in markdown(c)


def test_accuracy_top1_and_auc(tmp_path) -> None:
    def acc(name, figures, workload="kws01"):
        return write_run(tmp_path / name, [], workload=workload, mode="accuracy", figures=figures)

    acc("a", {"metric": "top1", "top1": 0.90, "files": 1000})
    acc("b", {"metric": "top1", "top1": 0.85, "files": 1000})
    c = compare_paths(tmp_path / "a", tmp_path / "b", gate=("accuracy",))
    (m,) = c.metrics
    assert m.metric.key == "top1" and m.diff.verdict == "worse" and c.exit_code == 4
    assert compare_paths(tmp_path / "a", tmp_path / "b").exit_code == 0  # energy gate only
    acc(
        "c",
        {"metric": "auc", "auc": 0.85, "files": 200, "label_counts": {"0": 150, "1": 50}},
        workload="ad01",
    )
    acc(
        "d",
        {"metric": "auc", "auc": 0.86, "files": 200, "label_counts": {"0": 150, "1": 50}},
        workload="ad01",
    )
    (m,) = compare_paths(tmp_path / "c", tmp_path / "d").metrics
    assert m.metric.key == "auc" and m.diff.verdict == "no significant change"
    assert 0.02 < m.a.random_u < 0.05


def test_history_orders_builds_and_gates_on_the_newest_step(tmp_path) -> None:
    for k, (label, mean) in enumerate((("v10", 1.01e-4), ("v2", 1.0e-4), ("v9", 1.0e-4))):
        for r in range(2):
            write_run(
                tmp_path / f"{label}_{r}",
                _values(mean, 100 + 2 * k + r),
                label=label,
                started=f"2026-01-0{3 - k}T00:00:0{r}",
            )
    (h,) = histories(find_runs(tmp_path), order="label")
    assert [b.label for b in h.builds] == ["v2", "v9", "v10"]
    assert [len(b.runs) for b in h.builds] == [2, 2, 2]
    assert [s.diff.verdict for s in h.steps] == ["no significant change", "worse"]
    assert h.exit_code == 4 and "**worse — REGRESSION**" in history_markdown([h])
    (by_time,) = histories(find_runs(tmp_path), order="time")
    assert [b.label for b in by_time.builds] == ["v9", "v2", "v10"]
    with pytest.raises(UsageError):
        histories(find_runs(tmp_path), order="size")


def test_options_are_checked(tmp_path) -> None:
    a = write_run(tmp_path / "a", _values(1e-4, 1))
    with pytest.raises(UsageError, match="--gate"):
        compare_paths(a, a, gate=("speed",))
    with pytest.raises(UsageError, match="--confidence"):
        compare_paths(a, a, confidence=1.5)
    with pytest.raises(UsageError, match="--threshold-pct"):
        compare_paths(a, a, threshold_pct=math.nan)
    perf = write_run(tmp_path / "p", _values(1e-4, 2), mode="accuracy", figures={})
    with pytest.raises(ResultsError, match="no workload and mode"):
        compare_paths(perf, perf)
