"""How fast the Otii driver pulls a finished recording out of the simulated Otii TCP server.

Records ``--seconds`` of virtual time at ``--rate`` (the simulator advances the idle timeline
itself), stops, then drains it through ``OtiiArc.chunks`` (mc, mv and i1 as JSON) and prints
samples/s of the drain and the JSON requests it took.

    .venv/bin/python bench/otii_fetch.py [--seconds 60] [--rate 4000] [--chunk 40000]

Then Qoitech's own client (``otii-tcp-client``, a separate process) reads the same finished
recording (mc, mv in its fixed 40 000-sample chunks, i1), for the figures behind the choice of
our own JSON client in energybench/instruments/otii.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from energybench.instruments.capabilities import StreamRequest, SyncSpec
from energybench.instruments.otii import OtiiArc
from energybench.sim.instruments.otii.otii import SimOtiiArc
from energybench.sim.physics.timeline import Timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=4000)
    parser.add_argument("--chunk", type=int, default=40_000)
    args = parser.parse_args()
    tl = Timeline(supply_voltage_v=1.8, output_on=True)
    tl.set_load_current(0.0, 5e-3)
    model = "Arc" if args.rate == 4000 else "Ace"
    sim = SimOtiiArc(tl, sample_rate_hz=args.rate, model=model).start()
    try:
        with OtiiArc.open(sim.resource, chunk_samples=args.chunk) as driver:
            driver.configure_stream(StreamRequest(args.rate, sync=SyncSpec("digital_channel")))
            driver.start()
            chunks = driver.chunks(timeout_s=30.0)
            tl.advance_to(tl.now_s + args.seconds)
            driver.stop()
            n_requests = len(sim.commands)
            t0 = time.perf_counter()
            samples = sum(c.n_samples for c in chunks)
            wall = time.perf_counter() - t0
            n_requests = len(sim.commands) - n_requests
        official = subprocess.run(
            [sys.executable, "-c", OFFICIAL, str(sim.tcp.port)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        sim.stop()
    print(f"{samples} samples ({args.seconds:g} s at {args.rate} Hz, chunks of {args.chunk})")
    print(f"energybench   : drained in {wall:.3f} s: {samples / wall:,.0f} samples/s, "
          f"{n_requests} requests")  # fmt: skip
    if official.returncode != 0:
        print(f"otii-tcp-client failed: {official.stderr.strip().splitlines()[-1:]}")
    else:
        print(f"otii-tcp-client: {official.stdout.strip()}")


# Qoitech's client reading the last recording (mc and mv in its chunks, then i1), timed
OFFICIAL = """
import sys, time
from otii_tcp_client import otii_client
client = otii_client.OtiiClient()
otii = client.connect(port=int(sys.argv[1]))
arc = otii.get_devices()[0]
recording = otii.get_active_project().get_last_recording()
t0 = time.perf_counter()
n = 0
for channel in ("mc", "mv"):
    count = recording.get_channel_data_count(arc.id, channel)
    n += len(recording.get_channel_data(arc.id, channel, 0, count)["values"])
count = recording.get_channel_data_count(arc.id, "i1")
recording.get_channel_data(arc.id, "i1", 0, count)
wall = time.perf_counter() - t0
client.disconnect()
print(f"drained in {wall:.3f} s: {n / 2 / wall:,.0f} samples/s (mc+mv as lists of floats)")
"""


if __name__ == "__main__":
    main()
