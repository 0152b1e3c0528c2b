"""How fast the PPK2 driver + acquisition layer take in a 100 kS/s stream (samples/s, CPU).

The simulated PPK2 runs in a child process (its rendering is not counted) with idle time as
fast as the host reads; this process runs the nordic_ppk2 driver and StreamAcquisition into a
sink and prints the sustained rate, its multiple of the PPK2's 100 kS/s, the CPU it used
(process CPU time / wall; 100 % = one core) and the samples lost (expected: zero).

    .venv/bin/python bench/ppk2_stream_throughput.py [--seconds 20] [--sink count|jls]
"""

from __future__ import annotations

import argparse
import resource
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def serve() -> None:
    """Child: a PPK2 on a pty over a timeline whose idle time runs as fast as it is read."""
    from energybench.sim.instruments.nordic.ppk2 import SimNordicPpk2
    from energybench.sim.physics.timeline import Timeline

    tl = Timeline(supply_voltage_v=0.0, output_on=False)
    tl.set_load_current(0.0, 3e-3)
    for k in range(2000):  # an inference every 20 ms: 12 mA, the timestamp pulse, a range switch
        t = 0.01 + 0.02 * k
        tl.set_load_current(t, 12e-3)
        tl.set_load_current(t + 0.008, 3e-3)
        tl.set_pin("timestamp", t, False)
        tl.set_pin("timestamp", t + 1e-4, True)
    sim = SimNordicPpk2(tl, idle_speed=1000.0).start()
    print(sim.resource, flush=True)
    select.select([sys.stdin], [], [])  # until the parent closes stdin
    sim.stop()


def measure(seconds: float, sink_kind: str) -> None:
    from energybench.acquisition.sinks import CountingSink
    from energybench.acquisition.stream import StreamAcquisition
    from energybench.instruments.capabilities import StreamRequest, SyncSpec
    from energybench.instruments.nordic_ppk2 import NordicPpk2
    from energybench.instruments.supply_limits import SafetyLimits
    from energybench.traces.jls_writer import JlsWriter

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        port = child.stdout.readline().strip()  # type: ignore[union-attr]
        meter = NordicPpk2.open(port, SafetyLimits(3.3, 0.1))
        meter.set_voltage(1.8)
        meter.set_current_limit(0.05)
        meter.set_output(True)
        request = StreamRequest(100_000, sync=SyncSpec("digital_channel", "d0"))
        if sink_kind == "jls":
            path = Path(tempfile.mkdtemp()) / "ppk2.jls"
            names = tuple(f"d{k}" for k in range(8))
            sink = JlsWriter(path, sample_rate_hz=100_000, digital_names=names, current_range=True)
        else:
            sink = CountingSink()
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        with StreamAcquisition(meter, sink, request) as acq:
            time.sleep(seconds)
        result = acq.result
        wall = time.monotonic() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        rate = result.samples / wall
        print(f"sink: {sink_kind}")
        print(f"samples: {result.samples} in {wall:.1f} s wall = {rate:,.0f} samples/s "
              f"({rate / 100_000:.1f}x the PPK2's 100 kS/s)")  # fmt: skip
        print(f"cpu: {100 * cpu / wall:.0f} % of one core")
        print(f"lost: {sum(d.count for d in result.dropped)} samples; edges: {result.edges}")
        meter.safe_shutdown()
        meter.close()
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        child.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sink", choices=("count", "jls"), default="count")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    else:
        measure(args.seconds, args.sink)
