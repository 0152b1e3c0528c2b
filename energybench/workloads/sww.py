"""Streaming wakeword (sww01) scoring: truth windows, the interface board's detection list,
and true/false positives as MLPerf Tiny documents them (docs/mlperf-rules.md#sww-scoring).

Time zero is the first recorded detection (the DUT forces a pulse on its first processed frame);
every later detection is placed relative to it. A truth window ``[start, end]`` is a true positive
when at least one detection lies in ``[start, end + tolerance]`` (documented tolerance 1 s; all
detections inside are consumed), a false negative otherwise. The detections left over are false
positives, debounced: a kept false positive swallows the later ones within ``debounce`` after it
(compared in whole ms, as the board records them; an exact repeat of a time is swallowed too,
where the reference code would count it twice).

The reference runner's code adds the tolerance twice (effectively 2 s,
docs/reference-runner.md#runner-sww-tolerance); ``tolerance_s=2.0`` reproduces its numbers, the
default follows the documentation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from energybench.dut.board import DETECTIONS_HEADER
from energybench.errors import WorkloadError

DOCUMENTED_TOLERANCE_S = 1.0
DEBOUNCE_S = 1.0


@dataclass(frozen=True)
class SwwTruth:
    """One entry of a ``sww_*_test.json`` truth file."""

    wav_file: str
    sample_rate_hz: int
    length_s: float
    windows_s: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SwwScore:
    """Outcome of scoring one stream; times in seconds from the start marker."""

    true_positive_starts_s: tuple[float, ...]
    false_negative_starts_s: tuple[float, ...]
    false_positives_s: tuple[float, ...]
    tolerance_s: float
    debounce_s: float

    @property
    def true_positives(self) -> int:
        return len(self.true_positive_starts_s)

    @property
    def false_negatives(self) -> int:
        return len(self.false_negative_starts_s)

    @property
    def false_positives(self) -> int:
        return len(self.false_positives_s)

    @property
    def f1(self) -> float:
        return f1_score(self.true_positives, self.false_negatives, self.false_positives)

    def accuracy_line(self) -> str:
        return accuracy_line(self.true_positives, self.false_negatives, self.false_positives)


def f1_score(true_positives: int, false_negatives: int, false_positives: int) -> float:
    """``2TP / (2TP + FP + FN)``, the submission checker's figure (0 when all are 0)."""
    denominator = 2 * true_positives + false_positives + false_negatives
    return 2 * true_positives / denominator if denominator else 0.0


def accuracy_line(true_positives: int, false_negatives: int, false_positives: int) -> str:
    """The line the official checker parses (``Accuracy: <TP> True positives, ...``)."""
    return (
        f"Accuracy: {true_positives} True positives, {false_negatives} False "
        f"negatives, {false_positives} False positives"
    )


def _number(value: object, field: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WorkloadError(
            f"field {field!r} must be a finite number, got {value!r}", context=where
        )
    return float(value)


def _truth_entry(entry: object, where: str) -> SwwTruth:
    if not isinstance(entry, dict):
        raise WorkloadError("each entry must be an object", context=where)
    for key in ("wav_file", "sample_rate", "length_sec", "detection_windows"):
        if key not in entry:
            raise WorkloadError(f"missing field {key!r}", context=where)
    if not isinstance(entry["wav_file"], str) or not entry["wav_file"]:
        raise WorkloadError("field 'wav_file' must be a file name", context=where)
    rate = entry["sample_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise WorkloadError(
            f"field 'sample_rate' must be a positive integer, got {rate!r}", context=where
        )
    length_s = _number(entry["length_sec"], "length_sec", where)
    if length_s <= 0:
        raise WorkloadError("field 'length_sec' must be positive", context=where)
    raw = entry["detection_windows"]
    if not isinstance(raw, list):
        raise WorkloadError(
            "field 'detection_windows' must be a list of [start, end]", context=where
        )
    windows: list[tuple[float, float]] = []
    for k, pair in enumerate(raw):
        field = f"detection_windows[{k}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise WorkloadError(f"field {field!r} must be [start, end]", context=where)
        start, end = _number(pair[0], field, where), _number(pair[1], field, where)
        if not 0 <= start <= end <= length_s:
            raise WorkloadError(
                f"field {field!r} = [{start}, {end}] is not an interval within 0..{length_s} s",
                context=where,
            )
        if windows and start < windows[-1][1]:
            raise WorkloadError(
                f"field {field!r} overlaps or precedes the window before it", context=where
            )
        windows.append((start, end))
    return SwwTruth(entry["wav_file"], rate, length_s, tuple(windows))


def load_sww_truth(path: Path) -> list[SwwTruth]:
    """Parse and validate a ``sww_*_test.json`` file (a list of streams with truth windows)."""
    where = str(path)
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkloadError(f"cannot read sww truth file: {exc}", context=where) from exc
    if not isinstance(table, list) or not table:
        raise WorkloadError("expected a non-empty list of streams", context=where)
    return [_truth_entry(entry, f"{where} [{k}]") for k, entry in enumerate(table)]


def parse_detections_ms(lines: Iterable[str], *, where: str = "detections") -> list[int]:
    """Detection times in ms: the interface board's ``print_detections`` reply (header line,
    ``<ms>,`` lines, ``m-ready``) or a bare list of integers (one or more per line, comma
    separated). Times must be non-decreasing (the board's TIM2 counts up from
    ``record_detections``)."""
    rows = [line.strip() for line in lines]
    rows = [row for row in rows if row]
    if rows and rows[0] == DETECTIONS_HEADER:
        if rows[-1] != "m-ready":
            raise WorkloadError(
                f"the reply after {DETECTIONS_HEADER!r} must end with 'm-ready' (truncated?)",
                context=where,
            )
        rows = rows[1:-1]
    values: list[int] = []
    for number, row in enumerate(rows, start=1):
        for token in (t.strip() for t in row.split(",")):
            if not token:
                continue
            if not (token.isascii() and token.isdigit()):
                raise WorkloadError(f"line {number}: {token!r} is not a time in ms", context=where)
            values.append(int(token))
    if any(b < a for a, b in pairwise(values)):
        raise WorkloadError(
            "detection times go backwards (timer wrapped or lines mixed)", context=where
        )
    return values


def score_detections(
    detections_ms: Sequence[int],
    windows_s: Sequence[tuple[float, float]],
    *,
    tolerance_s: float = DOCUMENTED_TOLERANCE_S,
    debounce_s: float = DEBOUNCE_S,
) -> SwwScore:
    """True/false positives of one stream (rules in the module docstring)."""
    if tolerance_s < 0 or debounce_s < 0:
        raise WorkloadError("tolerance and debounce must be >= 0 s", context="sww scoring")
    if len(detections_ms) == 0:
        raise WorkloadError(
            "no detections: the first one marks the start of the stream, so there must be at "
            "least one",
            context="sww scoring",
        )
    marks_ms = np.asarray(detections_ms, dtype=np.int64)
    times_s = (marks_ms[1:] - marks_ms[0]) / 1000.0
    remaining = np.ones(times_s.size, dtype=bool)
    hits: list[float] = []
    misses: list[float] = []
    for start, end in windows_s:
        inside = remaining & (times_s >= start) & (times_s <= end + tolerance_s)
        if inside.any():
            hits.append(float(start))
            remaining &= ~inside
        else:
            misses.append(float(start))
    debounce_ms = round(debounce_s * 1000)
    kept_ms: list[int] = []
    for t_ms in (marks_ms[1:] - marks_ms[0])[remaining].tolist():
        if kept_ms and t_ms <= kept_ms[-1] + debounce_ms:
            continue  # within the debounce time of the last kept false positive
        kept_ms.append(t_ms)
    false_positives = tuple(t_ms / 1000.0 for t_ms in kept_ms)
    return SwwScore(tuple(hits), tuple(misses), false_positives, tolerance_s, debounce_s)
