"""Cost of the idle baseline per energy window at 2 MS/s: the quiet-span search after one
window's end edge (up to 2 s of samples read, 2 ms blocks), from memory and from a JLS file,
best of five, beside the cost of integrating the 10 s window itself.

    python bench/baseline_cost.py [--rate-hz 2e6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from energybench.analysis.baseline import SEARCH_S, idle_baseline
from energybench.analysis.integrate import integrate_windows
from energybench.analysis.trace import Trace, TraceChunk
from energybench.analysis.windows import Window
from energybench.traces.jls import read_jls
from energybench.traces.jls_writer import JlsWriter

WINDOW_S = 10.0
BLOCK = 1_000_000


def _current(rate_hz: float) -> tuple[np.ndarray, float]:
    """A 10 s window at 12.5 mA, then 4 ms of UART at 3.3 mA and 2.5 s of 3 mA idle, with
    50 µA rms noise; the end edge's position."""
    rng = np.random.default_rng(0)
    parts = [
        np.full(int(WINDOW_S * rate_hz), 0.0125),
        np.full(int(0.004 * rate_hz), 0.0033),
        np.full(int(2.5 * rate_hz), 0.003),
    ]
    current = np.concatenate(parts)
    current += rng.normal(0.0, 5e-5, current.size)
    return current.astype(np.float32), float(parts[0].size) - 0.3


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-hz", type=float, default=2e6)
    rate = parser.parse_args().rate_hz
    current, end = _current(rate)
    memory = Trace.from_arrays(current, np.full(current.size, 1.8, np.float32), rate)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "window.jls"
        with JlsWriter(path, sample_rate_hz=rate) as writer:
            for first in range(0, current.size, BLOCK):
                part = current[first : first + BLOCK]
                voltage = np.full(part.size, 1.8, np.float32)
                writer.append(TraceChunk(first, rate, part, voltage))
        on_disk = read_jls(path)
        base = idle_baseline(memory, end)
        window = [Window(0, 0.0, end, 1)]
        t_mem = _best(lambda: idle_baseline(memory, end))
        t_jls = _best(lambda: idle_baseline(on_disk, end))
        t_int = _best(lambda: integrate_windows(on_disk, window), repeat=3)
    print(f"rate {rate:.0f} Hz; search up to {SEARCH_S:g} s after the end edge")
    print(
        f"baseline {base.power_w * 1e3:.5f} mW (truth 5.40000 mW) over {base.span_s:.3f} s, "
        f"U (k=2, scatter) {2 * base.power_standard_w * 1e6:.3f} µW"
    )
    print(f"baseline per window: {t_mem * 1e3:.1f} ms from memory, {t_jls * 1e3:.1f} ms from JLS")
    print(
        f"integrating the {WINDOW_S:g} s window from JLS: {t_int * 1e3:.1f} ms "
        f"(the baseline adds {t_jls / t_int:.1%})"
    )


if __name__ == "__main__":
    main()
