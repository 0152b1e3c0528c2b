"""Throughput and CPU cost of the acquisition layer consuming the 2 MS/s streaming source.

The simulator runs in a child process (so its rendering is not counted); this process runs the
sim_stream driver + StreamAcquisition (reader and writer threads) into a sink and prints
sustained samples/s, the CPU it used (process CPU time / wall; 100 % = one core), and dropped
samples (expected: zero). The child's CPU is printed separately.

    .venv/bin/python bench/acquisition_throughput.py [--seconds 60] [--rate 2000000]
        [--sink count|jls] [--path /tmp/x.jls] [--range-a 0.18]

``--sink jls`` records through energybench.traces.jls_writer.JlsWriter.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve(rate_hz: int) -> None:
    """Child: a streaming source whose idle time passes as fast as it can be rendered."""
    from energybench.sim.instruments.stream_source import SimStreamSource
    from energybench.sim.physics.timeline import Timeline

    tl = Timeline(supply_voltage_v=3.3, output_on=True, output_resistance_ohm=0.05)
    tl.set_load_current(0.0, 2e-3)
    for k in range(200):  # a window every 2 s: timestamp pulses and active current
        t = 0.5 + 2.0 * k
        tl.set_pin("timestamp", t, False)
        tl.set_load_current(t, 20e-3)
        tl.set_pin("timestamp", t + 1e-5, True)
        tl.set_pin("timestamp", t + 1.0, False)
        tl.set_load_current(t + 1.0, 2e-3)
        tl.set_pin("timestamp", t + 1.0 + 1e-5, True)
    src = SimStreamSource(tl, sample_rate_hz=rate_hz, idle_speed=1e6).start()
    print(src.resource, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    src.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="virtual seconds to record")
    parser.add_argument("--rate", type=int, default=2_000_000, help="sample rate in Hz")
    parser.add_argument("--sink", choices=("count", "jls"), default="count")
    parser.add_argument("--path", default="/tmp/energybench_throughput.jls")
    parser.add_argument("--range-a", type=float, default=0.18, help="fixed current range (A)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.rate)
        return

    from energybench.acquisition import CountingSink, acquire_for
    from energybench.instruments.capabilities import StreamRequest, SyncSpec
    from energybench.instruments.sim_stream import SimStreamMeter

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--rate", str(args.rate)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        if not select.select([child.stdout], [], [], 60.0)[0]:
            raise SystemExit("the simulator child printed no resource within 60 s")
        resource_str = child.stdout.readline().strip()
        meter = SimStreamMeter.open(resource_str)
        # a fixed range, as a run records after its ranging pass (each sample's range index is
        # streamed and written, as in a run)
        sync = SyncSpec("digital_channel", "gpi[0]")
        request = StreamRequest(args.rate, current_range_a=args.range_a, sync=sync)
        if args.sink == "jls":
            from energybench.traces.jls_writer import JlsWriter

            sink = JlsWriter(
                args.path, sample_rate_hz=args.rate, digital_names=("gpi[0]",), current_range=True
            )
        else:
            sink = CountingSink()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = acquire_for(meter, sink, request, args.seconds, timeout_s=args.seconds * 20 + 30)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        meter.close()
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=30)
    child_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    samples = result.samples
    print(f"recorded      {samples:,} samples ({samples / args.rate:.1f} s at {args.rate:,} Hz)")
    print(f"sink          {args.sink}" + (f" -> {args.path}" if args.sink == "jls" else ""))
    print(f"wall          {wall:.2f} s   sustained {samples / wall / 1e6:.2f} MS/s "
          f"({samples / wall / args.rate:.2f}x real time)")  # fmt: skip
    per_realtime = 100 * cpu / (samples / args.rate)
    print(f"consumer CPU  {cpu:.2f} s = {100 * cpu / wall:.0f} % of one core over the wall time, "
          f"{per_realtime:.1f} % of one core per real-time second")  # fmt: skip
    print(f"simulator CPU {child_cpu.ru_utime + child_cpu.ru_stime:.2f} s (child process)")
    print(f"dropped       {result.dropped_samples} samples in {len(result.dropped)} ranges; "
          f"edges seen {result.edges}; flagged {result.flagged}")  # fmt: skip


if __name__ == "__main__":
    main()
