"""The end-to-end pipeline and its JSON shape."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from analysis_synth import pulses

from energybench.analysis.edges import AnalogThreshold
from energybench.analysis.report import analyze_trace, analyze_windows
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window
from energybench.errors import AnalysisError, EdgeCountError

FS = 100_000.0


def _bench_trace() -> Trace:
    """Idle 1 mA; 5 windows of 8 mA at 3 V with different lengths; a boot pulse at 0.01 s."""
    n = 2_000_000
    current = np.full(n, 0.001, np.float32)
    starts = [200_000, 500_000, 800_000, 1_100_000, 1_400_000]
    lengths = [100_000, 110_000, 90_000, 100_000, 105_000]
    changes = [1000, 1100]
    for s, length in zip(starts, lengths, strict=True):
        current[s : s + length] = 0.008
        changes += pulses([s, s + length], 10)
    levels = np.ones(n, bool)
    for a, b in zip(changes[::2], changes[1::2], strict=True):
        levels[a:b] = False
    return Trace.from_arrays(current, 3.0, FS, digital={"gpi[0]": levels})


def test_analyze_trace_end_to_end() -> None:
    report = analyze_trace(
        _bench_trace(), inferences=100, skip_leading_edges=1, expected_windows=5, min_pulse_s=5e-5
    )
    lengths = [100_000, 110_000, 90_000, 100_000, 105_000]
    assert len(report.windows) == 5
    for r, length in zip(report.windows, lengths, strict=True):
        assert math.isclose(r.duration_s, length / FS)
        # Edges sit half a sample outside the 8 mA run: the end segments interpolate
        # linearly to 4.5 mA, so each end adds 0.5 * (8 + 4.5) / 2 mA·samples.
        expected = 3.0 * (0.008 * (length - 1) + 2 * 0.5 * (0.008 + 0.0045) / 2) / FS
        assert math.isclose(r.energy_j, expected, rel_tol=1e-6)
        assert math.isclose(r.energy_per_inference_j, r.energy_j / 100)
        assert math.isclose(r.latency_s, length / FS / 100)
    median = float(np.median([r.energy_per_inference_j for r in report.windows]))
    assert report.median_energy_per_inference_j == median
    d = json.loads(json.dumps(report.to_dict()))
    assert list(d)[:2] == ["windows", "median_energy_per_inference_j"]
    for key in (
        "index",
        "start_s",
        "duration_s",
        "inferences",
        "energy_j",
        "energy_per_inference_j",
        "mean_power_w",
    ):
        assert key in d["windows"][0]
    assert math.isclose(d["windows"][0]["start_s"], 1.999995)
    assert d["energy_per_inference_j"]["n"] == 5
    assert d["energy_per_inference_j"]["ci_low"] <= median <= d["energy_per_inference_j"]["ci_high"]
    assert d["edges"]["count"] == 11 and d["trace"]["sample_rate_hz"] == FS


def test_default_sync_line_needs_exactly_one_line() -> None:
    trace = Trace.from_arrays(np.ones(10), 1.0, FS)
    with pytest.raises(AnalysisError, match=r"name the timestamp line.*\[none\]"):
        analyze_trace(trace)


def test_boot_pulse_without_skip_is_refused() -> None:
    with pytest.raises(EdgeCountError, match="odd number of edges"):
        analyze_trace(_bench_trace(), inferences=100)


def test_analog_sync_and_intervals() -> None:
    trace = _bench_trace()
    report = analyze_trace(
        trace,
        threshold=AnalogThreshold(0.0045, hysteresis=0.001),
        polarity="both",
        intervals_s=[(1.9, 3.2), (4.9, 6.2)],
        inferences=[10, 11],
        baseline_intervals_s=[(0.5, 1.5)],
    )
    assert [r.inferences for r in report.windows] == [10, 11]
    assert math.isclose(report.windows[0].start_position, 199_999.5)
    assert math.isclose(report.windows[0].stop_position, 299_999.5)
    assert math.isclose(report.baseline.power_w, 0.003, rel_tol=1e-6)
    r = report.windows[0]
    assert math.isclose(
        r.energy_above_baseline_j, r.energy_j - r.baseline_power_w * r.duration_s, rel_tol=1e-12
    )
    assert report.to_dict()["baseline"]["power_w"] == report.baseline.power_w


def test_analyze_windows_without_inferences() -> None:
    trace = Trace.from_arrays(np.full(1000, 0.002), 3.0, 1000.0, sample_kind="bin")
    report = analyze_windows(trace, [Window(0, 10.0, 510.0), Window(1, 600.0, 700.0)])
    assert report.median_energy_per_inference_j is None
    assert report.energy_per_inference_j is None
    assert math.isclose(report.energy_j.median, (3.0 + 0.6) / 2 * 1e-3)
    with pytest.raises(AnalysisError, match="no windows"):
        analyze_windows(trace, [])
