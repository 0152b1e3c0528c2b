"""FirmwareTrack: ebdut-posix's side-channel and output lines onto a Timeline (no process)."""

from __future__ import annotations

import threading
import time

import pytest

from energybench.errors import DutError
from energybench.sim.physics.timeline import Timeline
from energybench.sim.posix_dut.events import FirmwareTrack

ACTIVE_A, IDLE_A = 0.02, 0.005


def _track(mode: str = "energy", lag_s: float = 0.2) -> tuple[Timeline, FirmwareTrack, int]:
    timeline = Timeline(supply_voltage_v=1.8, output_on=True, pace="realtime")
    track = FirmwareTrack(
        timeline, mode=mode, active_current_a=ACTIVE_A, idle_current_a=IDLE_A, lag_s=lag_s
    )
    origin_ns = time.monotonic_ns() + 1_000_000_000  # the "process" started 1 s from now
    track.on_event_line(f"clock_origin 500 {origin_ns}")
    return timeline, track, origin_ns


def test_events_map_exactly_through_the_clock_origin() -> None:
    timeline, track, _ = _track()
    t500 = track.to_timeline_s(500)
    assert track.to_timeline_s(1_500) - t500 == pytest.approx(1e-3, abs=1e-12)
    assert 0.9 < t500 < 1.5  # one second after the timeline's creation, on the same clock
    for line in ("ts_fall 1000", "ts_rise 1100"):  # boot pulse
        track.on_event_line(line)
    track.on_command("infer 3 2")
    for line in ("ts_fall 5000", "ts_rise 5100", "infer_begin 5110 3", "infer_end 35110"):
        track.on_event_line(line)
    assert track.windows == []  # the end pulse has not come yet
    track.on_event_line("ts_fall 35200")
    track.on_event_line("ts_rise 35300")
    (window,) = track.windows
    assert (window.inferences, window.warmups, window.lap_us) == (3, 2, None)
    assert window.start_s == track.to_timeline_s(5000) and window.end_s == track.to_timeline_s(
        35200
    )
    assert window.loop_s == pytest.approx(0.03, abs=1e-9)
    edges = timeline.edges("timestamp", "falling")
    assert edges.tolist() == [track.to_timeline_s(us) for us in (1000, 5000, 35200)]
    assert timeline.current_at(track.to_timeline_s(20_000)) == ACTIVE_A
    assert timeline.current_at(track.to_timeline_s(35_150)) == IDLE_A
    # 30 ms active inside a 30.2 ms window, idle for the rest
    assert window.energy_j == pytest.approx(1.8 * (IDLE_A * 0.0002 + ACTIVE_A * 0.03), rel=1e-9)
    assert track.late_events == 0


def test_performance_laps_pair_with_loops_whatever_pipe_is_read_first() -> None:
    timeline, track, _ = _track("performance")
    # infer 1: output (laps) read before its events; infer 2: events before output
    for line in ("m-infer-start-2", "m-lap-us-1000", "m-lap-us-9000", "m-infer-done"):
        track.on_output_line(line)
    for line in ("infer_begin 1001 2", "infer_end 8999", "infer_begin 20001 1", "infer_end 29999"):
        track.on_event_line(line)
    for line in ("m-infer-start-1", "m-lap-us-20000", "m-lap-us-30000"):
        track.on_output_line(line)
    assert len(track.windows) == 1  # the timeline is not final up to the second lap yet
    track.advance_idle(track.to_timeline_s(30_000) + track.lag_s)
    first, second = track.windows
    assert (first.lap_us, first.inferences) == ((1000, 9000), 2)
    assert (second.lap_us, second.inferences) == ((20000, 30000), 1)
    assert second.duration_s == pytest.approx(0.01, abs=1e-9)
    assert timeline.edges("timestamp", "both").size == 0


def test_a_late_event_is_placed_at_now_and_counted() -> None:
    timeline, track, _ = _track()
    timeline.advance_to(track.to_timeline_s(10_000))
    track.on_event_line("ts_fall 9000")
    assert track.late_events == 1
    assert timeline.edges("timestamp", "falling").tolist() == [timeline.now_s]


def test_idle_time_advances_lag_s_behind_the_wall_clock() -> None:
    timeline, track, _ = _track(lag_s=0.25)
    track.advance_idle(5.0)
    assert timeline.now_s == pytest.approx(4.75)
    track.advance_idle(4.0)  # never backwards
    assert timeline.now_s == pytest.approx(4.75)


def test_malformed_lines_and_events_before_the_origin_are_ignored() -> None:
    timeline = Timeline(supply_voltage_v=1.8, output_on=True, pace="realtime")
    track = FirmwareTrack(timeline, mode="energy", active_current_a=ACTIVE_A, idle_current_a=0.0)
    track.on_event_line("ts_fall 100")  # no clock_origin yet
    track.on_event_line("garbage here")
    track.on_event_line("")
    assert track.events == [] and not track.synchronised
    with pytest.raises(DutError, match="clock_origin"):
        track.to_timeline_s(0)
    track.advance_idle(3.0)  # not synchronised: the timeline stays put
    assert timeline.now_s == 0.0


def test_horizon_makes_advance_wait_for_the_clock_owner() -> None:
    timeline = Timeline(pace="realtime")
    horizon = [1.0]
    timeline.set_horizon(lambda: horizon[0])
    assert timeline.advance_to(0.5) == 0.5  # within the horizon: immediate
    reached: list[float] = []
    meter = threading.Thread(target=lambda: reached.append(timeline.advance_to(3.0)))
    meter.start()
    assert not timeline.wait_until(1.5, timeout_s=0.1)  # the meter did not force it
    assert timeline.now_s == 0.5
    horizon[0] = 3.0
    timeline.advance_to(3.0)  # the owner makes it final
    meter.join(timeout=5.0)
    assert reached == [3.0]


def test_horizon_wait_is_bounded_and_stops_at_the_horizon() -> None:
    timeline = Timeline(pace="realtime")
    timeline.set_horizon(lambda: 1.0)
    assert timeline.advance_to(1.01) == 1.0  # waited (≤ 1.01 s), then went as far as allowed
    timeline.set_horizon(None)
    assert timeline.advance_to(7.0) == 7.0


def test_track_horizon_is_the_lagged_wall_clock_or_the_last_event() -> None:
    timeline, track, _ = _track(lag_s=0.2)
    horizon_s = track.horizon_s()
    assert horizon_s == 0.0 or horizon_s <= timeline.wall_time_s() - 0.2  # lagged wall clock
    track.on_event_line("ts_fall 2000000")  # 2 s after the origin: ahead of the wall clock
    assert track.horizon_s() == track.to_timeline_s(2_000_000) == timeline.now_s
