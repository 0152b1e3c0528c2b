"""Fetch throughput of the Keithley 2461 driver against its simulator over pyvisa-py.

Captures one GPIO window at 1 MS/s (start/stop trigger model) and prints how long the capture
took to fetch and decode, in readings per second, for REAL (float64) and SREal (float32) blocks.
Run: .venv/bin/python bench/keithley_fetch.py [window_s]
"""

from __future__ import annotations

import sys
import time

from energybench.instruments.capabilities import CaptureRequest, SyncSpec
from energybench.instruments.keithley_2400 import Keithley2461
from energybench.sim.instruments.keithley.keithley_2461 import SimKeithley2461
from energybench.sim.physics.timeline import Timeline


def run(window_s: float, data_format: str) -> None:
    tl = Timeline()
    with (
        SimKeithley2461(tl) as sim,
        Keithley2461.open(sim.resource, timeout_s=30.0, data_format=data_format) as k,
    ):
        k.set_current_limit(0.1)
        k.set_voltage(1.8)
        k.set_output(True)
        sync = SyncSpec("hw_trigger_start_stop", "DIG1", "falling")
        k.configure_capture(CaptureRequest(window_s * 1.1, 1e-6, current_range_a=0.1, sync=sync))
        k.arm()
        t0 = tl.now_s + 1e-3
        tl.set_load_current(t0, 0.01)
        tl.set_pin("timestamp", t0, False)
        tl.set_pin("timestamp", t0 + 1e-5, True)
        tl.set_pin("timestamp", t0 + window_s, False)
        tl.set_pin("timestamp", t0 + window_s + 1e-5, True)
        tl.advance_to(t0 + window_s + 1e-3)
        start = time.perf_counter()
        capture = k.fetch(60.0)
        elapsed = time.perf_counter() - start
    n = capture.trace.n_samples
    print(
        f"{data_format:5s} window {window_s:g} s: {n} readings (I, V, REL) fetched in "
        f"{elapsed:.2f} s = {n / elapsed / 1e6:.2f} M readings/s (sim rendering included)"
    )


if __name__ == "__main__":
    window = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    for form in ("REAL", "SREAL"):
        run(window, form)
