"""Where a run's window ends, as pure functions: the quiet-span rule that closes a streamed
window, and the window of a triggered capture (its edges paired, or a start-only trigger's end
found on the current step)."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.analysis.capture import capture_window, trigger_on_pin
from energybench.analysis.trace import Trace
from energybench.analysis.window_analysis import (
    MARGIN_SAMPLES,
    QUIET_FLOOR,
    quiet_span_s,
    window_close_id,
)
from energybench.errors import EdgeCountError


def test_the_quiet_span_is_a_tenth_of_the_window_within_bounds() -> None:
    assert quiet_span_s(1.0) == pytest.approx(0.1)
    assert quiet_span_s(0.05) == 0.02 and quiet_span_s(600.0) == 2.0


def test_a_window_closes_after_its_floor_and_a_quiet_span_past_the_last_edge() -> None:
    # an infer window of 1 s at 1 kHz: 1.2 x 1 s past the first edge beats 100 quiet samples
    assert window_close_id(0, 1000, 1.0, 1000.0) == round(1000 * QUIET_FLOOR)
    # a stream step returns after its end pulse: no floor, the quiet span alone
    assert window_close_id(0, 1000, 1.0, 1000.0, floor_factor=0.0) == 1100
    # a later edge (a glitch that looked like the end) moves the close
    assert window_close_id(0, 1500, 1.0, 1000.0) == 1600
    # never fewer than MARGIN_SAMPLES after the last edge, even at a low rate
    assert window_close_id(0, 10, 0.05, 100.0, floor_factor=0.0) == 10 + MARGIN_SAMPLES


def _capture(fs: float = 1000.0) -> Trace:
    """Idle 6 mA, 18 mA from 2 ms to 1.002 s (after the start pulse's hold), idle again."""
    t = np.arange(round(fs * 1.5)) / fs
    current = np.where((t >= 0.002) & (t < 1.002), 0.018, 0.006)
    return Trace.from_arrays(current, 1.8, fs, sample_kind="bin")


def _window(edges, *, on_pin=True, both=False):
    return capture_window(
        _capture(), edges, sync_mode="hw_trigger_start", on_pin=on_pin, inferences=3,
        require_both_edges=both,
    )  # fmt: skip


def test_the_trigger_triggered_by_the_pin_is_the_start_edge() -> None:
    assert trigger_on_pin("hw_trigger_start", "EXT1") and trigger_on_pin("analog_channel", "2")
    assert not any(trigger_on_pin("analog_channel", line) for line in ("", "bus", "IMM"))
    found = _window([900.0])
    assert (found.window.start_position, found.window.stop_position) == (0.0, 900.0)
    found = _window([0.5, 900.0])  # the meter listed the trigger edge itself
    assert (found.window.start_position, found.window.stop_position) == (0.5, 900.0)
    assert "both edges" in found.rule and not found.end_from_current


def test_a_capture_on_a_bus_trigger_pairs_its_own_two_edges() -> None:
    found = _window([900.0, 12.5], on_pin=False)
    assert (found.window.start_position, found.window.stop_position) == (12.5, 900.0)
    with pytest.raises(EdgeCountError, match="3 timestamp edges"):  # the trigger is a third
        _window([900.0, 12.5])


def test_a_start_only_trigger_ends_the_window_on_the_current_step_flagged() -> None:
    found = _window([])
    assert found.end_from_current and "end from the current step" in found.rule
    assert found.window.stop_position == pytest.approx(1002, abs=1)


@pytest.mark.parametrize(
    ("edges", "on_pin", "both", "message"),
    [
        ([10.0, 20.0, 30.0], False, False, "3 timestamp edges, 2 expected"),
        ([10.0], False, True, "only the start edge"),  # a stream: its end is the stop pulse
        ([], False, False, "no timestamp edge"),
    ],
)
def test_edges_that_do_not_pair_are_refused(edges, on_pin, both, message) -> None:
    with pytest.raises(EdgeCountError, match=message):
        _window(edges, on_pin=on_pin, both=both)
