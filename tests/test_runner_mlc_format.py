"""Our results.txt lines parse with the official checker's regexes
(docs/submission.md#checker-regexes), and reproduce the published MLCommons-runner energy file."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from conftest import shared_path

from energybench.runner.mlc_format import (
    EnergyWindow,
    PerformanceWindow,
    accuracy_results_txt,
    energy_results_txt,
    performance_results_txt,
)

CHECKER_PERF = r".* Median throughput is\s+([\d\.]+) inf\./sec\..*"
CHECKER_ENERGY = r"Median energy cost is ([\d\.]+) uJ/inf"
CHECKER_TOP1 = r".* Top[- ]1%?\s?[:=] ([\d\.]+).*"
CHECKER_AUC = r".* AUC\s?[:=] ([\d\.]+).*"
NOW = datetime(2026, 11, 28, 11, 20, 5, tzinfo=UTC)


def _last(pattern: str, text: str, fn=re.match) -> str | None:
    found = None
    for line in text.splitlines():
        m = fn(pattern, line)
        if m:
            found = m.group(1)
    return found


def test_energy_median_line_matches_checker() -> None:
    windows = [EnergyWindow(12.0 + k * 0.01, 250, 61.3e-3 + k * 1e-6) for k in range(5)]
    text = energy_results_txt(windows)
    value = _last(CHECKER_ENERGY, text, re.search)
    assert float(value) == pytest.approx(245.2 + 0.008, rel=1e-4)
    assert "ERROR" not in text


def test_energy_validity_errors_are_written() -> None:
    text = energy_results_txt([EnergyWindow(9.5, 100, 1e-3)] * 3)
    assert "All inference times must be at least 10 seconds." in text
    assert "Energy mode must include exactly 5 measurements." in text
    assert "  Elapsed time  : 9.5  <<<< below minimum duration" in text  # where the runner puts it


def test_performance_median_matches_checker_and_invalid_runs_do_not() -> None:
    good = performance_results_txt([PerformanceWindow(12.07, 250)] * 5, NOW)
    assert float(_last(CHECKER_PERF, good)) == pytest.approx(250 / 12.07, abs=1e-3)
    assert "1128.112005 ulp-mlperf: Median throughput is     20.713 inf./sec." in good
    short = performance_results_txt([PerformanceWindow(7.0, 250)] * 5, NOW)
    assert _last(CHECKER_PERF, short) is None
    few = performance_results_txt([PerformanceWindow(12.0, 250)] * 4, NOW)
    assert "ERROR 1 - loop_count was not exactly 5." in few and _last(CHECKER_PERF, few) is None


def test_accuracy_lines_match_checker() -> None:
    text = accuracy_results_txt(0.902, 0.9951, NOW)
    assert _last(CHECKER_TOP1, text) == "90.2"
    assert _last(CHECKER_AUC, text) == "0.995"


def test_reproduces_published_mlc_energy_file() -> None:
    folder = shared_path(
        "real-results",
        "tiny_results_v1.3",
        "closed",
        "STMicroelectronics",
        "results",
        "NUCLEO_U385RG_Q",
        "kws",
        "energy",
    )
    published = (folder / "results.txt").read_text().replace("\r\n", "\n")
    rows = re.findall(
        r"Elapsed time  : (\S+)\n  Inferences    : (\d+)\n.*\n"
        r"  Total Energy  : (\S+) uJ",
        published,
    )
    windows = [EnergyWindow(float(e), int(n), float(uj) * 1e-6) for e, n, uj in rows]
    ours = energy_results_txt(windows)
    assert _last(CHECKER_ENERGY, ours, re.search) == _last(CHECKER_ENERGY, published, re.search)
    for line in (
        "Energy/Inf    : 245.350 uJ/inf",
        "Power         : 5.0860 mW.",
        "Elapsed time  : 12.056000000000001",
    ):
        assert line in ours
