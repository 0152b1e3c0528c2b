"""Energy mode of a single-input workload (kws01, vww01, ic01, ad01): 5 windows on 5 different
inputs, each ``infer N W`` >= 10 s with N scaled from a probe window the meter itself measures
(no fixed table; a window that was only too short is re-run with more inferences). Figures:
the median energy per inference with its expanded uncertainty (k=2), latency from the energy
windows (duration / N), cross-checked against the DUT's own timing where the firmware prints it
and against this run's performance mode."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from energybench.calibration.budget import K
from energybench.dut.client import InferResult
from energybench.runner.abort import ModeAborted
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession
from energybench.runner.energy import EnergyMode
from energybench.runner.energy_figures import EnergySummary
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measurer import INFER_WINDOW, Measurer, WindowId
from energybench.runner.performance import download, window_files
from energybench.runner.ranging import RangingRun
from energybench.runner.results import ModeResult, WindowRecord
from energybench.workloads.dataset import Sample

DUT_TIMING_TOLERANCE = 0.01  # relative, beyond the meter's edge resolution
PROBE_FRACTION = 10  # the probe runs this fraction of the workload's table count
PROBE_CAPTURE_S = 5.0  # expected probe length a triggered capture is sized for


@dataclass(frozen=True)
class InferAttempt:
    """``infer N W`` on one input."""

    ctx: RunContext
    dut: DutSession
    sample: Sample
    inferences: int
    warmups: int
    expected_s: float

    @property
    def file(self) -> str:
        return self.sample.file

    def download(self) -> None:
        download(self.ctx, self.dut, self.sample.first_input(self.ctx.workload))

    def prepare(self, record: WindowRecord) -> bool:
        self.download()
        return True

    def drive(self) -> InferResult:
        timeout_s = self.ctx.options.infer_timeout(self.expected_s)
        return self.dut.client.infer(self.inferences, self.warmups, timeout_s)

    def fill(self, record: WindowRecord, activity: InferResult | None) -> None:
        """The DUT's own timing of the window, against the meter's."""
        if activity is None:
            return
        record.dut_elapsed_s = activity.dut_elapsed_s
        if record.dut_elapsed_s is None or record.duration_s is None:
            return
        gap = abs(record.dut_elapsed_s - record.duration_s) / record.duration_s
        if gap > DUT_TIMING_TOLERANCE:
            record.invalidate(
                f"DUT timing {record.dut_elapsed_s:.6f} s and the meter's window "
                f"{record.duration_s:.6f} s differ by {gap:.2%}"
            )

    def retry(self, record: WindowRecord) -> InferAttempt:
        """After a window that was only too short: N scaled to the minimum length (at most
        4x); after any other failure the same window again."""
        opts = self.ctx.options
        short = record.duration_s is not None and record.duration_s < opts.min_window_s
        if not (short and len(record.problems) == 1) or record.duration_s is None:
            return self
        n = self.inferences
        more = min(opts.scaled_inferences(record.duration_s / n, n + 1), 4 * n)
        return dataclasses.replace(self, inferences=more, expected_s=self.expected_s * more / n)


class InferencePlan:
    """The probe, then one valid window per slot on the first inputs of the set."""

    noun = "window"
    end = INFER_WINDOW
    probe_windows = 1  # the probe comes first in the recording

    def __init__(self, ctx: RunContext, dut: DutSession) -> None:
        self.ctx, self.dut = ctx, dut
        self.counts = ctx.workload.counts("energy")

    def check(self, measurer: Measurer) -> None:
        """Every meter can measure ``infer`` windows."""

    def prepare(self, mode: EnergyMode) -> None:
        self.ctx.progress.start(f"{self.ctx.workload.name} energy", mode.required_windows + 1)

    def probe(self, mode: EnergyMode, sample: Sample) -> float:
        """Latency from a short window the meter measures (a tenth of the workload's table
        count: short enough for any capture to hold it)."""
        ctx, opts = self.ctx, self.ctx.options
        n = max(1, math.ceil(self.counts.inferences / PROBE_FRACTION))
        attempt = InferAttempt(ctx, self.dut, sample, n, 0, PROBE_CAPTURE_S)  # nothing known yet
        problems: list[str] = []
        for k in range(opts.max_attempts):
            attempt.download()
            measured = mode.measure(attempt, WindowId(None, k))
            if measured.window is not None:
                duration_s = measured.window.duration_s
                ctx.runlog.write("runner", f"probe: {n} inferences in {duration_s:.6f} s (meter)")
                return duration_s / n
            problems = measured.problems
            mode.result.notes.append(f"probe attempt {k} failed: {problems}")
            mode.recover(measured)
        raise ModeAborted(f"the probe window failed {opts.max_attempts} times: {problems}")

    def ranging_run(self, mode: EnergyMode) -> RangingRun:
        """The ranging pass runs the probe's window (a tenth of the table count) on the
        first input."""
        sample = window_files(self.ctx, 1)[0]
        n = max(1, math.ceil(self.counts.inferences / PROBE_FRACTION))
        attempt = InferAttempt(self.ctx, self.dut, sample, n, 0, PROBE_CAPTURE_S)
        return RangingRun(
            drive=attempt.drive,
            prepare=attempt.download,
            inferences=n,
            expected_s=PROBE_CAPTURE_S,
            recover=mode.recover,
            attempts=self.ctx.options.max_attempts,
        )

    def measure_all(self, mode: EnergyMode) -> None:
        ctx, opts = self.ctx, self.ctx.options
        files = window_files(ctx, mode.required_windows, mode.result)
        latency = self.probe(mode, files[0])
        n = opts.scaled_inferences(latency, 1)
        mode.result.figures.update(probe_latency_s=latency, inferences_per_window=n)
        ctx.progress.advance()
        for slot, sample in enumerate(files):
            attempt = InferAttempt(ctx, self.dut, sample, n, self.counts.warmups, n * latency)
            record, _ = mode.slot(slot, attempt)
            if not record.valid:  # every slot needs a valid window: stop here, say why
                raise ModeAborted(
                    f"window {slot} failed {opts.max_attempts} attempts; last: "
                    + "; ".join(record.problems)
                )
            if record.latency_s:
                latency = record.latency_s
            ctx.progress.advance()

    def check_after_power_cycle(self, dut: DutSession) -> None:
        """The rebooted DUT still runs the energy build (its timestamp mode asked again)."""
        dut.client.mode = None
        dut.client.require_mode("energy")

    def figures(self, mode: EnergyMode, summary: EnergySummary) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "median_energy_per_inference_j": summary.median_per_inference_j,
            "energy_per_inference_uncertainty_j": summary.uncertainty_j,
            "coverage_factor": int(K),
            "latency_s": summary.latency_s,
            "latency_uncertainty_s": summary.latency_uncertainty_s,
            "mean_power_w": summary.mean_power_w,
            "window_energy_per_inference_j": list(summary.per_inference_j),
        }
        reference = self.ctx.dut_latency_s
        if reference:  # meter clock against this run's performance mode (DUT clock)
            gap = summary.latency_s / reference - 1
            figures.update(performance_latency_s=reference, latency_gap_vs_performance=gap)
            if abs(gap) > DUT_TIMING_TOLERANCE:  # a clock, a count or a window is wrong
                mode.result.notes.append(
                    f"energy-window latency {summary.latency_s * 1e3:.4f} ms differs from the "
                    f"DUT-timed {reference * 1e3:.4f} ms by {gap:+.2%}"
                )
        return figures

    def results_lines(self, mode: EnergyMode) -> str:
        return ""


def run_energy(
    ctx: RunContext,
    dut: DutSession,
    instruments: BenchInstruments,
    result: ModeResult | None = None,
) -> ModeResult:
    """Energy mode on an open bench (instruments powered, DUT connected), into ``result``
    (the orchestrator's, so an interrupted run keeps what was measured)."""
    result = result if result is not None else ModeResult(ctx.workload.name, "energy")
    return EnergyMode(ctx, dut, instruments, InferencePlan(ctx, dut), result).run()
