"""Cost of analyze's plausibility check (every sample the analysis reads, checked against the
instrument's bounds): the same analysis of one JLS file with and without the check, best of
three, and the samples per second of each.

    python bench/analyze_checks.py [--samples N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from energybench.analysis.plausibility import Bounds, SampleCheck
from energybench.analysis.report import analyze_trace
from energybench.analysis.trace import TraceChunk
from energybench.traces.jls import read_jls
from energybench.traces.jls_writer import JlsWriter

RATE_HZ = 1_000_000.0
BLOCK = 1_000_000


def _write(path: Path, n: int) -> None:
    """Idle 1 mA at 1.8 V with a 6 mA window and its two timestamp pulses in every other
    block of a million samples."""
    with JlsWriter(path, sample_rate_hz=RATE_HZ, digital_names=("gpi[0]",)) as writer:
        for k, first in enumerate(range(0, n, BLOCK)):
            current = np.full(BLOCK, 0.001, np.float32)
            bits = np.ones(BLOCK, bool)
            if k % 2 == 0:
                current[1000:900_000] = 0.006
                bits[1000:1100] = False
                bits[900_000:900_100] = False
            voltage = np.full(BLOCK, 1.8, np.float32)
            writer.append(TraceChunk(first, RATE_HZ, current, voltage, {"gpi[0]": bits}))


def _best(path: Path, checked: bool) -> float:
    times = []
    for _ in range(3):
        trace = read_jls(path)
        if checked:
            trace = SampleCheck(trace, Bounds.generic()).observe()
        start = time.perf_counter()
        analyze_trace(trace, sync_line="gpi[0]")
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000_000)
    args = parser.parse_args()
    n = args.samples // BLOCK * BLOCK
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.jls"
        _write(path, n)
        plain, checked = _best(path, False), _best(path, True)
    print(f"{n:,} samples at 1 MS/s from JLS, best of 3:")
    print(f"  analysis without the check: {plain:.3f} s ({n / plain / 1e6:.0f} M samples/s)")
    print(f"  analysis with the check:    {checked:.3f} s ({n / checked / 1e6:.0f} M samples/s)")
    print(f"  the check costs {(checked - plain) / n * 1e9:.1f} ns per sample")


if __name__ == "__main__":
    main()
