"""Our model of the official checker's rules gives its verdict: small hand-made trees, each
breaking one rule, checked by the official checker (a separate process) and by ours. Text
files only, in the MLCommons runner's formats."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from submission_support import official_checker, official_summary, run_official

from energybench.submission.check import check_tree
from energybench.submission.check.csv_summary import write_summary_csv

ACCURACY = "0725.185847 ulp-mlperf: Top 1% = 90.2\n0725.185847 ulp-mlperf: AUC = 0.995\n"
AD_ACCURACY = "0725.185847 ulp-mlperf: Top 1% = 60.0\n0725.185847 ulp-mlperf: AUC = 0.862\n"
PERFORMANCE = "0725.190058 ulp-mlperf: Median throughput is     20.703 inf./sec.\n"
ENERGY = "Power Edition Output\nMedian energy cost is 245.3412 uJ/inf.\n"
SWW = (
    "  Power         : 3.9752 mW.\nAccuracy: 44 True positives, 6 False negatives, 4 False "
    "positives\nAverage duty cycle: 0.60618\nEstimated throughput: 51.44 inf./sec.\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def benchmark(
    root: Path,
    name: str,
    *,
    division: str = "closed",
    accuracy: str | None = ACCURACY,
    performance: str | None = PERFORMANCE,
    energy: str | None = ENERGY,
) -> Path:
    folder = root / division / "Org" / "results" / "sys" / name
    for mode, text in (("accuracy", accuracy), ("performance", performance), ("energy", energy)):
        if text is not None:
            _write(folder / mode / "results.txt", text)
            _write(folder / mode / "log.txt", "log\n")
    return folder


def system(root: Path, division: str = "closed", **fields: object) -> None:
    data = {"Status": "Available", "Board Name": "Board", **fields}
    _write(root / division / "Org" / "systems" / "sys.json", json.dumps(data))


def ok(root: Path) -> None:
    system(root)
    benchmark(root, "kws")


def without_energy(root: Path) -> None:
    system(root, **{"Processor(s) Name": "Cortex-M4"})
    benchmark(root, "kws", energy=None)
    benchmark(root, "vww", energy=None, accuracy=ACCURACY.replace("90.2", "85.1"))


def accuracy_below_target(root: Path) -> None:
    system(root)
    benchmark(root, "kws", accuracy=ACCURACY.replace("90.2", "89.9"))


def open_accuracy_below_target(root: Path) -> None:
    system(root, "open")
    benchmark(root, "kws", division="open", accuracy=ACCURACY.replace("90.2", "50.0"))


def no_energy_median(root: Path) -> None:
    system(root)
    benchmark(root, "kws", energy="Power Edition Output\n")


def no_performance_folder(root: Path) -> None:
    system(root)
    benchmark(root, "kws")
    benchmark(root, "vww", performance=None)


def ic2_without_ic(root: Path) -> None:
    system(root)
    benchmark(root, "ic2", accuracy=ACCURACY.replace("90.2", "93.0"))


def bad_status(root: Path) -> None:
    system(root, Status="Coming soon")
    benchmark(root, "kws")


def system_type(root: Path) -> None:
    system(root, system_type="edge")
    benchmark(root, "kws")


def empty_folder(root: Path) -> None:
    ok(root)
    (root / "closed" / "Org" / "code").mkdir()


def sww_ok(root: Path) -> None:
    system(root)
    folder = benchmark(root, "sww", accuracy=None, performance=None, energy=SWW)
    _write(folder / "energy" / "energy_inf_000.png", "png")


def sww_short_truth(root: Path) -> None:
    system(root)
    energy = SWW.replace("6 False negatives", "1 False negatives")
    folder = benchmark(root, "sww", accuracy=None, performance=None, energy=energy)
    _write(folder / "energy" / "energy_inf_000.png", "png")


def sww_too_many_false_positives(root: Path) -> None:
    system(root)
    energy = SWW.replace("4 False positives", "9 False positives")
    folder = benchmark(root, "sww", accuracy=None, performance=None, energy=energy)
    _write(folder / "energy" / "energy_inf_000.png", "png")


def unknown_benchmark(root: Path) -> None:
    system(root)
    benchmark(root, "kws")
    benchmark(root, "keyword_spotting")


def ad_with_auc(root: Path) -> None:
    system(root)
    benchmark(root, "ad", accuracy=AD_ACCURACY)


def no_results_at_all(root: Path) -> None:
    system(root)
    (root / "closed" / "Org" / "results").mkdir(parents=True)
    _write(root / "closed" / "Org" / "results" / "README", "nothing yet\n")


CASES: dict[str, Callable[[Path], None]] = {
    f.__name__: f
    for f in (
        ok,
        without_energy,
        accuracy_below_target,
        open_accuracy_below_target,
        no_energy_median,
        no_performance_folder,
        ic2_without_ic,
        bad_status,
        system_type,
        empty_folder,
        sww_ok,
        sww_short_truth,
        sww_too_many_false_positives,
        unknown_benchmark,
        ad_with_auc,
        no_results_at_all,
    )
}


@pytest.mark.parametrize("name", list(CASES))
def test_our_verdict_is_the_official_one(tmp_path, name) -> None:
    official_checker()
    root = tmp_path / "tree"
    CASES[name](root)
    proc = run_official(root, "v1.4", tmp_path / "official.csv")
    report = check_tree(root, version="v1.4")
    expected = official_summary(proc)
    if expected == "crash":
        assert report.official.crash is not None, proc.stderr
        return
    assert report.official.summary() == expected, proc.stderr
    write_summary_csv(tmp_path / "ours.csv", report.rows)  # its CSV, byte for byte
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "official.csv").read_bytes()


def test_the_walk_order_decides_a_logged_error(tmp_path) -> None:
    """A missing energy median is logged; it fails the summary only in the benchmark walked
    last, and the checker walks in directory-listing order: so do we."""
    official_checker()
    root = tmp_path / "tree"
    system(root)
    for name in ("kws", "vww", "ic", "ad"):
        energy = "no median\n" if name == "vww" else ENERGY
        benchmark(root, name, energy=energy, accuracy=AD_ACCURACY if name == "ad" else ACCURACY)
    proc = run_official(root, "v1.4", tmp_path / "official.csv")
    report = check_tree(root, version="v1.4")
    assert report.official.summary() == official_summary(proc)
    walked = os.listdir(root / "closed" / "Org" / "results" / "sys")
    assert report.official.ok == (walked[-1] != "vww")
    (line,) = [p for p in report.problems if p.rule == "energy-median"]
    assert line.path.endswith("vww/energy/results.txt") and line.severity == "error"
