"""How fast the Otii driver pulls a finished recording out of the simulated Otii TCP server.

Records ``--seconds`` of virtual time at ``--rate`` (the simulator advances the idle timeline
itself), stops, then drains it through ``OtiiArc.chunks`` (mc, mv and i1 as JSON) and prints
samples/s of the drain and the JSON requests it took.

    .venv/bin/python bench/otii_fetch.py [--seconds 60] [--rate 4000] [--chunk 40000]
"""

from __future__ import annotations

import argparse
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
    finally:
        sim.stop()
    print(f"{samples} samples ({args.seconds:g} s at {args.rate} Hz, chunks of {args.chunk})")
    print(f"drained in {wall:.3f} s: {samples / wall:,.0f} samples/s, {n_requests} requests")


if __name__ == "__main__":
    main()
