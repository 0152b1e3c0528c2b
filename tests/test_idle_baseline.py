"""The idle baseline after a window's end edge (analysis/baseline.py): found in the quiet span
past the UART burst, within its U of the truth; unknown, with the reason, when there is no
quiet span, too few samples, or a drifting level."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.analysis.baseline import MIN_SPAN_S, idle_baseline
from energybench.analysis.trace import Trace

FS = 100_000.0
V = 1.8
IDLE_A = 0.003


def _trace(after: np.ndarray, *, noise_a: float = 0.0, seed: int = 1) -> tuple[Trace, float]:
    """50 ms of 12.5 mA activity, the end edge, then ``after`` (A); the end edge's position."""
    active = np.full(int(0.05 * FS), 0.0125)
    current = np.concatenate([active, after])
    rng = np.random.default_rng(seed)
    current = current + rng.normal(0.0, noise_a, current.size)
    return Trace.from_arrays(current.astype(np.float32), V, FS), active.size - 0.4


def _idle(seconds: float) -> np.ndarray:
    return np.full(int(seconds * FS), IDLE_A)


def test_baseline_skips_the_uart_burst_and_covers_the_truth() -> None:
    uart = np.full(int(0.004 * FS), IDLE_A + 0.0003)  # result lines after the end pulse
    trace, end = _trace(np.concatenate([uart, _idle(1.5)]), noise_a=2e-4)
    base = idle_baseline(trace, end)
    assert base.known and base.unknown is None
    assert base.span_s == pytest.approx(1.0)  # capped at 1 s, the level nearest the window
    assert base.start_position >= end + uart.size  # the burst is not in the span
    u = 2 * base.power_standard_w
    assert abs(base.power_w - IDLE_A * V) <= u  # covered ...
    assert 0 < u < 0.01 * IDLE_A * V  # ... and not vacuously
    assert base.current_a == pytest.approx(IDLE_A, rel=1e-3)


def test_energy_above_the_baseline() -> None:
    trace, end = _trace(_idle(0.2))
    base = idle_baseline(trace, end)
    assert base.power_w == pytest.approx(IDLE_A * V, rel=1e-6)
    assert base.energy_above_j(1.0, 10.0) == pytest.approx(1.0 - IDLE_A * V * 10.0)


def test_limit_stops_the_search_at_the_next_window() -> None:
    after = np.concatenate([_idle(0.02), np.full(int(0.5 * FS), 0.0125)])
    trace, end = _trace(after)
    base = idle_baseline(trace, end, limit_position=end + 0.02 * FS)
    assert base.known and base.stop_position <= end + 0.02 * FS
    assert base.power_w == pytest.approx(IDLE_A * V, rel=1e-6)


def test_no_quiet_span_is_unknown_with_the_reason() -> None:
    period = int(0.003 * FS)  # the DUT keeps waking every 3 ms: never 10 ms of idle
    pattern = np.concatenate([np.full(period, 0.0125), np.full(period, IDLE_A)])
    trace, end = _trace(np.tile(pattern, 200))
    base = idle_baseline(trace, end)
    assert not base.known and base.power_w is None
    assert "no quiet span" in base.unknown
    assert base.energy_above_j(1.0, 1.0) is None


def test_too_few_samples_after_the_edge_is_unknown() -> None:
    trace, end = _trace(_idle(MIN_SPAN_S / 2))
    base = idle_baseline(trace, end)
    assert not base.known and "ms of samples after the window's end edge" in base.unknown


def test_a_drifting_level_is_unknown() -> None:
    ramp = np.linspace(IDLE_A, IDLE_A * 1.04, int(0.5 * FS))  # within ±2 % of the low level ...
    trace, end = _trace(ramp)
    base = idle_baseline(trace, end)
    assert not base.known and "drifts" in base.unknown  # ... but not one level


def test_missing_samples_are_not_quiet() -> None:
    after = _idle(0.3)
    after[int(0.005 * FS) : int(0.295 * FS)] = np.nan  # only 5 ms on each side remain
    trace, end = _trace(after)
    base = idle_baseline(trace, end)
    assert not base.known
