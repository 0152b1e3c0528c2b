"""Workload definitions, the EEMBC dataset layout, and scoring."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from energybench.errors import WorkloadError
from energybench.workloads.dataset import load_dataset
from energybench.workloads.definitions import load_workload, shipped_workloads
from energybench.workloads.scoring import (
    normalize_probabilities,
    per_file_scores,
    roc_auc,
    roc_auc_ovr,
    top1_accuracy,
)


def test_shipped_workloads_load() -> None:
    assert {"kws01", "vww01", "ic01", "ad01"} <= set(shipped_workloads())
    kws = load_workload("kws01")
    assert (kws.input_bytes, kws.classes, kws.metric) == (490, 12, "top1")
    assert kws.counts("energy").windows == 5
    ad = load_workload("ad01")
    assert ad.windowed and ad.metric == "auc"


def test_the_four_single_workloads_are_unchanged() -> None:
    expected = {
        "kws01": (490, "int8", 12, "top1", 0.90, "y_labels.csv", None),
        "vww01": (27648, "uint8", 2, "top1", 0.80, "y_labels.csv", None),
        "ic01": (3072, "uint8", 10, "top1", 0.85, "y_labels.csv", None),
        "ad01": (2560, "float32", 2, "auc", 0.85, "y_labels.csv", 2560),
    }
    assert set(expected) | {"sww01"} == set(shipped_workloads())
    for name, want in expected.items():
        w = load_workload(name)
        got = (w.input_bytes, w.input_dtype, w.classes, w.metric, w.quality_target)
        assert (*got, w.truth_file, w.window_bytes) == want, name
        assert w.kind == "single" and not w.streaming and w.stream_quality is None


def test_fields_are_validated_per_kind(tmp_path) -> None:
    stream = (
        'name = "s"\nbenchmark = "s"\nkind = "stream"\nmetric = "f1"\n'
        'truth_file = "t.json"\nmax_false_positives = 8\nmax_false_negatives = 8\n'
        "checker_windows = 50\n"
    )
    path = tmp_path / "s.toml"
    path.write_text(stream)
    assert load_workload(path).streaming
    for extra, message in (
        ("input_bytes = 490\n", "input_bytes do not apply to a stream workload"),
        ('kind = "batch"\n', "kind must be one of"),
    ):
        path.write_text(extra + stream if "kind" not in extra else stream.replace(
            'kind = "stream"', extra.strip()))  # fmt: skip
        with pytest.raises(WorkloadError, match=message):
            load_workload(path)
    path.write_text(stream.replace('metric = "f1"', 'metric = "top1"'))
    with pytest.raises(WorkloadError, match="metric of a stream workload must be 'f1'"):
        load_workload(path)
    path.write_text(stream.replace("checker_windows = 50\n", ""))
    with pytest.raises(WorkloadError, match="missing field 'checker_windows'"):
        load_workload(path)
    single = tmp_path / "k.toml"
    single.write_text(
        'name = "k"\nbenchmark = "k"\nmetric = "f1"\ninput_bytes = 4\ninput_dtype = "int8"\n'
    )
    with pytest.raises(WorkloadError, match="metric of a single workload must be 'top1' or 'auc'"):
        load_workload(single)


def test_bad_workload_names_the_field(tmp_path) -> None:
    bad = tmp_path / "w.toml"
    bad.write_text(
        'name = "x"\nbenchmark = "x"\ninput_bytes = 3\ninput_dtype = "float32"\nmetric = "auc"\n'
    )
    with pytest.raises(WorkloadError, match="multiple of float32"):
        load_workload(bad)
    ad01 = load_workload("ad01").source
    assert ad01 is not None
    ad01_toml = ad01.read_text()
    for window, message in (
        ('"2560"', "field 'window_bytes' must be int"),
        ("0", "must be positive"),
    ):
        bad.write_text(ad01_toml.replace("window_bytes = 2560", f"window_bytes = {window}"))
        with pytest.raises(WorkloadError, match=message):
            load_workload(bad)
    with pytest.raises(WorkloadError, match="unknown workload"):
        load_workload("nope01")


def test_kws01_dataset_from_shared() -> None:
    root = shared_path("mlperf-tiny", "datasets")
    ds = load_dataset(root, load_workload("kws01"))
    assert len(ds) == 1000
    assert ds.samples[0].file == "tst_000000_Stop_7.bin" and ds.samples[0].label == 7
    assert len(ds.samples[0].first_input(ds.workload)) == 490


def test_dataset_validates_up_front(tmp_path) -> None:
    kws = load_workload("kws01")
    folder = tmp_path / "kws01"
    folder.mkdir()
    (folder / "a.bin").write_bytes(bytes(490))
    (folder / "b.bin").write_bytes(bytes(400))
    (folder / "y_labels.csv").write_text("a.bin,12,3\nb.bin,12,1\n")
    with pytest.raises(WorkloadError, match="400 bytes"):
        load_dataset(tmp_path, kws)
    (folder / "y_labels.csv").write_text("a.bin,12,3\nc.bin,12,1\n")
    with pytest.raises(WorkloadError, match=r"1 file.*missing.*c\.bin"):
        load_dataset(tmp_path, kws)
    (folder / "y_labels.csv").write_text("a.bin, 12, 15\n")
    with pytest.raises(WorkloadError, match="label 15"):
        load_dataset(tmp_path, kws)
    (folder / "y_labels.csv").write_text("a.bin, 12, 3\n")  # ", " separators are accepted
    assert load_dataset(tmp_path, kws).samples[0].label == 3


def test_ad01_windows(tmp_path) -> None:
    ad = load_workload("ad01")
    folder = tmp_path / "ad01"
    folder.mkdir()
    data = np.arange(25600, dtype=np.float32).tobytes()  # 102400 bytes like the real files
    (folder / "n.bin").write_bytes(data)
    (folder / "y_labels.csv").write_text("n.bin,2,0,2560,512\n")
    sample = load_dataset(tmp_path, ad).samples[0]
    assert sample.windows == 196
    windows = list(sample.inputs(ad))
    assert len(windows) == 196 and windows[1] == data[512:3072]
    (folder / "y_labels.csv").write_text("n.bin,2,0,2560,5l2\n")
    with pytest.raises(WorkloadError, match="must be integers") as info:
        load_dataset(tmp_path, ad)
    assert info.value.context.endswith("y_labels.csv:1")


def test_auc_hand_computed_with_ties() -> None:
    # 2 positives, 2 negatives: pairs (pos>neg)=3, one tie -> (3 + 0.5) / 4
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(0.875)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0], [0.9, 0.8, 0.1]) == pytest.approx(1.0)
    with pytest.raises(WorkloadError, match="both classes"):
        roc_auc([1, 1], [0.1, 0.2])


def test_ovr_auc_and_top1() -> None:
    outputs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]])
    labels = np.array([0, 1, 2, 0])
    assert top1_accuracy(outputs, labels) == pytest.approx(0.75)
    # class 0: pos scores .7,.3 vs neg .2,.1 -> 1.0; class 1: pos .5 vs .2,.3,.4 -> 1.0;
    # class 2: pos .6 vs .1,.3,.3 -> 1.0
    assert roc_auc_ovr(labels, outputs) == pytest.approx(1.0)
    assert roc_auc_ovr(np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]])) == 1.0


def test_normalize_guard_and_per_file_mean() -> None:
    np.testing.assert_allclose(normalize_probabilities([[1, 3], [0, 0]]), [[0.25, 0.75], [0, 0]])
    np.testing.assert_allclose(per_file_scores([np.array([1.0, 3.0]), np.array([2.0])]), [2.0, 2.0])
