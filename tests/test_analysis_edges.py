"""Edge detection: digital transitions, analog crossings, glitches, chunk carry, gaps."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_synth import pulses, virtual_trace

from energybench.analysis.edges import AnalogThreshold, scan_edges
from energybench.analysis.trace import SampleRange, Trace
from energybench.errors import AnalysisError


def _digital(levels: np.ndarray, kind: str = "point", missing=None) -> Trace:
    n = levels.shape[0]
    return Trace.from_arrays(
        np.full(n, 0.01),
        3.3,
        1000.0,
        digital={"ts": levels},
        sample_kind=kind,
        missing=missing,
    )


def _levels(n: int, changes: list[int], initial: bool = True) -> np.ndarray:
    out = np.full(n, initial)
    for c in changes:
        out[c:] = ~out[c:]
    return out


@pytest.mark.parametrize("chunk", [3, 7, 64, 1 << 20])
def test_digital_transition_between_samples_any_chunking(chunk: int) -> None:
    trace = _digital(_levels(200, [10, 20, 63, 64, 150, 199]))
    scan = scan_edges(trace, line="ts", polarity="both", chunk_samples=chunk)
    np.testing.assert_array_equal(scan.positions, [9.5, 19.5, 62.5, 63.5, 149.5, 198.5])
    np.testing.assert_array_equal(scan.rising, [False, True, False, True, False, True])
    falling = scan_edges(trace, line="ts", chunk_samples=chunk)
    np.testing.assert_array_equal(falling.positions, [9.5, 62.5, 149.5])
    rising = scan_edges(trace, line="ts", polarity="rising", chunk_samples=chunk)
    np.testing.assert_array_equal(rising.positions, [19.5, 63.5, 198.5])


def test_digital_bin_samples_place_the_edge_on_the_bin_boundary() -> None:
    scan = scan_edges(_digital(_levels(50, [10, 30]), kind="bin"), line="ts", polarity="both")
    np.testing.assert_array_equal(scan.positions, [10.0, 30.0])


def test_initial_level_is_not_an_edge() -> None:
    assert scan_edges(_digital(np.zeros(100, bool)), line="ts", polarity="both").count == 0


def test_unknown_line_and_bad_arguments() -> None:
    trace = _digital(_levels(10, [5]))
    with pytest.raises(AnalysisError, match=r"no digital line 'gpi0'.*ts"):
        scan_edges(trace, line="gpi0")
    with pytest.raises(AnalysisError, match="exactly one"):
        scan_edges(trace)
    with pytest.raises(AnalysisError, match="polarity"):
        scan_edges(trace, line="ts", polarity="down")
    with pytest.raises(AnalysisError, match="min_pulse_s"):
        scan_edges(trace, line="ts", min_pulse_s=-1)


@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_glitch_filter_drops_short_pulses_with_both_edges(chunk: int) -> None:
    # 1 kHz: a real 50 ms low pulse at 100, a 2 ms spike inside it (at 120), a 3 ms glitch at
    # 400, a bouncing falling edge at 600 (low 1 ms, high 1 ms, then low for 100 ms).
    changes = [100, 150, 120, 122, 400, 403, 600, 601, 602, 702]
    trace = _digital(_levels(1000, sorted(changes)))
    scan = scan_edges(trace, line="ts", polarity="both", min_pulse_s=0.005, chunk_samples=chunk)
    np.testing.assert_array_equal(scan.positions, [99.5, 149.5, 601.5, 701.5])
    np.testing.assert_array_equal(scan.glitches, [119.5, 399.5, 599.5])
    assert scan.glitch_count == 3
    assert "3 pulse(s) shorter than 0.005 s dropped" in scan.describe()
    unfiltered = scan_edges(trace, line="ts", polarity="both", chunk_samples=chunk)
    assert unfiltered.count == 10 and unfiltered.glitch_count == 0


def test_edge_inside_missing_samples_is_reported_not_invented() -> None:
    levels = _levels(300, [50, 120, 200, 260])
    trace = _digital(levels, missing=(SampleRange(110, 130),))
    scan = scan_edges(trace, line="ts", polarity="both", chunk_samples=16)
    np.testing.assert_array_equal(scan.positions, [49.5, 199.5, 259.5])
    assert len(scan.unresolved) == 1
    u = scan.unresolved[0]
    assert (u.last_id, u.next_id, u.rising) == (109, 130, True)
    assert "inside missing samples" in scan.describe()
    # A change right at the gap's edge is unresolved too (its neighbour sample is missing).
    trace = _digital(levels, missing=(SampleRange(120, 125),))
    scan = scan_edges(trace, line="ts", polarity="both")
    assert [(u.last_id, u.next_id) for u in scan.unresolved] == [(119, 125)]


def test_pulse_hidden_in_gap_is_not_invented_and_gap_is_listed() -> None:
    trace = _digital(_levels(300, [110, 115]), missing=(SampleRange(100, 130),))
    scan = scan_edges(trace, line="ts", polarity="both")
    assert scan.count == 0 and scan.unresolved == ()
    assert scan.missing == (SampleRange(100, 130),)


def _ramp_trace(n: int, fn, kind: str = "point", hysteresis_noise: np.ndarray | None = None):
    ids = np.arange(n, dtype=np.float64)
    current = fn(ids)
    if hysteresis_noise is not None:
        current = current + hysteresis_noise
    return Trace.from_arrays(current, 3.3, 1e6, sample_kind=kind)


@pytest.mark.parametrize("chunk", [4, 97, 1 << 20])
def test_analog_ramp_crossings_within_a_tenth_of_a_sample(chunk: int) -> None:
    # Triangle: rises 1 mA per sample from sample 0, peaks at 1000.25, falls back.
    def tri(k):
        return 0.001 * (1000.25 - np.abs(k - 1000.25))

    trace = _ramp_trace(2000, tri)
    th = AnalogThreshold(level=0.5003)  # crossed at k = 500.3 and 1500.2
    scan = scan_edges(trace, threshold=th, polarity="both", chunk_samples=chunk)
    assert scan.count == 2
    np.testing.assert_allclose(scan.positions, [500.3, 1500.2], atol=0.1)
    np.testing.assert_allclose(scan.positions, [500.3, 1500.2], atol=1e-9)
    np.testing.assert_array_equal(scan.rising, [True, False])


def test_analog_bin_samples_interpolate_between_bin_centres() -> None:
    trace = _ramp_trace(100, lambda k: 0.001 * k, kind="bin")
    scan = scan_edges(trace, threshold=AnalogThreshold(0.0403), polarity="rising")
    np.testing.assert_allclose(scan.positions, [40.8], atol=1e-9)  # bin 40 centred at 40.5


@pytest.mark.parametrize("chunk", [13, 1 << 20])
def test_analog_hysteresis_ignores_noise_around_the_level(chunk: int) -> None:
    rng = np.random.default_rng(1)
    n = 4000
    ids = np.arange(n, dtype=np.float64)
    # Sinusoid 1 mA ± 1 mA, period 1000 samples, with 20 µA noise.
    clean = 0.001 + 0.001 * np.sin(2 * np.pi * (ids - 100.4) / 1000)
    trace = Trace.from_arrays(clean + rng.normal(0, 20e-6, n), 3.3, 1e6)
    noisy = scan_edges(trace, threshold=AnalogThreshold(0.001), polarity="both")
    assert noisy.count > 8  # noise chatters around the level without hysteresis
    th = AnalogThreshold(0.001, hysteresis=0.0004)
    scan = scan_edges(trace, threshold=th, polarity="both", chunk_samples=chunk)
    expected = 100.4 + 500 * np.arange(8)
    assert scan.count == 8
    np.testing.assert_allclose(scan.positions, expected, atol=10)  # noise-limited (~3 samples rms)
    clean_scan = scan_edges(
        Trace.from_arrays(clean, 3.3, 1e6), threshold=th, polarity="both", chunk_samples=chunk
    )
    np.testing.assert_allclose(clean_scan.positions, expected, atol=0.1)
    np.testing.assert_array_equal(clean_scan.rising, [True, False] * 4)


def test_analog_on_power_and_voltage() -> None:
    n = 100
    ids = np.arange(n, dtype=np.float64)
    voltage = np.where(ids < 30.5, 3.3, 1.8)
    trace = Trace.from_arrays(np.full(n, 0.01), voltage, 1000.0)
    v = scan_edges(trace, threshold=AnalogThreshold(2.5, signal="voltage"), polarity="falling")
    np.testing.assert_allclose(v.positions, [30 + 0.8 / 1.5])
    p = scan_edges(trace, threshold=AnalogThreshold(0.025, signal="power"))
    np.testing.assert_allclose(p.positions, [30 + 0.008 / 0.015])
    assert "power 0.025 W" in p.source


def test_analog_crossing_next_to_missing_samples_is_unresolved() -> None:
    current = np.where(np.arange(100) < 50, 0.0, 1.0)
    current[48:52] = np.nan  # from_arrays lists the NaN run as missing
    scan = scan_edges(
        Trace.from_arrays(current, 3.3, 1e3), threshold=AnalogThreshold(0.5), polarity="both"
    )
    assert scan.count == 0
    assert [(u.last_id, u.next_id, u.rising) for u in scan.unresolved] == [(47, 52, True)]


def test_virtual_trace_edges_cross_chunk_boundaries() -> None:
    changes = pulses([(1 << 12) - 1, 10_000, 3 * (1 << 12)], 1)
    trace = virtual_trace(20_000, 1e6, changes=changes)
    scan = scan_edges(trace, line="gpi[0]", polarity="both", chunk_samples=1 << 12)
    expected = np.array(changes, dtype=np.float64) - 0.5
    np.testing.assert_array_equal(scan.positions, expected)


@pytest.mark.parametrize("chunk", [7, 10, 1 << 20])
def test_analog_crossing_is_never_interpolated_across_unlisted_nan(chunk: int) -> None:
    # Level 0.5 ± 0.1; NaN samples not listed as missing. With chunk 10 the NaN run 18..19
    # ends a chunk, so the next (clean) chunk carries sample 17 across it.
    current = np.zeros(100)
    current[18:20] = np.nan
    current[20], current[21:40] = 0.55, 1.0  # crossed somewhere in 17..20: unresolved
    current[50:52] = 0.55, 0.45  # crosses up and back down inside the band
    current[52:55] = np.nan
    current[55], current[56:70] = 0.55, 1.0  # crossed in 51..55, not at 49..50: unresolved
    current[80:82] = np.nan
    current[90:] = 1.0  # a clean crossing after NaN samples is still placed
    trace = Trace.from_arrays(current, 3.3, 1e3, missing=())
    th = AnalogThreshold(0.5, hysteresis=0.2)
    scan = scan_edges(trace, threshold=th, polarity="both", chunk_samples=chunk)
    np.testing.assert_allclose(scan.positions, [39.5, 69.5, 89.5], atol=1e-9)
    np.testing.assert_array_equal(scan.rising, [False, False, True])
    assert [(u.last_id, u.next_id, u.rising) for u in scan.unresolved] == [
        (20, 21, True),
        (55, 56, True),
    ]
