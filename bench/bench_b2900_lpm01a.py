"""Throughput of the B2900 and LPM01A drivers against their simulators (prints figures).

Run: .venv/bin/python bench/bench_b2900_lpm01a.py
"""

from __future__ import annotations

import time

import numpy as np

from energybench.instruments.capabilities import CaptureRequest, StreamRequest, SyncSpec
from energybench.instruments.keysight_b2900 import KeysightB2900
from energybench.instruments.lpm01a import Lpm01a
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keysight.keysight_b2900 import SimKeysightB2900
from energybench.sim.instruments.lpm01a.lpm01a import SimLpm01a
from energybench.sim.physics.timeline import Timeline

LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.1)


def _window(tl: Timeline, t0: float, duration: float) -> None:
    tl.set_load_current(max(tl.now_s, t0 - 0.1), 1e-3)
    for t in (t0, t0 + duration):
        tl.set_pin("timestamp", t, False)
        tl.set_pin("timestamp", t + 50e-6, True)
    tl.set_load_current(t0 + 0.001, 8e-3)
    tl.set_load_current(t0 + duration - 0.001, 1e-3)


def bench_lpm01a(seconds: int = 60) -> None:
    tl = Timeline()
    with SimLpm01a(tl) as sim, Lpm01a.open(sim.resource, LIMITS) as lpm:
        lpm.set_voltage(1.8)
        lpm.configure_stream(StreamRequest(1000.0, sync=SyncSpec("event_marker", "d7")))
        lpm.set_current_limit(0.05)
        lpm.set_output(True)
        lpm.start()
        _window(tl, 0.5, seconds - 2.0)
        tl.advance_to(seconds)
        start = time.perf_counter()
        n = 0
        for chunk in lpm.chunks(timeout_s=5.0):
            n += chunk.n_samples
            if n >= (seconds - 1) * 1000:
                break
        lpm.stop()
        n += sum(c.n_samples for c in lpm.chunks(timeout_s=5.0))
        elapsed = time.perf_counter() - start
    print(
        f"LPM01A 1 kHz energy stream: {n} lines in {elapsed:.2f} s wall "
        f"= {n / elapsed:,.0f} lines/s ({n / elapsed / 1000:.0f}x real time at 1 kHz)"
    )


def bench_b2900(points: int = 100_000) -> None:
    for data_format in ("REAL,32", "REAL,64"):
        tl = Timeline()
        sim = SimKeysightB2900(tl).start()
        try:
            with KeysightB2900.open(sim.resource, LIMITS, data_format=data_format) as smu:
                smu.set_voltage(1.8)
                smu.set_current_limit(0.05)
                smu.set_output(True)
                sync = SyncSpec("hw_trigger_start", "EXT1")
                smu.configure_capture(CaptureRequest(points * 20e-6, 20e-6, 0.0, 0.01, True, sync))
                smu.arm()
                _window(tl, 0.2, 1.5)
                tl.advance_to(2.5)
                start = time.perf_counter()
                trace = smu.fetch(timeout_s=30.0).trace
                elapsed = time.perf_counter() - start
                chunk = trace.read(0, trace.n_samples)
                energy = float(np.sum(chunk.power_w()) / trace.sample_rate_hz)
                truth = tl.energy_j(0.2, 0.2 + points * 20e-6)
            print(
                f"B2900 {data_format}: {points} points (I, V, TIME) fetched in {elapsed:.2f} s "
                f"wall; energy error {abs(energy / truth - 1):.1e} relative"
            )
        finally:
            sim.stop()


if __name__ == "__main__":
    bench_lpm01a()
    bench_b2900()
