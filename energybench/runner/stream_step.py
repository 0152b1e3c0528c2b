"""The host ``stream`` step of the streaming-wakeword benchmark, in the reference runner's
exact order (docs/reference-runner.md#stream-step):

1. ``dut stop`` (in case it was streaming) — :func:`stop_if_streaming`, kept outside an energy
   window (a DUT that was streaming pulses the timestamp pin here);
2. ``dut start`` (timestamp pulse: window start) → 3. ``record_detections`` (board timer := 0) →
4. ``play <wav>`` (bounded: length + 10 s) → 5. settle 0.25 s → 6. ``dut stop`` (pulse: window
end; activations dump) → 7. ``print_detections`` → 8. ``print_dutycycle`` — :func:`run_streaming`;
9. the energy of the window is analysed by the caller's measurer afterwards.
Scoring uses the documented +1 s tolerance (the reference code's +2 s is a defect:
docs/reference-runner.md#runner-sww-tolerance).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from energybench.dut.board import BoardClient, DutyCycle
from energybench.dut.sww import SwwClient
from energybench.errors import DutError, RunError, WorkloadError
from energybench.runner.dut_setup import DutSession
from energybench.runner.runlog import RunLog
from energybench.workloads.sww import (
    DEBOUNCE_S,
    DOCUMENTED_TOLERANCE_S,
    SwwScore,
    SwwTruth,
    score_detections,
)

log = logging.getLogger(__name__)

SWW_SAMPLE_RATE_HZ = 16000  # the I2S rate of the reference streams
SETTLE_S = 0.25  # the reference: "w/o this sleep the next DUT command times out"
REFERENCE_TOLERANCE_S = 2.0  # what the reference runner's code allows (runner-sww-tolerance)
# the DUT pulses WW_DETECTED on its first processed frame (32 ms of audio after playback starts);
# later than this after record_detections, that time-zero marker is missing
# (docs/reference-runner.md#runner-sww-board-isr)
START_MARKER_WITHIN_MS = 1000
DUT_REPLY_TIMEOUT_S = 10.0  # start / stop, on top of the time the activations dump takes
STRIDE_SAMPLES = 512  # one frame (and one dumped activation) per 512 new samples
MAX_ACTIVATIONS = 64000  # g_gp_buff_bytes: the most activations the firmware keeps
DUMP_BYTES_PER_ACTIVATION = 6.6  # "-128, " + the line end and the relay's "[dut]: ", amortised
DUMP_MARGIN = 1.5


def stop_timeout_s(streamed_s: float | None, sample_rate_hz: float, baud: int) -> float:
    """The bound on a ``stop`` reply: the activations dump (one int8 per frame streamed, at most
    the firmware's buffer; all of it when ``streamed_s`` is unknown) at ``baud`` 8N1, with
    margin, plus the fixed reply time. A 1200 s stream dumps ~37,500 values: ~21 s at 115200."""
    frames = MAX_ACTIVATIONS
    if streamed_s is not None:
        frames = min(frames, math.ceil(streamed_s * sample_rate_hz / STRIDE_SAMPLES) + 1)
    dump_s = frames * DUMP_BYTES_PER_ACTIVATION * 10 / baud
    return DUT_REPLY_TIMEOUT_S + DUMP_MARGIN * dump_s


@dataclass
class StreamOutcome:
    """What one stream produced; ``problems`` empty when every part of it was received."""

    truth: SwwTruth
    host_s: float | None = None  # host-timed, start sent .. stop answered
    activations: tuple[int, ...] = ()
    detections_ms: list[int] = field(default_factory=list)
    duty: DutyCycle | None = None
    score: SwwScore | None = None
    reference_score: SwwScore | None = None  # with the reference code's +2 s, for comparison
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready figures of this stream."""
        out: dict = {
            "wav_file": self.truth.wav_file,
            "length_s": self.truth.length_s,
            "truth_windows": len(self.truth.windows_s),
            "host_stream_s": self.host_s,
            "detections_ms": self.detections_ms,
            "activations": len(self.activations),
            "problems": self.problems,
        }
        if self.score is not None:
            out.update(
                true_positives=self.score.true_positives,
                false_negatives=self.score.false_negatives,
                false_positives=self.score.false_positives,
                false_negative_starts_s=list(self.score.false_negative_starts_s),
                false_positives_s=list(self.score.false_positives_s),
            )
        if self.reference_score is not None:
            ref = self.reference_score
            out["reference_code_counts"] = {
                "tolerance_s": ref.tolerance_s,
                "true_positives": ref.true_positives,
                "false_negatives": ref.false_negatives,
                "false_positives": ref.false_positives,
            }
        if self.duty is not None:
            out.update(
                duty_cycle=self.duty.duty_cycle,
                period_s=self.duty.period_s,
                processing_s=self.duty.processing_s,
                period_spread=self.duty.period_spread,
                duty_frames=self.duty.frames,
                duty_warnings=self.duty.warnings,
            )
        return out


def _parts(dut: DutSession) -> tuple[SwwClient, BoardClient]:
    if not isinstance(dut.client, SwwClient) or dut.board is None:
        raise RunError(
            "the stream step needs the sww01 client and the interface board",
            context="stream",
        )
    return dut.client, dut.board


def check_sd_card(dut: DutSession, wav_files: list[str]) -> None:
    """``ls``: every WAV of the truth file is on the board's SD card (one error naming the
    missing ones, before anything is streamed)."""
    _, board = _parts(dut)
    board.require_files(wav_files)


def stop_if_streaming(dut: DutSession, runlog: RunLog | None = None) -> bool:
    """Step 1: ``dut stop``; True when the DUT had been streaming (it then pulsed)."""
    client, _ = _parts(dut)
    stopped = client.stop(stop_timeout_s(None, SWW_SAMPLE_RATE_HZ, dut.baud))  # for how long?
    if stopped.was_streaming and runlog is not None:
        runlog.write("runner", "the DUT was still streaming: stopped it before the stream")
    return stopped.was_streaming


def _stop_timeout(dut: DutSession, truth: SwwTruth, elapsed_s: float) -> float:
    """The DUT streamed at most since ``start`` was sent, at least the file (and settle)."""
    return stop_timeout_s(max(elapsed_s, truth.length_s + SETTLE_S), truth.sample_rate_hz, dut.baud)


def run_streaming(
    dut: DutSession,
    truth: SwwTruth,
    *,
    settle_s: float = SETTLE_S,
    tolerance_s: float = DOCUMENTED_TOLERANCE_S,
    runlog: RunLog | None = None,
) -> StreamOutcome:
    """Steps 2-8 on one stream, then its score; a DUT or board failure propagates (the
    caller decides: an invalid attempt to re-run)."""
    client, board = _parts(dut)
    outcome = StreamOutcome(truth)
    if runlog is not None:
        runlog.write("runner", f"stream {truth.wav_file} ({truth.length_s:g} s)")
    started = time.monotonic()
    client.start(DUT_REPLY_TIMEOUT_S)
    try:
        board.record_detections()
        board.play(truth.wav_file, truth.length_s)
        time.sleep(settle_s)
    except BaseException:
        try:  # leave the DUT idle for the next attempt (its pulse is then outside any window)
            client.stop(_stop_timeout(dut, truth, time.monotonic() - started))
        except DutError as exc:
            log.warning("stopping the DUT after a failed stream: %s", exc)
        raise
    stopped = client.stop(_stop_timeout(dut, truth, time.monotonic() - started))
    outcome.host_s = time.monotonic() - started
    if not stopped.was_streaming:
        raise DutError(
            "the DUT was idle at the end of the stream (it never started?)", context="stop"
        )
    outcome.activations = stopped.activations
    outcome.detections_ms = board.print_detections()
    outcome.duty = board.print_dutycycle()
    score(outcome, tolerance_s)
    if runlog is not None and outcome.score is not None:
        s = outcome.score
        runlog.write(
            "runner",
            f"{truth.wav_file}: {s.true_positives} TP, {s.false_negatives} FN, "
            f"{s.false_positives} FP (+{s.tolerance_s:g} s); false negatives at "
            f"{list(s.false_negative_starts_s)} s, false positives at "
            f"{list(s.false_positives_s)} s",
        )
    return outcome


def score(outcome: StreamOutcome, tolerance_s: float = DOCUMENTED_TOLERANCE_S) -> None:
    """Score the stream's detections (the first one is the DUT's time-zero marker); also as
    the reference runner's code would (+2 s), so a difference can be flagged."""
    try:
        outcome.score = score_detections(
            outcome.detections_ms,
            outcome.truth.windows_s,
            tolerance_s=tolerance_s,
            debounce_s=DEBOUNCE_S,
        )
        outcome.reference_score = score_detections(
            outcome.detections_ms,
            outcome.truth.windows_s,
            tolerance_s=REFERENCE_TOLERANCE_S,
            debounce_s=DEBOUNCE_S,
        )
    except WorkloadError as exc:
        outcome.problems.append(
            f"{outcome.truth.wav_file}: cannot score: {exc.message} (the DUT's forced "
            "first-frame detection is missing)"
        )
        return
    first_ms = outcome.detections_ms[0]
    if first_ms > START_MARKER_WITHIN_MS:
        outcome.problems.append(
            f"{outcome.truth.wav_file}: the first detection came {first_ms} ms after "
            f"record_detections, not within {START_MARKER_WITHIN_MS} ms: the DUT's forced "
            "first-frame detection (time zero) is missing, so every detection would be shifted"
        )
