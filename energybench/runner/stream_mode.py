"""The modes of a stream workload (sww01), every one built on the host ``stream`` step
(docs/reference-runner.md#test-scripts): accuracy streams every entry of the truth file, performance
(and energy, runner/stream_energy.py) the first. Each mode's results.txt carries the lines the
checker reads from any sww folder: ``Accuracy: <TP> True positives, ...``, ``Average duty cycle:``,
``Average period:`` and ``Estimated throughput: <1/processing time> inf./sec.``. A stream that fails
is kept as an invalid attempt and re-run, at most ``max_attempts`` times."""

from __future__ import annotations

import logging
import statistics

from energybench.errors import DutError, DutTimeoutError
from energybench.runner.abort import ModeAborted, ends_early, measuring
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession
from energybench.runner.mlc_format import not_valid_lines, sww_results_lines
from energybench.runner.performance import check_alive
from energybench.runner.results import ModeResult, WindowRecord
from energybench.runner.stream_step import (
    StreamOutcome,
    check_sd_card,
    run_streaming,
    stop_if_streaming,
)
from energybench.workloads.sww import DOCUMENTED_TOLERANCE_S, SwwTruth, f1_score

log = logging.getLogger(__name__)


def streams_for(ctx: RunContext, mode: str) -> list[SwwTruth]:
    """Accuracy: every stream of the truth file (``loop: [stream]``); else the first."""
    streams = list(ctx.dataset.streams)
    return streams if mode == "accuracy" else streams[:1]


def prepare(ctx: RunContext, dut: DutSession, result: ModeResult) -> None:
    """The WAVs on the SD card (``ls``), and the dataset's reasons against a submission."""
    check_sd_card(dut, ctx.dataset.wav_files)
    result.validity.extend(ctx.dataset.problems)


def fill_record(record: WindowRecord, outcome: StreamOutcome) -> None:
    """The per-stream figures a window row holds (throughput from the duty-cycle record)."""
    for problem in outcome.problems:
        record.invalidate(problem)
    if outcome.duty is not None:
        record.throughput_per_s = outcome.duty.throughput_per_s
        record.latency_s = outcome.duty.processing_s
    elif record.valid:
        record.invalidate("no duty-cycle record")


def stream_once(
    ctx: RunContext, dut: DutSession, result: ModeResult, slot: int, truth: SwwTruth
) -> tuple[WindowRecord, StreamOutcome | None]:
    """One stream with bounded re-runs; the last attempt's record and outcome."""
    record, outcome = None, None
    for attempt in range(ctx.options.max_attempts):
        record = WindowRecord(slot, attempt, truth.wav_file, 1, 0)
        result.windows.append(record)
        outcome, timed_out = None, False
        with measuring(record):
            try:
                stop_if_streaming(dut, ctx.runlog)
                outcome = run_streaming(dut, truth, runlog=ctx.runlog)
            except DutTimeoutError as exc:
                record.invalidate(f"DUT timeout: {exc}")
                timed_out = True
            except DutError as exc:
                record.invalidate(f"DUT error: {exc}")
                dut.client.link.resync()
        if timed_out:
            check_alive(dut)
        if outcome is not None:
            record.duration_s = outcome.host_s
            fill_record(record, outcome)
        if record.valid:
            break
        ctx.runlog.write("runner", f"stream {slot} attempt {attempt} invalid: {record.problems}")
        ctx.progress.note(f"stream {truth.wav_file} invalid, re-running: {record.problems[0]}")
    if record is None:
        raise ModeAborted("max_attempts must be >= 1", context="max_attempts")
    return record, outcome


def stream_figures(ctx: RunContext, result: ModeResult, outcomes: list[StreamOutcome]) -> str:
    """Totals over the streams (TP/FN/FP, F1, duty cycle) into the figures and the quality
    target into the notes; returns the summary lines for results.txt."""
    wl, figures = ctx.workload, result.figures
    scored = [o for o in outcomes if o.score is not None]
    tp = sum(o.score.true_positives for o in scored)  # type: ignore[union-attr]
    fn = sum(o.score.false_negatives for o in scored)  # type: ignore[union-attr]
    fp = sum(o.score.false_positives for o in scored)  # type: ignore[union-attr]
    duties = [o.duty for o in outcomes if o.duty is not None]
    figures.update(
        metric=wl.metric,
        truth_file=ctx.dataset.truth_path.name,
        streams=[o.summary() for o in outcomes],
        tolerance_s=DOCUMENTED_TOLERANCE_S,
    )
    duty = period = throughput = None
    if duties:
        duty = statistics.fmean(d.duty_cycle for d in duties)
        period = statistics.fmean(d.period_s for d in duties)
        processing = statistics.fmean(d.processing_s for d in duties)
        throughput = 1.0 / processing
        figures.update(
            duty_cycle=duty,
            average_period_s=period,
            processing_time_s=processing,
            estimated_throughput_per_s=throughput,
        )
        for d in duties:
            result.notes.extend(d.warnings)
    if scored:
        quality = wl.stream_quality
        met = quality.met(fp, fn) if quality is not None else None
        figures.update(
            true_positives=tp,
            false_negatives=fn,
            false_positives=fp,
            f1=f1_score(tp, fn, fp),
            meets_quality_target=met,
            quality_target=(
                {
                    "max_false_positives": quality.max_false_positives,
                    "max_false_negatives": quality.max_false_negatives,
                }
                if quality
                else None
            ),
        )
        refs = [o.reference_score for o in scored if o.reference_score is not None]
        ref = tuple(
            sum(getattr(r, k) for r in refs)
            for k in ("true_positives", "false_negatives", "false_positives")
        )
        if refs and ref != (tp, fn, fp):
            result.notes.append(
                f"the reference runner's code (window end + 2 s, "
                f"docs/reference-runner.md#runner-sww-tolerance) would "
                f"score {ref[0]} TP / {ref[1]} FN / {ref[2]} FP; the documented + 1 s gives "
                f"{tp} / {fn} / {fp}"
            )
        if met is False:
            result.notes.append(
                f"{fp} false positives / {fn} false negatives: the closed-division target is "
                f"at most {quality.max_false_positives} / {quality.max_false_negatives}"  # type: ignore[union-attr]
            )
    if len(scored) != len(outcomes) or not outcomes:
        result.validity.append(f"{len(scored)} of {len(outcomes)} stream(s) scored")
    return sww_results_lines(tp, fn, fp, duty, period, throughput) if scored else ""


def run_stream_mode(
    ctx: RunContext, dut: DutSession, mode: str, result: ModeResult | None = None
) -> ModeResult:
    """Accuracy or performance mode of a stream workload (energy: runner/stream_energy.py),
    into ``result`` (the orchestrator's, so an interrupted run keeps what was measured)."""
    result = result if result is not None else ModeResult(ctx.workload.name, mode)
    prepare(ctx, dut, result)
    streams = streams_for(ctx, mode)
    ctx.progress.start(f"{ctx.workload.name} {mode}", len(streams))
    outcomes: list[StreamOutcome] = []
    try:
        with ends_early(result, ctx.runlog):
            for slot, truth in enumerate(streams):
                record, outcome = stream_once(ctx, dut, result, slot, truth)
                if not record.valid or outcome is None:
                    raise ModeAborted(
                        f"stream {truth.wav_file} failed {ctx.options.max_attempts} "
                        "attempt(s); last: " + "; ".join(record.problems)
                    )
                outcomes.append(outcome)
                ctx.progress.advance()
    finally:  # also when the run is interrupted: the streams so far are summarised
        result.results_txt += stream_figures(ctx, result, outcomes)
        result.results_txt += not_valid_lines(result.validity)
        result.valid = not result.validity
    return result
