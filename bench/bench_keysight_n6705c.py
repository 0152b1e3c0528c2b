"""Throughput of the N6705C driver against its simulator over pyvisa-py (prints figures).

    .venv/bin/python bench/bench_keysight_n6705c.py

- a full 512 K-point scope capture (current, voltage and the VMETer sync channel): wall time;
- an Elog stream of a 60 s virtual window at 307.2 µs (V, I and sync): records per wall second.
"""

from __future__ import annotations

import time

from energybench.instruments.capabilities import CaptureRequest, StreamRequest, SyncSpec
from energybench.instruments.keysight_n6705c import MAX_POINTS, KeysightN6705C
from energybench.sim.instruments.keysight.keysight_n6705c import SimKeysightN6705C
from energybench.sim.physics.timeline import Timeline


def capture(big_endian: bool) -> None:
    tl = Timeline()
    with SimKeysightN6705C(tl) as sim, KeysightN6705C.open(sim.resource, timeout_s=30) as d:
        d.identify()
        d.big_endian = big_endian
        interval = 20.48e-6
        s = d.configure_capture(
            CaptureRequest(
                (MAX_POINTS - 1) * interval,
                interval,
                sync=SyncSpec("analog_channel", "", "falling"),
            )
        )
        tl.set_load_current(0.0, 0.01)
        wall = time.perf_counter()
        d.arm()
        c = d.fetch(timeout_s=60)
        wall = time.perf_counter() - wall
        print(
            f"scope capture {s.n_points} points x 3 arrays ({'big' if big_endian else 'little'}"
            f"-endian): {wall:.2f} s wall, {3 * c.trace.n_samples / wall / 1e6:.2f} M values/s"
        )


def elog(window_s: float = 60.0) -> None:
    tl = Timeline()
    with SimKeysightN6705C(tl, elog_fifo_s=1e9) as sim, KeysightN6705C.open(sim.resource) as d:
        d.configure_supply(1.8, 0.1)
        d.set_output(True)
        st = d.configure_stream(StreamRequest(1 / 307.2e-6, sync=SyncSpec("analog_channel")))
        d.start()
        tl.set_load_current(tl.now_s, 0.01)
        tl.advance_by(window_s)
        wall = time.perf_counter()
        n = 0
        for chunk in d.chunks(timeout_s=5.0):
            n = chunk.stop_sample_id
            if n >= window_s * st.sample_rate_hz - 1:
                break
        wall = time.perf_counter() - wall
        d.stop()
        print(
            f"Elog {n} records ({window_s:g} s virtual): {wall:.2f} s wall, {n / wall:,.0f} rec/s"
        )


if __name__ == "__main__":
    capture(False)
    capture(True)
    elog()
