"""What the JLS safety net costs: the structural check (every chunk's CRC-32C) that every
``read_jls`` runs before pyjls sees a file, and the recovery of a file its writer never closed
(a child process replaying the intact chunks into a temporary copy).

    python bench/jls_check_cost.py [n_samples]   (default 20 M samples at 1 MHz, ~170 MB)

Prints seconds and MB/s for: the check of a closed file, a plain pyjls open of it for
comparison, and check + recovery + open of the same recording left unclosed; nothing asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from energybench.traces.jls import read_jls
from energybench.traces.jls_check import check_jls

RATE_HZ = 1_000_000

_WRITER = """
import os, sys
import numpy as np
from energybench.analysis.trace import TraceChunk
from energybench.traces.jls_writer import JlsWriter

n, chunk = int(sys.argv[2]), 1 << 16
rng = np.random.default_rng(0)
current = rng.normal(5e-3, 1e-3, chunk).astype(np.float32)
bits = rng.random(chunk) < 0.5
w = JlsWriter(sys.argv[1], sample_rate_hz=1_000_000, digital_names=("gpi[0]",))
for first in range(0, n, chunk):
    k = min(chunk, n - first)
    w.append(TraceChunk(first, 1e6, current[:k], 1.8, {"gpi[0]": bits[:k]}))
if sys.argv[3] == "close":
    w.close()
else:
    w.flush()
    os._exit(0)  # left unclosed, as by SIGKILL
"""


def _write(path: Path, n: int, end: str) -> None:
    subprocess.run([sys.executable, "-c", _WRITER, str(path), str(n), end], check=True)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str]) -> int:
    n = int(float(argv[1])) if len(argv) > 1 else 20_000_000
    with tempfile.TemporaryDirectory() as tmp:
        closed, unclosed = Path(tmp) / "closed.jls", Path(tmp) / "unclosed.jls"
        _write(closed, n, "close")
        _write(unclosed, n, "exit")
        mb = closed.stat().st_size / 1e6
        check, t_check = _timed(lambda: check_jls(closed))
        print(f"file: {n} samples at {RATE_HZ / 1e6:g} MHz, {mb:.1f} MB, {check.chunks} chunks")
        print(f"check (CRC of every chunk), closed file: {t_check:.3f} s ({mb / t_check:.0f} MB/s)")
        trace, t_open = _timed(lambda: read_jls(closed, scan_missing=False))
        trace.reader.close()
        print(f"read_jls (check + pyjls open), closed: {t_open:.3f} s")
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        trace, t_recover = _timed(lambda: read_jls(unclosed, scan_missing=False))
        print(
            f"read_jls of the unclosed file (check + recovery child + open): {t_recover:.3f} s "
            f"({mb / t_recover:.0f} MB/s), {trace.n_samples} of {n} samples recovered"
        )
        trace.reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
