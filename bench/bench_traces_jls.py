"""JLS throughput: streaming write (JlsWriter), open with the NaN scan, chunked read.

    python bench/bench_traces_jls.py [n_samples]   (default 20 M samples at 1 MHz)

Prints samples per second for each phase and the file size per sample; nothing is asserted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from energybench.analysis.trace import TraceChunk
from energybench.traces.jls import read_jls
from energybench.traces.jls_writer import JlsWriter

RATE_HZ = 1_000_000
CHUNK = 1 << 16


def main(argv: list[str]) -> int:
    n = int(float(argv[1])) if len(argv) > 1 else 20_000_000
    rng = np.random.default_rng(0)
    current = rng.normal(5e-3, 1e-3, CHUNK).astype(np.float32)
    voltage = np.full(CHUNK, 1.8, np.float32)
    bits = rng.random(CHUNK) < 0.5
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jls"
        t0 = time.perf_counter()
        with JlsWriter(path, sample_rate_hz=RATE_HZ, digital_names=("gpi[0]",)) as w:
            for first in range(0, n, CHUNK):
                k = min(CHUNK, n - first)
                w.append(TraceChunk(first, RATE_HZ, current[:k], voltage[:k], {"gpi[0]": bits[:k]}))
        t_write = time.perf_counter() - t0
        size = path.stat().st_size
        t0 = time.perf_counter()
        trace = read_jls(path)
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        total = 0.0
        for chunk in trace.chunks(1 << 20):
            total += float(np.sum(chunk.power_w()))
        t_read = time.perf_counter() - t0
    print(f"samples: {n} at {RATE_HZ} Hz (current, voltage f32 + gpi[0] u1)")
    print(
        f"write (JlsWriter.append, 64 Ki chunks): {n / t_write / 1e6:8.2f} MS/s  ({t_write:.2f} s)"
    )
    print(f"file size: {size / n:.2f} bytes/sample ({size / 1e6:.1f} MB)")
    print(f"open incl. NaN scan:                    {n / t_open / 1e6:8.2f} MS/s  ({t_open:.2f} s)")
    print(f"chunked read + v*i sum (1 Mi chunks):   {n / t_read / 1e6:8.2f} MS/s  ({t_read:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
