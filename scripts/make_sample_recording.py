"""Generate examples/sample.jls, the bundled recording the README's main job analyses.

A simulated MLPerf Tiny energy run on a 1.8 V rail: a boot pulse on the timestamp line
``gpi[0]``, then 5 windows, each bounded by two falling edges and holding 10 inferences with a
layer-by-layer current profile, separated by input-download phases. Rendered from a
:class:`energybench.sim.physics.timeline.Timeline` at 100 kHz (point samples) and written with
:func:`energybench.traces.jls_writer.write_jls`. Prints the ground truth (exact energies from the
timeline) that examples/README.md quotes. Deterministic: same samples on every run.

    python scripts/make_sample_recording.py [output.jls]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from energybench.analysis.trace import SourceInfo, Trace
from energybench.sim.physics.timeline import Timeline
from energybench.traces.jls_writer import write_jls

SAMPLE_RATE_HZ = 100_000.0
SUPPLY_V = 1.8
OUTPUT_RESISTANCE_OHM = 0.25
N_WINDOWS = 5
INFERENCES = 10
T0_UTC_NS = 1_795_867_200_000_000_000  # 2026-11-28T12:00:00Z
PIN = "gpi[0]"


def build_timeline(seed: int = 20261128) -> tuple[Timeline, list[tuple[float, float]]]:
    """The simulated run; returns the timeline and the (start, stop) times of each window."""
    rng = np.random.default_rng(seed)
    tl = Timeline(
        supply_voltage_v=SUPPLY_V,
        output_on=True,
        output_resistance_ohm=OUTPUT_RESISTANCE_OHM,
        pins=((PIN, True),),
    )
    layers_s = np.array([2.1, 4.7, 3.3, 5.2, 2.9, 1.6]) * 1e-3  # one inference ≈ 19.8 ms
    layers_a = np.array([7.9, 11.6, 9.4, 12.3, 8.8, 6.1]) * 1e-3
    t = 0.0
    tl.set_load_current(t, 2.1e-3)  # idle after power-up

    def pulse(t_fall: float, low_s: float) -> None:
        tl.set_pin(PIN, t_fall, False)
        tl.set_pin(PIN, t_fall + low_s, True)

    t = 0.0312345
    pulse(t, 20e-6)  # boot pulse from th_timestamp_initialize()
    windows = []
    t += 0.0473
    for _ in range(N_WINDOWS):
        # download of the next input over the UART: noisy 3.5-5 mA steps every ~1 ms
        t_end = t + 0.08 + rng.uniform(0, 0.004)
        while t < t_end:
            tl.set_load_current(t, rng.uniform(3.5e-3, 5.0e-3))
            t += rng.uniform(0.6e-3, 1.4e-3)
        tl.set_load_current(t, 2.6e-3)
        t += 1.37e-3
        start = t
        pulse(start, 1.1e-3)  # the first pulse's low time is inside the window
        for _ in range(INFERENCES):
            for dur, amps in zip(layers_s, layers_a, strict=True):
                tl.set_load_current(t, amps * rng.uniform(0.97, 1.03))
                t += dur * rng.uniform(0.995, 1.005)
            tl.set_load_current(t, 4.2e-3)  # bookkeeping between inferences
            t += 0.23e-3
        stop = t
        pulse(stop, 1.1e-3)
        windows.append((start, stop))
        tl.set_load_current(t, 3.1e-3)  # results over the UART
        t += 0.0117
        tl.set_load_current(t, 2.1e-3)
        t += 0.0189
    tl.advance_to(t + 0.01)
    return tl, windows


def main(argv: list[str]) -> int:
    out = (
        Path(argv[1]) if len(argv) > 1 else Path(__file__).parent.parent / "examples" / "sample.jls"
    )
    tl, windows = build_timeline()
    n = int(tl.now_s * SAMPLE_RATE_HZ)
    r = tl.render(0.0, SAMPLE_RATE_HZ, n, kind="point")
    trace = Trace.from_arrays(
        r.current_a.astype(np.float32),
        r.voltage_v.astype(np.float32),
        SAMPLE_RATE_HZ,
        digital={PIN: r.pins[PIN]},
        t0_utc_ns=T0_UTC_NS,
        source=SourceInfo(
            instrument="energybench virtual lab",
            resource="scripts/make_sample_recording.py",
            description="simulated MLPerf Tiny energy run, 5 windows x 10 inferences, 1.8 V",
        ),
    )
    write_jls(out, trace)
    falls = tl.edges(PIN, "falling")
    print(f"wrote {out} ({out.stat().st_size} bytes): {n} samples at {SAMPLE_RATE_HZ:.0f} Hz, "
          f"{n / SAMPLE_RATE_HZ:.6f} s, {len(falls)} falling edges on {PIN}")  # fmt: skip
    print(f"boot pulse falling edge at {falls[0]:.7f} s")
    print("window  start_s     stop_s      duration_s  energy_uJ    energy_per_inference_uJ")
    per_inf = []
    for k, (a, b) in enumerate(windows):
        e = tl.energy_j(a, b)
        per_inf.append(e / INFERENCES)
        print(f"{k:6d}  {a:.7f}  {b:.7f}  {b - a:.7f}   {e * 1e6:10.4f}   "
              f"{e / INFERENCES * 1e6:10.5f}")  # fmt: skip
    print(f"median energy per inference: {np.median(per_inf) * 1e6:.5f} uJ")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
