"""Energy mode of a stream workload (sww01): the meter records through the whole first stream
of the truth file; the window is the one interval between the ``start`` and ``stop`` timestamp
pulses (exactly two edges, else the window is invalid and re-run). Reported as the MLCommons
runner does: one trial of one "inference" (``Power : <mW> mW.``, the stream's energy), followed
by the stream's ``Accuracy:`` and duty-cycle lines; plus the expanded uncertainty of the
stream energy and of the mean power, as the other workloads report theirs."""

from __future__ import annotations

import logging

from energybench.dut.board import LIST_TIMEOUT_S
from energybench.errors import ConfigError, DutError
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession, identify_dut
from energybench.runner.energy import _Energy
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measure import (
    QUIET_MAX_S,
    Measured,
    StreamMeasurer,
    TriggeredMeasurer,
    dut_problems,
)
from energybench.runner.performance import ModeAborted
from energybench.runner.recording import MAX_WINDOW_SAMPLES
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

log = logging.getLogger(__name__)

# figures of the generic energy mode that mean something else for one stream
_RENAMED = {
    "median_energy_per_inference_j": "stream_energy_j",
    "energy_per_inference_uncertainty_j": "stream_energy_uncertainty_j",
}
# latency_s: the window rows carry the frame processing time, not a per-inference latency
_DROPPED = (
    "window_energy_per_inference_j",
    "probe_latency_s",
    "inferences_per_window",
    "latency_s",
)


class _StreamEnergy(_Energy):
    PROBE_WINDOWS = 0  # one stream, no probe

    def __init__(self, ctx: RunContext, dut: DutSession, instruments: BenchInstruments) -> None:
        if ctx.bench.sync.mode == "hw_trigger_start":
            raise ConfigError(
                "a start-only trigger cannot delimit a stream: its end is the stop pulse, and "
                "the current never returns to idle before it (use hw_trigger_start_stop, "
                "digital_channel, event_marker or analog_channel)",
                context="sync.mode",
            )
        super().__init__(ctx, dut, instruments)
        if isinstance(self.measurer, TriggeredMeasurer):
            self.measurer.require_both_edges = True
        if isinstance(self.measurer, StreamMeasurer):
            self._check_window_fits(self.measurer.request.sample_rate_hz)
        self.outcome: StreamOutcome | None = None

    def _check_window_fits(self, rate_hz: float) -> None:
        """The stream's window (start .. the quiet samples after the replies that follow the
        stop pulse) must fit the in-memory window limit: refused before a stream whose window
        could not be analysed (the official one lasts 20 minutes)."""
        (truth,) = streams_for(self.ctx, "energy")
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

    def _check_dut_after_power_cycle(self) -> None:
        """The rebooted DUT answers ``name``/``profile`` (the sww01 firmware has no
        timestamp-mode banner to check)."""
        identify_dut(self.dut.client)

    def _step(self, truth: SwwTruth):
        """Steps 2-8 of the stream inside the measured interval; failures become problems."""

        def step(out: Measured) -> None:
            with dut_problems(out):
                self.outcome = run_streaming(self.dut, truth, runlog=self.ctx.runlog)

        return step

    def stream(self, truth: SwwTruth) -> WindowRecord:
        opts = self.ctx.options
        expected_s = truth.length_s + SETTLE_S
        record = None
        for attempt in range(opts.max_attempts):
            record = WindowRecord(0, attempt, truth.wav_file, 1, 0)
            self.result.windows.append(record)
            self.outcome = None
            try:
                stop_if_streaming(self.dut, self.ctx.runlog)  # step 1: before the window opens
            except DutError as exc:
                record.invalidate(f"DUT error before the stream: {exc}")
                self.dut.client.link.resync()
                continue
            try:
                measured = self.measurer.measure(
                    1, 0, expected_s, opts.infer_timeout(expected_s), step=self._step(truth)
                )
            except BaseException as exc:  # the mode ends here; the attempt is not a result
                record.invalidate(f"not completed: {type(exc).__name__}: {exc}")
                raise
            self._fill(record, measured)
            if self.outcome is not None:
                fill_record(record, self.outcome)
            if record.valid:
                return record
            self.ctx.runlog.write("runner", f"stream attempt {attempt} invalid: {record.problems}")
            self.ctx.progress.note(f"stream invalid, re-running: {record.problems[0]}")
            self._recover(measured)
        if record is None:
            raise ModeAborted("max_attempts must be >= 1", context="max_attempts")
        return record

    def _prepare(self) -> None:
        prepare(self.ctx, self.dut, self.result)
        self.ctx.progress.start(f"{self.ctx.workload.name} energy", 1)

    def _measure_all(self) -> None:
        (truth,) = streams_for(self.ctx, "energy")
        record = self.stream(truth)
        if not record.valid:
            raise ModeAborted(
                f"the stream failed {self.ctx.options.max_attempts} attempt(s); last: "
                + "; ".join(record.problems)
            )
        self.ctx.progress.advance()

    def _finish(self) -> None:
        super()._finish()
        self._stream_figures()

    def _extra_results_txt(self) -> str:
        outcomes = [self.outcome] if self.outcome is not None and self.result.valid_windows else []
        return stream_figures(self.ctx, self.result, outcomes)

    def _stream_figures(self) -> None:
        """The generic per-inference figures renamed for one stream; the mean power's
        expanded uncertainty from the stream energy's."""
        figures = self.result.figures
        for old, new in _RENAMED.items():
            if old in figures:
                figures[new] = figures.pop(old)
        for key in _DROPPED:
            figures.pop(key, None)
        valid = self.result.valid_windows
        if valid:
            figures["stream_duration_s"] = valid[0].duration_s  # start to stop pulse (meter)
        if valid and valid[0].energy_uncertainty_j is not None and valid[0].duration_s:
            figures["mean_power_uncertainty_w"] = (
                valid[0].energy_uncertainty_j / valid[0].duration_s
            )


def run_stream_energy(
    ctx: RunContext, dut: DutSession, instruments: BenchInstruments
) -> ModeResult:
    """Energy mode of a stream workload on an open bench (instruments powered, DUT connected)."""
    return _StreamEnergy(ctx, dut, instruments).run()
