"""Throughput of the analysis pipeline (edges → pairing → integration → statistics).

Prints, in one run:
1. samples/s on a 100 M-sample float32 current/voltage + digital trace in memory;
2. the same trace written to a JLS file (Joulescope layout: source 1, signals ``current``,
   ``voltage``, ``gpi[0]``) with pyjls and analysed from disk through
   ``energybench.traces.jls.read_jls``;
3. the same samples through a per-sample Python loop like the MLCommons JS220 reader
   (docs/reference-runner.md#js220-path) on a few million samples, extrapolated, and the ratio;
4. the one-hour 2 MS/s check, in child processes so peak RSS is the analysis alone:
   a virtual hour (7.2e9 generated samples streamed chunk by chunk, no disk) and a scaled
   on-disk run of ``--hour-minutes`` minutes of 2 MS/s JLS, with the time extrapolated to 60 min.

    python bench/analysis_throughput.py [--samples N] [--hour-minutes M] [--skip-hour]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from energybench.analysis.report import analyze_trace
from energybench.analysis.trace import Trace, TraceChunk
from energybench.traces.jls import read_jls

LINE = "gpi[0]"
CHUNK = 1 << 22
READER = "energybench.traces.jls.read_jls (with its NaN scan)"


def _layout(n: int) -> tuple[list[int], int]:
    """Level changes of a boot pulse and 5 timed loops covering 75 % of ``n`` samples."""
    changes = [100, 110]
    span = n // 5
    for k in range(5):
        start = k * span + span // 16
        stop = start + (span * 3) // 4
        changes += [start, start + 10, stop, stop + 10]
    return changes, 5


def _levels(start: int, stop: int, changes: list[int]) -> np.ndarray:
    bits = np.ones(stop - start, dtype=bool)
    for a, b in zip(changes[::2], changes[1::2], strict=True):
        lo, hi = max(a, start), min(b, stop)
        if lo < hi:
            bits[lo - start : hi - start] = False
    return bits


def _signals(start: int, stop: int, rng_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(rng_seed + start)
    n = stop - start
    current = rng.standard_normal(n, dtype=np.float32)
    current *= 2e-4
    current += 5e-3
    voltage = rng.standard_normal(n, dtype=np.float32)
    voltage *= 1e-3
    voltage += 3.3
    return current, voltage


def _analyze(trace: Trace, windows: int) -> tuple[float, object]:
    t0 = time.perf_counter()
    report = analyze_trace(
        trace,
        sync_line=LINE,
        inferences=1000,
        skip_leading_edges=1,
        expected_windows=windows,
        chunk_samples=CHUNK,
    )
    return time.perf_counter() - t0, report


def bench_memory(n: int, fs: float) -> tuple[float, Trace, list[int]]:
    changes, windows = _layout(n)
    current, voltage = _signals(0, n)
    trace = Trace.from_arrays(
        current, voltage, fs, digital={LINE: _levels(0, n, changes)}, missing=()
    )
    _analyze(trace, windows)  # warm-up
    best = min(_analyze(trace, windows)[0] for _ in range(3))
    rate = n / best
    print(
        f"[memory] {n / 1e6:.0f} M samples float32 I/V + 1 digital line: best of 3 = "
        f"{best:.3f} s -> {rate / 1e6:.0f} MS/s (target >= 250 MS/s)"
    )
    return rate, trace, changes


def write_jls(path: Path, n: int, fs: float, changes: list[int]) -> float:
    """Joulescope layout written with pyjls directly, generated chunk by chunk."""
    import pyjls

    t0 = time.perf_counter()
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
        for sid, name, dtype, units in (
            (1, "current", pyjls.DataType.F32, "A"),
            (2, "voltage", pyjls.DataType.F32, "V"),
            (3, LINE, pyjls.DataType.U1, ""),
        ):
            w.signal_def(
                signal_id=sid,
                source_id=1,
                signal_type=pyjls.SignalType.FSR,
                data_type=dtype,
                sample_rate=int(fs),
                name=name,
                units=units,
            )
        for a in range(0, n, CHUNK):
            b = min(a + CHUNK, n)
            current, voltage = _signals(a, b)
            w.fsr_f32(1, a, current)
            w.fsr_f32(2, a, voltage)
            w.fsr(3, a, np.packbits(_levels(a, b, changes), bitorder="little"))
    finally:
        w.close()
    return time.perf_counter() - t0


def bench_disk(n: int, fs: float, changes: list[int], tmp: Path) -> float:
    path = tmp / "bench.jls"
    wtime = write_jls(path, n, fs, changes)
    size = path.stat().st_size
    t0 = time.perf_counter()
    trace = read_jls(path)
    topen = time.perf_counter() - t0
    elapsed, _ = _analyze(trace, 5)
    rate = n / (elapsed + topen)
    print(f"[disk]   {size / 1e6:.0f} MB JLS written in {wtime:.1f} s; read via {READER}")
    print(
        f"         open {topen:.2f} s + analysis {elapsed:.2f} s -> {rate / 1e6:.0f} MS/s "
        "(file just written: page cache warm, not a cold-disk figure)"
    )
    path.unlink()
    return rate


def reference_loop(current: np.ndarray, voltage: np.ndarray, gpi: np.ndarray, fs: float) -> list:
    """The MLCommons JS220 reader's per-raw-sample Python loop
    (docs/reference-runner.md#js220-path)."""
    out: list = []
    energy, count, last, pending = 0.0, 0, False, False
    for i, v, lsb in zip(current, voltage, gpi, strict=True):  # numpy arrays, as samples_get
        energy += i * v / fs
        state = lsb > 0
        if state and not last:
            pending = True
        last = state
        count += 1
        if count >= 1000 or pending:
            out.append(energy)
            energy, count = 0.0, 0
            if pending:
                out.append("event ris")
                pending = False
    return out


def bench_loop(trace: Trace, samples: int, pipeline_rate: float) -> None:
    chunk = trace.read(trace.first_sample_id, trace.first_sample_id + samples)
    t0 = time.perf_counter()
    reference_loop(chunk.current_a, chunk.voltage_v, chunk.digital[LINE], trace.sample_rate_hz)
    elapsed = time.perf_counter() - t0
    rate = samples / elapsed
    print(
        f"[loop]   per-sample Python loop on {samples / 1e6:.1f} M samples: {elapsed:.2f} s -> "
        f"{rate / 1e6:.2f} MS/s; extrapolated to {trace.n_samples / 1e6:.0f} M samples: "
        f"{trace.n_samples / rate:.0f} s"
    )
    print(f"         pipeline in memory / loop = {pipeline_rate / rate:.0f}x (target >= 150x)")


# ---- one-hour check (child processes) ------------------------------------------------------


def _peak_rss_mb() -> float:
    """Peak RSS of this process image: VmHWM (ru_maxrss would include the parent's peak, which
    Linux carries across fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # fallback (KiB)


def child_virtual_hour(fs: float, seconds: float) -> dict:
    """Stream a generated trace of ``seconds`` at ``fs`` through the pipeline."""
    n = int(fs * seconds)
    changes, windows = _layout(n)
    template_i, template_v = _signals(0, CHUNK)

    def read(start: int, stop: int) -> TraceChunk:
        k = stop - start
        return TraceChunk(
            start, fs, template_i[:k], template_v[:k], {LINE: _levels(start, stop, changes)}
        )

    trace = Trace(
        sample_rate_hz=fs, first_sample_id=0, n_samples=n, reader=read, digital_names=(LINE,)
    )
    elapsed, report = _analyze(trace, windows)
    return {
        "samples": n,
        "elapsed_s": elapsed,
        "peak_rss_mb": _peak_rss_mb(),
        "windows": len(report.windows),
    }


def child_write(path: str, fs: float, seconds: float) -> dict:
    n = int(fs * seconds)
    changes, _ = _layout(n)
    elapsed = write_jls(Path(path), n, fs, changes)
    return {"samples": n, "elapsed_s": elapsed, "bytes": Path(path).stat().st_size}


def child_disk(path: str) -> dict:
    t0 = time.perf_counter()
    trace = read_jls(Path(path))
    topen = time.perf_counter() - t0
    elapsed, report = _analyze(trace, 5)
    return {
        "samples": trace.n_samples,
        "elapsed_s": elapsed + topen,
        "reader": READER,
        "peak_rss_mb": _peak_rss_mb(),
        "windows": len(report.windows),
    }


def _child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_hour(minutes: float, tmp: Path) -> None:
    fs = 2e6
    v = _child("virtual", str(fs), "3600")
    print(
        f"[hour]   virtual 1 h at 2 MS/s: {v['samples'] / 1e9:.1f} G samples streamed in "
        f"{CHUNK >> 20} Mi-sample chunks (I/V are views of one template chunk, digital levels "
        f"built per chunk; no disk): {v['elapsed_s']:.1f} s, "
        f"{v['samples'] / v['elapsed_s'] / 1e6:.0f} MS/s, peak RSS {v['peak_rss_mb']:.0f} MB "
        "(limit 500 MB)"
    )
    path = tmp / "hour.jls"
    w = _child("write", str(path), str(fs), str(minutes * 60))
    d = _child("disk", str(path))
    hour_s = d["elapsed_s"] * 60 / minutes
    print(
        f"[hour]   on disk: {minutes:g} min at 2 MS/s = {w['samples'] / 1e6:.0f} M samples, "
        f"{w['bytes'] / 1e9:.2f} GB JLS (written in {w['elapsed_s']:.0f} s); analysed in "
        f"{d['elapsed_s']:.1f} s, peak RSS {d['peak_rss_mb']:.0f} MB, reader: {d['reader']}"
    )
    if minutes < 60:
        print(
            f"         extrapolated to 60 min (7.2 G samples, "
            f"~{w['bytes'] * 60 / minutes / 1e9:.0f} GB): ~{hour_s:.0f} s; "
            "memory is O(chunk) so RSS does not grow with length "
            "(measured, not extrapolated, on the virtual hour above; --hour-minutes 60 measures "
            "the whole hour on disk)"
        )
    path.unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=100_000_000)
    p.add_argument("--loop-samples", type=int, default=2_000_000)
    p.add_argument("--hour-minutes", type=float, default=1.0)
    p.add_argument("--skip-hour", action="store_true")
    p.add_argument("--skip-disk", action="store_true")
    p.add_argument("--tmp", type=Path, default=None, help="folder for the JLS files")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "virtual":
            result = child_virtual_hour(float(rest[0]), float(rest[1]))
        elif kind == "write":
            result = child_write(rest[0], float(rest[1]), float(rest[2]))
        else:
            result = child_disk(rest[0])
        print(json.dumps(result))
        return
    fs = 1e6
    rate, trace, changes = bench_memory(args.samples, fs)
    bench_loop(trace, args.loop_samples, rate)
    del trace
    if args.tmp is not None:
        args.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if not args.skip_disk:
            bench_disk(args.samples, fs, changes, Path(tmp))
        if not args.skip_hour:
            bench_hour(args.hour_minutes, Path(tmp))


if __name__ == "__main__":
    main()
