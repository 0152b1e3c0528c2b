"""Time and size of `energybench report` on a long 2 MS/s recording.

Writes a run folder holding a JLS trace in the Joulescope layout (``current`` f32 and the
``gpi[0]`` timestamp line; the voltage is left out to halve the disk space, the report draws
the current only) of ``--minutes`` at 2 MS/s with five energy windows, and a results.json
describing them; then times ``write_report`` on it (in a child process, so the figure is the
report alone, from a cold start of the reader) and prints the HTML file's size.

    python bench/report_size.py [--minutes 60] [--tmp DIR] [--keep]

An hour at 2 MS/s is 7.2 G samples: ~29 GB of current plus 0.9 GB of digital line on disk.
The report reads the JLS summary levels, so its time does not grow with the length; run a
shorter --minutes to see that on a machine without the disk space.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FS = 2_000_000
CHUNK = 1 << 22
LINE = "gpi[0]"


def _windows(n: int) -> list[tuple[int, int]]:
    span = n // 5
    return [(k * span + span // 8, k * span + span // 8 + (span * 3) // 4) for k in range(5)]


def write_trace(path: Path, n: int) -> float:
    import pyjls

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    idle = (3e-3 + 5e-5 * rng.standard_normal(CHUNK)).astype(np.float32)
    active = idle + np.float32(9.5e-3)
    windows = _windows(n)
    w = pyjls.Writer(str(path))
    try:
        w.source_def(
            source_id=1,
            name="JS220",
            vendor="Jetperch",
            model="JS220",
            version="",
            serial_number="bench",
        )
        w.signal_def(
            signal_id=1,
            source_id=1,
            signal_type=pyjls.SignalType.FSR,
            data_type=pyjls.DataType.F32,
            sample_rate=FS,
            name="current",
            units="A",
        )
        w.signal_def(
            signal_id=3,
            source_id=1,
            signal_type=pyjls.SignalType.FSR,
            data_type=pyjls.DataType.U1,
            sample_rate=FS,
            name=LINE,
            units="",
        )
        for a in range(0, n, CHUNK):
            b = min(a + CHUNK, n)
            inside = np.zeros(b - a, dtype=bool)
            level = np.ones(b - a, dtype=bool)
            for start, stop in windows:
                lo, hi = max(start, a), min(stop, b)
                if lo < hi:
                    inside[lo - a : hi - a] = True
                for edge in (start, stop):  # a 100 µs low pulse at each edge
                    lo, hi = max(edge, a), min(edge + 200, b)
                    if lo < hi:
                        level[lo - a : hi - a] = False
            current = np.where(inside, active[: b - a], idle[: b - a])
            w.fsr_f32(1, a, current)
            w.fsr(3, a, np.packbits(level, bitorder="little"))
    finally:
        w.close()
    return time.perf_counter() - t0


def write_results(folder: Path, n: int) -> None:
    windows = []
    for k, (start, stop) in enumerate(_windows(n)):
        duration = (stop - start) / FS
        energy = 1.8 * 12.5e-3 * duration
        inferences = max(1, round(duration / 0.0087))
        windows.append(
            {
                "index": k,
                "attempt": 0,
                "file": f"input_{k}.bin",
                "inferences": inferences,
                "warmups": 10,
                "valid": True,
                "problems": [],
                "duration_s": duration,
                "energy_j": energy,
                "energy_per_inference_j": energy / inferences,
                "energy_uncertainty_j": energy * 1e-3,
                "mean_power_w": energy / duration,
                "latency_s": duration / inferences,
                "start_s": start / FS,
                "stop_s": stop / FS,
                "missing_samples": 0,
                "edge_source": f"digital_channel {LINE} falling",
            }
        )
    per_inf = [w["energy_per_inference_j"] for w in windows]
    data = {
        "workload": "kws01",
        "mode": "energy",
        "valid": True,
        "validity": [],
        "notes": [],
        "aborted": None,
        "windows": windows,
        "figures": {
            "trace_file": "trace.jls",
            "trace_sample_rate_hz": FS,
            "median_energy_per_inference_j": float(np.median(per_inf)),
            "energy_per_inference_uncertainty_j": 1e-3 * float(np.median(per_inf)),
            "latency_s": windows[0]["latency_s"],
        },
        "provenance": {
            "energybench_version": "bench",
            "meter": {"vendor": "Jetperch", "model": "JS220", "serial_number": "bench"},
            "bench": {"meter_driver": "joulescope", "sync": {"line": LINE}},
        },
    }
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")


def child(folder: str, out: str) -> None:
    t0 = time.perf_counter()
    from energybench.report.html import write_report
    from energybench.report.runs import find_runs

    write_report(out, runs=find_runs(folder))
    print(json.dumps({"elapsed_s": time.perf_counter() - t0}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--tmp", type=Path, default=None, help="folder for the run (needs the space)")
    p.add_argument("--keep", action="store_true", help="keep the run folder")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    n = int(args.minutes * 60 * FS)
    tmp = Path(tempfile.mkdtemp(prefix="eb-report-", dir=args.tmp))
    try:
        folder = tmp / "run"
        folder.mkdir()
        wtime = write_trace(folder / "trace.jls", n)
        write_results(folder, n)
        size = (folder / "trace.jls").stat().st_size
        print(
            f"[trace]  {args.minutes:g} min at 2 MS/s = {n / 1e9:.2f} G samples, "
            f"{size / 1e9:.2f} GB JLS (current + {LINE}), written in {wtime:.0f} s"
        )
        out = tmp / "report.html"
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(folder), str(out)],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        elapsed = json.loads(done.stdout.strip().splitlines()[-1])["elapsed_s"]
        print(
            f"[report] energybench report (child process, imports included): {elapsed:.1f} s, "
            f"{out.stat().st_size / 1e6:.2f} MB self-contained HTML (limits: 30 s, 5 MB)"
        )
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
