"""Simulated DUT physics on the Timeline: UART time, currents, timestamps, windows, clock."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from energybench.sim.dut.profiles import load_profile
from energybench.sim.dut.sim_dut import SimDut
from energybench.sim.physics.timeline import Timeline


def make_dut(
    mode: str = "energy", *, jitter: float | None = 0.0, profile: str = "fast-m33", **kwargs
) -> SimDut:
    prof = load_profile(profile)
    if jitter is not None:
        prof = dataclasses.replace(prof, jitter=jitter)
    timeline = Timeline(supply_voltage_v=prof.supply_voltage_v, output_on=True)
    kwargs.setdefault("idle_speed", 0.0)
    return SimDut(timeline, prof, mode=mode, serve_pty=False, **kwargs).start()


def test_uart_time_is_bytes_times_10_over_baud() -> None:
    dut = make_dut()
    t0 = dut.timeline.now_s
    reply = "".join(dut.execute("name"))
    n_bytes = len("name%") + len(reply)
    assert dut.timeline.now_s - t0 == pytest.approx(n_bytes * 10 / dut.baud, rel=1e-12)
    # idle plus the UART's extra current throughout (the DUT only talked)
    expected_c = (dut.profile.idle_current_a + dut.profile.uart_current_a) * n_bytes * 10 / dut.baud
    assert dut.timeline.charge_c(t0, dut.timeline.now_s) == pytest.approx(expected_c, rel=1e-9)
    assert dut.timeline.current_at(dut.timeline.now_s) == dut.profile.idle_current_a


def test_energy_build_two_falling_edges_per_infer_at_documented_places() -> None:
    dut = make_dut("energy")
    tl, prof = dut.timeline, dut.profile
    boot_edges = tl.edges("timestamp", "falling")
    assert len(boot_edges) == 1  # th_timestamp_initialize's pulse
    for n, w in ((5, 2), (20, 0), (1, 10)):
        before = tl.now_s
        lines = dut.execute(f"infer {n} {w}")
        assert lines[-1] == "m-ready\r\n"
        edges = tl.edges("timestamp", "falling", before, tl.now_s)
        rises = tl.edges("timestamp", "rising", before, tl.now_s)
        assert len(edges) == 2 and len(rises) == 2
        win = dut.windows[-1]
        assert (win.start_s, win.end_s, win.inferences, win.warmups) == (edges[0], edges[1], n, w)
        # first pulse's hold inside the window, then exactly the N inferences
        assert rises[0] - edges[0] == pytest.approx(prof.timestamp_hold_s, rel=1e-9)
        assert win.loop_s == pytest.approx(n * prof.latency_s["kws01"], rel=1e-12)
        assert edges[1] - rises[0] == pytest.approx(win.loop_s, rel=1e-9)
        assert win.energy_j == tl.energy_j(win.start_s, win.end_s)
        mid = (rises[0] + edges[1]) / 2
        assert tl.current_at(mid) == prof.active_current_a["kws01"]
        # before the window: RX, the lines up to m-infer-start, and W warm-ups at active
        head = lines[: lines.index(f"m-infer-start-{n}\r\n") + 1]
        uart_s = (len(f"infer {n} {w}%") + sum(map(len, head))) * 10 / dut.baud
        expected_c = (prof.idle_current_a + prof.uart_current_a) * uart_s + prof.active_current_a[
            "kws01"
        ] * w * prof.latency_s["kws01"]
        assert tl.charge_c(before, edges[0]) == pytest.approx(expected_c, rel=1e-9)
    assert len(dut.windows) == 3


def test_window_energy_matches_physics() -> None:
    dut = make_dut("energy")
    dut.execute("infer 50 0")
    win, prof = dut.windows[-1], dut.profile
    expected = prof.supply_voltage_v * (
        prof.idle_current_a * prof.timestamp_hold_s + prof.active_current_a["kws01"] * win.loop_s
    )
    assert win.energy_j == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("jitter", [0.0, 0.01])
def test_performance_laps_measure_n_latency_with_clock_error(jitter: float) -> None:
    dut = make_dut("performance", jitter=jitter)
    n = 200
    lines = dut.execute(f"infer {n} 0")
    laps = [int(m) for m in re.findall(r"m-lap-us-(\d+)", "".join(lines))]
    assert len(laps) == 2 and tuple(laps) == dut.windows[-1].lap_us
    prof = dut.profile
    first_lap_tx_s = len(f"m-lap-us-{laps[0]}\r\n") * 10 / dut.baud  # inside the window
    nominal_s = n * prof.latency_s["kws01"] + first_lap_tx_s
    scale = 1 + prof.clock_error_ppm * 1e-6
    measured_s = (laps[1] - laps[0]) * 1e-6
    tolerance = 2e-6 + 5 * jitter * prof.latency_s["kws01"] * np.sqrt(n)
    assert measured_s == pytest.approx(nominal_s * scale, abs=tolerance)
    win = dut.windows[-1]
    assert measured_s == pytest.approx(win.duration_s * scale, abs=2e-6)


def test_clock_wraps_at_32_bits() -> None:
    dut = make_dut("performance")
    ppm = dut.profile.clock_error_ppm
    t_wrap = dut._boot_s + 2**32 / 1e6 / (1 + ppm * 1e-6)
    assert dut.clock_us(t_wrap + 1.0) < 2_000_000
    assert dut.clock_us(t_wrap - 1.0) > 2**32 - 2_000_000


def test_jitter_is_seeded() -> None:
    a, b = make_dut(jitter=0.05, seed=7), make_dut(jitter=0.05, seed=7)
    c = make_dut(jitter=0.05, seed=8)
    for dut in (a, b, c):
        dut.execute("infer 10 1")
    assert a.windows[0].loop_s == b.windows[0].loop_s != c.windows[0].loop_s


def test_idle_policy_advances_clock_to_scaled_wall_time() -> None:
    fast = make_dut(idle_speed=1000.0)
    frozen = make_dut(idle_speed=0.0)
    before = frozen.timeline.now_s
    frozen.execute("name")
    assert frozen.timeline.now_s - before < 0.01  # only the UART time
    fast.execute("name")
    # the wall time since the timeline was created, × 1000, has elapsed in simulation
    assert fast.timeline.now_s >= fast.timeline.wall_time_s() * 1000 * 0.5
    assert fast.timeline.current_at(fast.timeline.now_s / 2) == fast.profile.idle_current_a


def test_realtime_pace_sleeps_until_simulated_time() -> None:
    prof = dataclasses.replace(load_profile("fast-m33"), jitter=0.0)
    timeline = Timeline(supply_voltage_v=1.8, output_on=True, pace="realtime")
    dut = SimDut(timeline, prof, serve_pty=False).start()
    dut.execute("infer 10 0")  # ~0.09 s of simulation time
    assert timeline.wall_time_s() >= timeline.now_s - 0.005


def test_unpowered_dut_ignores_input_and_boots_on_power_on() -> None:
    dut = make_dut()
    tl = dut.timeline
    tl.set_supply(tl.now_s, output_on=False)
    t0 = tl.now_s
    assert dut.execute("name") == []
    assert tl.now_s == t0
    tl.set_supply(tl.now_s, output_on=True)
    boot: list[bytes] = []
    dut.reset(boot.append)  # what power_on() does, with the banner captured
    assert b"".join(boot) == b"m-timestamp-mode-energy\r\nm-init-done\r\nm-ready\r\n"
    assert dut.execute("name")[0] == "m-name-dut-[unspecified]\r\n"


def test_dut_activity_is_atomic_while_a_meter_advances_idle_time() -> None:
    """A streaming meter lets idle time pass from another thread; the DUT's appends must never
    land 'in the past' and every infer keeps exactly its two timestamp edges."""
    import threading

    dut = make_dut("energy")
    timeline = dut.timeline
    stop = threading.Event()

    def idle_advance() -> None:
        while not stop.is_set():
            timeline.advance_to(timeline.now_s + 1e-4)

    thread = threading.Thread(target=idle_advance, daemon=True)
    thread.start()
    try:
        dut.execute("db load 490")
        for _ in range(13):
            dut.execute("db " + "00" * 38)
        for _ in range(20):
            assert dut.execute("infer 3 1")[-1] == "m-ready\r\n"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert len(dut.windows) == 20
    edges = timeline.edges("timestamp", "falling")
    for window in dut.windows:
        inside = edges[(edges >= window.start_s) & (edges <= window.end_s)]
        assert list(inside) == [window.start_s, window.end_s]
