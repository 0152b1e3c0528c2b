"""`energybench score-sww`: score streaming-wakeword detections against a truth file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.errors import UsageError, WorkloadError
from energybench.workloads.sww import (
    DEBOUNCE_S,
    DOCUMENTED_TOLERANCE_S,
    SwwTruth,
    load_sww_truth,
    parse_detections_ms,
    score_detections,
)


def _pick_stream(streams: list[SwwTruth], wav: str | None, truth: Path) -> SwwTruth:
    if wav is None:
        if len(streams) != 1:
            names = ", ".join(s.wav_file for s in streams)
            raise UsageError(
                f"{truth} lists {len(streams)} streams ({names}): pick one", context="--wav"
            )
        return streams[0]
    for stream in streams:
        if stream.wav_file == wav:
            return stream
    names = ", ".join(s.wav_file for s in streams)
    raise UsageError(f"{wav!r} is not in {truth} (streams: {names})", context="--wav")


def _seconds(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.3f}" for v in values) or "-"


@app.command("score-sww")
def score_sww(
    truth: Annotated[Path, typer.Argument(help="Truth file (sww_*_test.json).")],
    detections: Annotated[
        Path,
        typer.Argument(
            help="The interface board's print_detections reply, or detection times in ms."
        ),
    ],
    wav: Annotated[
        str | None, typer.Option("--wav", help="Stream of the truth file (when it lists several).")
    ] = None,
    tolerance_s: Annotated[
        float,
        typer.Option(
            "--tolerance-s",
            min=0.0,
            help="Seconds after a truth window's end that still count (2.0 = reference code).",
        ),
    ] = DOCUMENTED_TOLERANCE_S,
    debounce_s: Annotated[
        float, typer.Option("--debounce-s", min=0.0, help="False positives closer than this merge.")
    ] = DEBOUNCE_S,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """True positives, false negatives and false positives of one sww01 stream (first detection =
    start marker), with the checker's Accuracy line and F1."""

    stream = _pick_stream(load_sww_truth(truth), wav, truth)
    try:
        lines = detections.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"cannot read detections: {exc}", context=str(detections)) from exc
    marks_ms = parse_detections_ms(lines, where=str(detections))
    score = score_detections(
        marks_ms, stream.windows_s, tolerance_s=tolerance_s, debounce_s=debounce_s
    )
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "wav_file": stream.wav_file,
                    "truth_windows": len(stream.windows_s),
                    "detections": len(marks_ms),
                    "tolerance_s": tolerance_s,
                    "debounce_s": debounce_s,
                    "true_positives": score.true_positives,
                    "false_negatives": score.false_negatives,
                    "false_positives": score.false_positives,
                    "true_positive_starts_s": list(score.true_positive_starts_s),
                    "false_negative_starts_s": list(score.false_negative_starts_s),
                    "false_positives_s": list(score.false_positives_s),
                    "f1": score.f1,
                }
            )
        )
        return
    typer.echo(
        f"stream {stream.wav_file} ({stream.length_s:g} s, {len(stream.windows_s)} truth windows), "
        f"{len(marks_ms)} detections incl. the start marker, tolerance {tolerance_s:g} s, "
        f"debounce {debounce_s:g} s"
    )
    typer.echo(
        f"  true positives  (window start, s):       {_seconds(score.true_positive_starts_s)}"
    )
    typer.echo(
        f"  false negatives (window start, s):       {_seconds(score.false_negative_starts_s)}"
    )
    typer.echo(f"  false positives (s after start marker):  {_seconds(score.false_positives_s)}")
    typer.echo(score.accuracy_line())
    typer.echo(f"F1 = 2TP/(2TP+FP+FN) = {score.f1:.3f}")
