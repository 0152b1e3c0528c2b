"""Energy mode of a stream workload (sww01): the meter records through the whole first stream
of the truth file; the window is the one interval between the ``start`` and ``stop`` timestamp
pulses (exactly two edges, else the window is invalid and re-run). Reported as the MLCommons
runner does: one trial of one "inference" (``Power : <mW> mW.``, the stream's energy), followed
by the stream's ``Accuracy:`` and duty-cycle lines; plus the expanded uncertainty of the
stream energy and of the mean power, as the other workloads report theirs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energybench.acquisition.recording import MAX_WINDOW_SAMPLES
from energybench.analysis.window_analysis import QUIET_MAX_S
from energybench.calibration.budget import K
from energybench.dut.board import LIST_TIMEOUT_S
from energybench.errors import ConfigError, DutError
from energybench.runner.abort import ModeAborted
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession, identify_dut
from energybench.runner.energy import EnergyMode
from energybench.runner.energy_figures import EnergySummary
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measurer import STREAM_WINDOW, Measurer
from energybench.runner.results import ModeResult, WindowRecord
from energybench.runner.stream_mode import fill_record, prepare, stream_figures, streams_for
from energybench.runner.stream_step import (
    SETTLE_S,
    StreamOutcome,
    run_streaming,
    stop_if_streaming,
    stop_timeout_s,
)
from energybench.workloads.sww import SwwTruth


@dataclass(frozen=True)
class StreamAttempt:
    """Steps 2-8 of one stream inside the window (step 1, ``dut stop``, before it opens)."""

    ctx: RunContext
    dut: DutSession
    truth: SwwTruth
    inferences: int = 1
    warmups: int = 0

    @property
    def file(self) -> str:
        return self.truth.wav_file

    @property
    def expected_s(self) -> float:
        return self.truth.length_s + SETTLE_S

    def prepare(self, record: WindowRecord) -> bool:
        try:
            stop_if_streaming(self.dut, self.ctx.runlog)  # its pulse stays outside the window
        except DutError as exc:
            record.invalidate(f"DUT error before the stream: {exc}")
            self.dut.client.link.resync()
            return False
        return True

    def drive(self) -> StreamOutcome:
        return run_streaming(self.dut, self.truth, runlog=self.ctx.runlog)

    def fill(self, record: WindowRecord, activity: StreamOutcome | None) -> None:
        if activity is not None:
            fill_record(record, activity)

    def retry(self, record: WindowRecord) -> StreamAttempt:
        return self


class StreamPlan:
    """One window: the first stream of the truth file."""

    noun = "stream"
    end = STREAM_WINDOW
    probe_windows = 0  # one stream, no probe

    def __init__(self, ctx: RunContext, dut: DutSession) -> None:
        if ctx.bench.sync.mode == "hw_trigger_start":
            raise ConfigError(
                "a start-only trigger cannot delimit a stream: its end is the stop pulse, and "
                "the current never returns to idle before it (use hw_trigger_start_stop, "
                "digital_channel, event_marker or analog_channel)",
                context="sync.mode",
            )
        if ctx.bench.rails:
            raise ConfigError(
                "sww01 reports the mean power of one stream; further rails are measured for "
                "the per-inference workloads (kws01, vww01, ic01, ad01) only",
                context=f"rails.{ctx.bench.rails[0].name}",
            )
        self.ctx, self.dut = ctx, dut
        (self.truth,) = streams_for(ctx, "energy")
        self.outcomes: list[StreamOutcome] = []  # the valid stream's

    def check(self, measurer: Measurer) -> None:
        """The stream's window (start .. the quiet samples after the replies that follow the
        stop pulse) must fit the in-memory window limit: refused before a stream whose window
        could not be analysed (the official one lasts 20 minutes)."""
        rate_hz = measurer.stream_rate_hz
        if rate_hz is None:
            return
        truth = self.truth
        streamed_s = truth.length_s + SETTLE_S
        span_s = (
            streamed_s
            + stop_timeout_s(streamed_s, truth.sample_rate_hz, self.dut.baud)
            + 2 * LIST_TIMEOUT_S  # print_detections, print_dutycycle
            + QUIET_MAX_S
        )
        if span_s * rate_hz > MAX_WINDOW_SAMPLES:
            raise ConfigError(
                f"{truth.wav_file} ({truth.length_s:g} s) at {rate_hz:g} Hz needs up to "
                f"{span_s * rate_hz:.3g} samples in one window, beyond the limit "
                f"{MAX_WINDOW_SAMPLES:.3g}: stream at a lower sample rate (at most "
                f"{MAX_WINDOW_SAMPLES / span_s:.0f} Hz)",
                context="meter.sample_rate_hz",
            )

    def prepare(self, mode: EnergyMode) -> None:
        prepare(self.ctx, self.dut, mode.result)
        self.ctx.progress.start(f"{self.ctx.workload.name} energy", 1)

    def measure_all(self, mode: EnergyMode) -> None:
        record, outcome = mode.slot(0, StreamAttempt(self.ctx, self.dut, self.truth))
        if not record.valid:
            raise ModeAborted(
                f"the stream failed {self.ctx.options.max_attempts} attempt(s); last: "
                + "; ".join(record.problems)
            )
        self.outcomes = [outcome]
        self.ctx.progress.advance()

    def check_after_power_cycle(self, dut: DutSession) -> None:
        """The rebooted DUT answers ``name``/``profile`` (the sww01 firmware has no
        timestamp-mode banner to check)."""
        identify_dut(dut.client)

    def figures(self, mode: EnergyMode, summary: EnergySummary) -> dict[str, Any]:
        """The stream's energy (one "inference") and the mean power, each with its expanded
        uncertainty; the window rows carry the frame processing time, not a latency."""
        (window,) = summary.windows
        figures: dict[str, Any] = {
            "stream_energy_j": summary.median_per_inference_j,
            "stream_energy_uncertainty_j": summary.uncertainty_j,
            "coverage_factor": int(K),
            "mean_power_w": summary.mean_power_w,
            "stream_duration_s": window.duration_s,  # start to stop pulse (meter)
        }
        if window.energy_uncertainty_j is not None and window.duration_s:
            figures["mean_power_uncertainty_w"] = window.energy_uncertainty_j / window.duration_s
        return figures

    def ranging_run(self, mode: EnergyMode) -> None:
        """No ranging pass: a stream is too long to run twice (the widest range is used)."""
        return None

    def results_lines(self, mode: EnergyMode) -> str:
        return stream_figures(self.ctx, mode.result, self.outcomes)


def run_stream_energy(
    ctx: RunContext,
    dut: DutSession,
    instruments: BenchInstruments,
    result: ModeResult | None = None,
) -> ModeResult:
    """Energy mode of a stream workload on an open bench (instruments powered, DUT connected),
    into ``result`` (the orchestrator's, so an interrupted run keeps what was measured)."""
    plan = StreamPlan(ctx, dut)
    result = result if result is not None else ModeResult(ctx.workload.name, "energy")
    return EnergyMode(ctx, dut, instruments, plan, result).run()
