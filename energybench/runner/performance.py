"""Performance mode: 5 windows on 5 different input files, each timed by the DUT's own µs
counter (``m-lap-us``), N scaled from a probe so each window lasts >= 10 s; the figure is the
median throughput. A failed window is re-run (bounded) and kept in the record as invalid."""

from __future__ import annotations

import logging
import statistics

from energybench.errors import DutError, DutTimeoutError
from energybench.runner.abort import ModeAborted, ends_early, measuring
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession
from energybench.runner.mlc_format import (
    PerformanceWindow,
    not_valid_lines,
    performance_results_txt,
)
from energybench.runner.results import ModeResult, WindowRecord
from energybench.workloads.dataset import Sample

log = logging.getLogger(__name__)


def window_files(ctx: RunContext, windows: int, result: ModeResult | None = None) -> list[Sample]:
    """The input files of the windows: the first N of the truth file, as the reference does
    (a set with fewer files repeats them, noted in the result)."""
    samples = ctx.dataset.samples
    if result is not None and len(samples) < windows:
        result.notes.append(
            f"only {len(samples)} input file(s) for {windows} windows: inputs repeat"
        )
    return [samples[k % len(samples)] for k in range(windows)]


def download(ctx: RunContext, dut: DutSession, data: bytes) -> None:
    """``db load`` + ``db <hex>`` of one input, refusing a size other than the workload's: an
    oversize ``db load`` makes the DUT answer with a bare ``\\n`` warning that the interface
    board never relays (it then hangs), so nothing of the wrong size is ever sent."""
    if len(data) != ctx.workload.input_bytes:
        raise DutError(
            f"refusing to download {len(data)} bytes: {ctx.workload.name} inputs are "
            f"{ctx.workload.input_bytes}",
            context="db load",
        )
    verify = ctx.options.verify_downloads or not dut.first_download_checked
    dut.client.load(data, verify=verify)  # the first one read back: a broken link shows early
    dut.first_download_checked = True


def check_alive(dut: DutSession) -> None:
    """After a timeout: is the DUT still answering? Abort the mode if not."""
    try:
        dut.client.command("name", 2.0)
    except DutError as exc:
        raise ModeAborted(
            f"the DUT stopped answering ({exc}); power-cycle it and run again",
            context="dut",
        ) from exc


def probe_latency(ctx: RunContext, dut: DutSession, sample: Sample) -> float:
    """DUT-timed latency of the workload's own count of inferences on one input."""
    counts = ctx.workload.counts("performance")
    download(ctx, dut, sample.first_input(ctx.workload))
    timeout = ctx.options.infer_timeout(ctx.options.min_window_s * 2)
    result = dut.client.infer(counts.inferences, counts.warmups, timeout)
    elapsed = result.dut_elapsed_s
    if not elapsed or elapsed <= 0:
        raise DutError("the probe inference reported no DUT timing", context="infer")
    latency = elapsed / counts.inferences
    ctx.runlog.write("runner", f"probe: {counts.inferences} inferences in {elapsed:.6f} s (DUT)")
    return latency


def _windows(
    ctx: RunContext,
    dut: DutSession,
    result: ModeResult,
    files: list[Sample],
    n: int,
    latency: float,
) -> None:
    """One valid DUT-timed window per input file, each slot re-run at most max_attempts times
    (N scaled up after a window shorter than min_window_s)."""
    wl, opts = ctx.workload, ctx.options
    counts = wl.counts("performance")
    for slot, sample in enumerate(files):
        for attempt in range(opts.max_attempts):
            record = WindowRecord(slot, attempt, sample.file, n, counts.warmups)
            result.windows.append(record)
            inf, timed_out = None, False
            with measuring(record):
                try:
                    download(ctx, dut, sample.first_input(wl))
                    inf = dut.client.infer(n, counts.warmups, opts.infer_timeout(n * latency))
                except DutTimeoutError as exc:
                    record.invalidate(f"DUT timeout: {exc}")
                    timed_out = True
                except DutError as exc:
                    record.invalidate(f"DUT error: {exc}")
            if timed_out:
                check_alive(dut)
            if inf is None:
                continue
            elapsed = inf.dut_elapsed_s
            if elapsed is None or elapsed <= 0:
                record.invalidate("no DUT timing (m-lap-us) in the infer transcript")
                continue
            record.dut_elapsed_s = record.duration_s = elapsed
            record.throughput_per_s = n / elapsed
            record.latency_s = elapsed / n
            if elapsed < opts.min_window_s:
                record.invalidate(f"window lasted {elapsed:.3f} s < {opts.min_window_s:g} s")
                n = min(opts.scaled_inferences(elapsed / n, n + 1), 4 * n)  # re-run, more N
                record.problems.append(f"re-run with N={n}")
                continue
            break
        ctx.progress.advance()


def run_performance(
    ctx: RunContext, dut: DutSession, result: ModeResult | None = None
) -> ModeResult:
    """Performance mode into ``result`` (the orchestrator's, so an interrupted run keeps what
    was measured)."""
    wl, opts = ctx.workload, ctx.options
    counts = wl.counts("performance")
    result = result if result is not None else ModeResult(wl.name, "performance")
    windows = ctx.windows("performance")
    files = window_files(ctx, windows, result)
    ctx.progress.start(f"{wl.name} performance", windows + 1)
    try:
        with ends_early(result, ctx.runlog):
            latency = probe_latency(ctx, dut, files[0])
            n = opts.scaled_inferences(latency, counts.inferences)
            result.figures["probe_latency_s"] = latency
            result.figures["inferences_per_window"] = n
            ctx.progress.advance()
            _windows(ctx, dut, result, files, n, latency)  # the attempts so far stay recorded
    finally:  # also when the run is interrupted: the windows so far are summarised
        _finish(result, windows, opts.max_attempts)
    return result


def _finish(result: ModeResult, windows: int, max_attempts: int) -> None:
    valid = result.valid_windows
    txt_windows = [PerformanceWindow(w.duration_s, w.inferences) for w in valid]  # type: ignore[arg-type]
    result.results_txt = performance_results_txt(txt_windows)
    if len(valid) != windows:
        why = "" if result.aborted else f" (a slot failed {max_attempts} attempts)"
        result.validity.append(f"{len(valid)} valid window(s), {windows} required{why}")
    if valid:
        throughput = statistics.median(w.throughput_per_s for w in valid)  # type: ignore[misc]
        result.figures.update(
            median_throughput_per_s=throughput,
            latency_s=1.0 / throughput,
            window_throughputs_per_s=[w.throughput_per_s for w in valid],
        )
    result.results_txt += not_valid_lines(result.validity)
    result.valid = not result.validity
