"""Window integration against analytic ground truth: point and bin samples, fractional edges,
chunk independence, missing samples, baseline, and a 1e9-sample virtual trace."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from analysis_synth import pulses, virtual_trace
from scipy.integrate import trapezoid

from energybench.analysis.integrate import ChunkSums, integrate_windows, measure_baseline
from energybench.analysis.report import analyze_trace
from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window
from energybench.errors import AnalysisError, MissingSamplesError

FS = 1e6


def _energy(trace: Trace, a: float, b: float, n: int = 0, **kw):
    return integrate_windows(trace, [Window(0, a, b, n)], **kw)[0]


def test_constant_power_any_fractional_window() -> None:
    trace = Trace.from_arrays(np.full(1000, 0.002, np.float32), 3.0, FS)
    for a, b in [(0.0, 999.0), (10.25, 20.75), (10.25, 10.75), (5.0, 6.0), (3.9, 4.1)]:
        r = _energy(trace, a, b, n=4)
        expected = 0.002 * 3.0 * (b - a) / FS
        assert math.isclose(r.energy_j, expected, rel_tol=1e-6)  # float32 current
        assert math.isclose(r.charge_c, 0.002 * (b - a) / FS, rel_tol=1e-6)
        assert math.isclose(r.duration_s, (b - a) / FS)
        assert math.isclose(r.mean_power_w, 0.006, rel_tol=1e-6)
        assert math.isclose(r.energy_per_inference_j, expected / 4, rel_tol=1e-6)
        assert math.isclose(r.latency_s, (b - a) / FS / 4)


@pytest.mark.parametrize("kind", ["point", "bin"])
def test_ramp_is_integrated_exactly_at_fractional_edges(kind: str) -> None:
    # Point samples of a linear ramp: the trapezoid with interpolated ends is exact.
    # Bin samples holding the ramp's bin averages: the overlap-weighted sum is exact only at
    # whole bins, so the bin case uses the ramp's piecewise-constant reading.
    ids = np.arange(5000, dtype=np.float64)
    current = 1e-3 + 1e-6 * (ids + 0.5 if kind == "bin" else ids)
    trace = Trace.from_arrays(current, 2.0, FS, sample_kind=kind)
    for a, b in [(100.3, 4000.7), (17.0, 18.0), (250.25, 250.5), (0.0, 4998.9)]:
        r = _energy(trace, a, b)
        if kind == "point":
            exact = 2.0 * (1e-3 * (b - a) + 1e-6 * (b * b - a * a) / 2) / FS
        else:
            edges = np.arange(math.floor(a), math.ceil(b) + 1, dtype=np.float64)
            edges[0], edges[-1] = a, b
            values = current[math.floor(a) : math.ceil(b)]
            exact = 2.0 * float(np.sum(values * np.diff(edges))) / FS
        assert math.isclose(r.energy_j, exact, rel_tol=1e-12), (a, b)


def test_point_whole_samples_match_scipy_trapezoid() -> None:
    rng = np.random.default_rng(3)
    current = rng.uniform(0.001, 0.01, 3000)
    voltage = rng.uniform(1.7, 3.4, 3000)
    trace = Trace.from_arrays(current, voltage, FS)
    r = _energy(trace, 200.0, 2500.0, chunk_samples=77)
    expected = trapezoid(current[200:2501] * voltage[200:2501], dx=1 / FS)
    assert math.isclose(r.energy_j, expected, rel_tol=1e-13)


def test_sinusoid_matches_the_analytic_integral() -> None:
    n = 200_000
    ids = np.arange(n, dtype=np.float64)
    w = 2 * np.pi / 10_000  # 10 000 samples per period
    trace = Trace.from_arrays(0.005 + 0.004 * np.sin(w * ids), 3.3 - 0.1 * np.sin(w * ids), FS)
    a, b = 1234.56, 187_654.321

    def antiderivative(x: float) -> float:  # (c + A s)(V - B s)
        s_int = -math.cos(w * x) / w
        s2_int = x / 2 - math.sin(2 * w * x) / (4 * w)
        return 0.005 * 3.3 * x + (0.004 * 3.3 - 0.005 * 0.1) * s_int - 0.004 * 0.1 * s2_int

    exact = (antiderivative(b) - antiderivative(a)) / FS
    r = _energy(trace, a, b, chunk_samples=4096)
    assert math.isclose(r.energy_j, exact, rel_tol=1e-8)


def test_results_do_not_depend_on_chunking() -> None:
    rng = np.random.default_rng(5)
    trace = Trace.from_arrays(rng.uniform(0, 0.01, 10_000).astype(np.float32), 3.3, FS)
    windows = [Window(0, 10.5, 9000.2), Window(1, 4000.7, 4001.1), Window(2, 9998.0, 9999.0)]
    ref = integrate_windows(trace, windows)
    for chunk in (1, 3, 1000, 65_537):
        got = integrate_windows(trace, windows, chunk_samples=chunk)
        for x, y in zip(ref, got, strict=True):
            assert math.isclose(x.energy_j, y.energy_j, rel_tol=1e-12)


def test_window_outside_the_trace_is_an_error() -> None:
    trace = Trace.from_arrays(np.ones(100), 1.0, FS)
    with pytest.raises(AnalysisError, match="outside the trace"):
        _energy(trace, 50.5, 99.5)  # point samples: no sample after 99 to interpolate to
    bins = Trace.from_arrays(np.ones(100), 1.0, FS, sample_kind="bin")
    assert math.isclose(_energy(bins, 50.5, 100.0).energy_j, 49.5 / FS)


def test_missing_samples_raise_unless_allowed_then_flagged() -> None:
    current = np.full(1000, 0.01)
    current[400:410] = np.nan
    trace = Trace.from_arrays(current, 3.0, FS)
    with pytest.raises(MissingSamplesError, match="window 0 overlaps 10 missing sample"):
        _energy(trace, 100.5, 800.5)
    r = _energy(trace, 100.5, 800.5, allow_missing=True)
    assert r.incomplete and r.missing_samples == 10
    assert r.energy_j < 0.01 * 3.0 * 700 / FS  # missing samples contributed nothing
    assert math.isclose(r.energy_j, 0.03 * (700 - 10) / FS, rel_tol=1e-12)
    clean = _energy(trace, 500.5, 800.5)
    assert not clean.incomplete and clean.missing_samples == 0


def test_unlisted_nan_is_refused() -> None:
    current = np.full(100, 0.01)
    current[50] = np.nan
    trace = Trace.from_arrays(current, 3.0, FS, missing=())
    with pytest.raises(MissingSamplesError, match="NaN samples not listed"):
        _energy(trace, 10, 90)


def test_baseline_subtraction_is_reported_beside_the_energy() -> None:
    # 1 mA idle, 5 mA active between samples 1000 and 3000, 3 V.
    current = np.full(5000, 0.001)
    current[1000:3000] = 0.005
    trace = Trace.from_arrays(current, 3.0, FS)
    baseline = measure_baseline(trace, [(0.0, 0.0009), (0.0035, 0.0049)])
    assert math.isclose(baseline.power_w, 0.003, rel_tol=1e-12)
    assert math.isclose(baseline.current_a, 0.001, rel_tol=1e-12)
    assert math.isclose(baseline.duration_s, 0.0023, rel_tol=1e-9)
    r = integrate_windows(trace, [Window(0, 1000.0, 2999.0, 10)], baseline=baseline)[0]
    assert math.isclose(r.energy_j, 0.015 * 1999 / FS, rel_tol=1e-12)
    assert math.isclose(r.energy_above_baseline_j, 0.012 * 1999 / FS, rel_tol=1e-12)
    assert math.isclose(r.energy_per_inference_above_baseline_j, 0.012 * 1999 / FS / 10)
    assert r.baseline_power_w == baseline.power_w
    with pytest.raises(AnalysisError, match="at least one idle interval"):
        measure_baseline(trace, [])


def test_billion_sample_virtual_trace_chunkwise() -> None:
    """1e9 samples at 1 MS/s generated on demand: edges over the full length, integration only
    reads the chunks around the windows; error vs the analytic integral <= 1e-9 relative."""
    n = 1_000_000_000
    w = 2 * np.pi / 1e6  # one period per second
    c, amp, v0, vb = 0.004, 0.003, 3.3, 0.05
    starts = [16_000_000, 400_000_123, 987_654_321]  # each window straddles a 2^24 boundary
    lengths = [6_000_017, 3_000_001, 3_000_000]
    changes = [100, 150]  # boot pulse
    for s, length in zip(starts, lengths, strict=True):
        changes += pulses([s, s + length], 3)
    active = [(s - 10, s + length + 10) for s, length in zip(starts, lengths, strict=True)]
    trace = virtual_trace(
        n,
        FS,
        current_a=c,
        voltage_v=v0,
        current_fn=lambda k: c + amp * np.sin(w * k),
        voltage_fn=lambda k: v0 - vb * np.sin(w * k),
        active=active,
        changes=sorted(changes),
    )

    def exact(a: float, b: float) -> float:
        def f(x: float) -> float:
            s_int = -math.cos(w * x) / w
            s2_int = x / 2 - math.sin(2 * w * x) / (4 * w)
            return c * v0 * x + (amp * v0 - c * vb) * s_int - amp * vb * s2_int

        return (f(b) - f(a)) / FS

    report = analyze_trace(
        trace, inferences=1000, skip_leading_edges=1, expected_windows=3, chunk_samples=1 << 24
    )
    assert report.edges.count == 7
    for r, s, length in zip(report.windows, starts, lengths, strict=True):
        a, b = s - 0.5, s + length - 0.5
        assert (r.start_position, r.stop_position) == (a, b)
        assert abs(r.energy_j / exact(a, b) - 1) <= 1e-9
        assert r.inferences == 1000
    # Fractional windows over many 2^20-sample chunks.
    windows = [Window(0, 16_000_000.37, 21_000_000.91), Window(1, 987_654_400.5, 990_000_000.25)]
    got = integrate_windows(trace, windows, chunk_samples=1 << 20)
    for r, win in zip(got, windows, strict=True):
        assert abs(r.energy_j / exact(win.start_position, win.stop_position) - 1) <= 1e-9


def test_chunk_sums_from_the_scan_spare_re_reading_inner_chunks() -> None:
    rng = np.random.default_rng(9)
    n, size = 100_000, 1000
    base = Trace.from_arrays(
        rng.uniform(0, 0.01, n).astype(np.float32), rng.uniform(3, 3.6, n).astype(np.float32), FS
    )
    reads: list[tuple[int, int]] = []

    def reader(a: int, b: int):
        reads.append((a, b))
        return base.read(a, b)

    trace = replace(base, reader=reader)
    windows = [Window(0, 1500.25, 60_400.5), Window(1, 60_500.5, 99_998.0)]
    reference = integrate_windows(base, windows, chunk_samples=size)
    sums = ChunkSums(trace, size)
    for _ in sums.observe().chunks(size):
        pass
    assert len(sums.sums) == n // size
    reads.clear()
    got = integrate_windows(trace, windows, chunk_samples=size, chunk_sums=sums)
    for x, y in zip(reference, got, strict=True):
        assert math.isclose(x.energy_j, y.energy_j, rel_tol=1e-12)
        assert math.isclose(x.charge_c, y.charge_c, rel_tol=1e-12)
    # Only the chunks holding window ends were read again.
    assert sorted({a // size for a, _ in reads}) == [1, 60, 99]
    # A cache for another chunk size is ignored, not misused.
    other = integrate_windows(trace, windows, chunk_samples=500, chunk_sums=sums)
    assert math.isclose(other[0].energy_j, reference[0].energy_j, rel_tol=1e-12)
