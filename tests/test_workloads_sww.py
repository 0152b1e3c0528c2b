"""Streaming wakeword scoring (docs/mlperf-rules.md#sww-scoring) and `energybench score-sww`."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from conftest import shared_path
from typer.testing import CliRunner

from energybench.cli.app import app
from energybench.errors import WorkloadError
from energybench.workloads.sww import (
    load_sww_truth,
    parse_detections_ms,
    score_detections,
)

CHECKER_ACCURACY = re.compile(
    r"Accuracy: ([\d]+) True positives, ([\d]+) False negatives, ([\d]+) False positives"
)
SHORT_WINDOWS = ((1.0, 1.6476250000000001), (4.0, 4.76175), (7.0, 7.358625))


def _reference_scoring(marks_ms, windows, delay_s=1.0, debounce_s=1.0):
    """The reference runner's algorithm as docs/mlperf-rules.md#sww-scoring and
    docs/reference-runner.md#runner-sww-tolerance describe it (the delay is
    added twice), written independently as an oracle."""
    offsets = np.asarray(marks_ms[1:], dtype=np.int64) - marks_ms[0]
    tp, fn = [], []
    for start, stop in windows:
        stop += delay_s
        idx = np.where((offsets / 1000 >= start) & (offsets / 1000 <= stop + delay_s))[0]
        if idx.size:
            tp.append(start)
            offsets = np.delete(offsets, idx)
        else:
            fn.append(start)
    i = 0
    while i < offsets.size:
        later = np.where((offsets > offsets[i]) & (offsets <= offsets[i] + int(debounce_s * 1000)))[
            0
        ]
        offsets = np.delete(offsets, later)
        i += 1
    return tp, fn, list(offsets / 1000)


def test_readme_example_2_8_s_is_a_false_positive_with_the_documented_window() -> None:
    # start marker at 100 ms; detections 1.3 s (window 1) and 2.8 s after it
    marks = [100, 1400, 2900]
    documented = score_detections(marks, SHORT_WINDOWS)
    assert documented.true_positive_starts_s == (1.0,)
    assert documented.false_negative_starts_s == (4.0, 7.0)
    assert documented.false_positives_s == (2.8,)
    reference = score_detections(marks, SHORT_WINDOWS, tolerance_s=2.0)
    assert reference.false_positives == 0 and reference.true_positives == 1


def test_window_bounds_are_inclusive_and_every_detection_inside_is_consumed() -> None:
    windows = ((1.0, 2.0),)
    # 1.000 s and 3.000 s sit exactly on the bounds; 1.5 s too: one TP, nothing left over
    assert score_detections([0, 1000, 1500, 3000], windows).false_positives == 0
    score = score_detections([0, 999, 3001], windows)
    assert score.true_positives == 0 and score.false_negatives == 1
    assert score.false_positives_s == (0.999, 3.001)


def test_a_detection_serves_one_window_only_in_truth_order() -> None:
    windows = ((1.0, 1.5), (2.0, 2.5))
    score = score_detections([0, 2200], windows)  # inside window 1's tolerance and window 2
    assert score.true_positive_starts_s == (1.0,)
    assert score.false_negative_starts_s == (2.0,)


def test_false_positives_are_debounced_from_the_last_kept_one() -> None:
    marks = [0, 10_000, 10_500, 11_000, 11_200, 12_100, 12_201]
    score = score_detections(marks, ())
    # 10.5 and 11.0 fall within 1 s of 10.0; 11.2 is kept; 12.1 within 1 s of 11.2; 12.201 kept
    assert score.false_positives_s == (10.0, 11.2, 12.201)
    assert score_detections(marks, (), debounce_s=0.0).false_positives == 6


def test_start_marker_shifts_every_detection() -> None:
    score = score_detections([5000, 6200, 9300, 12_100], SHORT_WINDOWS)
    assert score.true_positives == 3 and score.false_positives == 0
    assert score.f1 == 1.0


def test_f1_and_the_checker_line() -> None:
    score = score_detections([0, 1200, 20_000], SHORT_WINDOWS)
    assert (score.true_positives, score.false_negatives, score.false_positives) == (1, 2, 1)
    assert score.f1 == pytest.approx(2 / (2 + 1 + 2))
    match = CHECKER_ACCURACY.search(score.accuracy_line())
    assert match and match.groups() == ("1", "2", "1")
    assert score_detections([0], ()).f1 == 0.0


def test_matches_the_reference_algorithm_on_random_streams() -> None:
    rng = random.Random(20261128)
    for _ in range(300):
        windows, t = [], 0.0
        for _ in range(rng.randint(0, 8)):
            t += rng.uniform(0.5, 4.0)
            end = t + rng.uniform(0.2, 0.9)
            windows.append((round(t, 3), round(end, 3)))
            t = end
        start = rng.randint(0, 500)
        # distinct times at least 11 ms apart: the board keeps one detection per 10 ms
        offsets, ms = [], 0
        for _ in range(rng.randint(0, 25)):
            ms += rng.randint(11, 2500)
            offsets.append(ms)
        marks = [start] + [start + o for o in offsets]
        tp, fn, fp = _reference_scoring(marks, windows)
        score = score_detections(marks, windows, tolerance_s=2.0)
        assert list(score.true_positive_starts_s) == tp
        assert list(score.false_negative_starts_s) == fn
        assert list(score.false_positives_s) == pytest.approx(fp)


def test_no_detection_at_all_is_an_error() -> None:
    with pytest.raises(WorkloadError, match="start of the stream"):
        score_detections([], SHORT_WINDOWS)


def test_parse_print_detections_reply_and_plain_lists() -> None:
    reply = ["Detection Timestamps (ms)", "32,", "1320,", "4410,", "m-ready"]
    assert parse_detections_ms(reply) == [32, 1320, 4410]
    assert parse_detections_ms(["32, 1320", "", "4410"]) == [32, 1320, 4410]
    with pytest.raises(WorkloadError, match="must end with 'm-ready'"):
        parse_detections_ms(reply[:-1], where="cap.txt")
    with pytest.raises(WorkloadError, match="line 2: '13x0'") as info:
        parse_detections_ms(["32,", "13x0,"], where="cap.txt")
    assert info.value.context == "cap.txt"
    with pytest.raises(WorkloadError, match="backwards"):
        parse_detections_ms(["500", "400"])


def test_detection_times_are_ascii_digits_only() -> None:
    # str.isdigit() is true for '²' (int() then raised a bare ValueError) and for fullwidth
    # digits: one WorkloadError naming the line and the file instead
    for text in ("40, 1²", "40, ４2"):
        with pytest.raises(WorkloadError, match="line 1") as info:
            parse_detections_ms([text], where="cap.txt")
        assert info.value.context == "cap.txt"


def test_shipped_short_truth_file_loads() -> None:
    (stream,) = load_sww_truth(
        shared_path("mlperf-tiny", "datasets", "sww01", "sww_short_test.json")
    )
    assert stream.wav_file == "short_wav_easy10s.wav"
    assert stream.sample_rate_hz == 16000 and stream.length_s == 10.0
    assert stream.windows_s == SHORT_WINDOWS


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"sample_rate": 16000, "length_sec": 10, "detection_windows": []}, "'wav_file'"),
        (
            {"wav_file": "a.wav", "sample_rate": 0, "length_sec": 10, "detection_windows": []},
            "'sample_rate'",
        ),
        (
            {
                "wav_file": "a.wav",
                "sample_rate": 16000,
                "length_sec": 10,
                "detection_windows": [[2.0, 1.0]],
            },
            r"'detection_windows\[0\]'",
        ),
        (
            {
                "wav_file": "a.wav",
                "sample_rate": 16000,
                "length_sec": 10,
                "detection_windows": [[1.0, 2.0], [1.5, 3.0]],
            },
            r"'detection_windows\[1\]' overlaps",
        ),
        (
            {
                "wav_file": "a.wav",
                "sample_rate": 16000,
                "length_sec": 10,
                "detection_windows": [[1.0, 12.0]],
            },
            "within 0..10.0 s",
        ),
        (
            {
                "wav_file": "a.wav",
                "sample_rate": 16000,
                "length_sec": "10",
                "detection_windows": [],
            },
            "'length_sec' must be a finite number",
        ),
    ],
)
def test_truth_file_errors_name_the_field(tmp_path, entry, message) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(WorkloadError, match=message) as info:
        load_sww_truth(path)
    assert info.value.context == f"{path} [0]"


def test_truth_file_that_is_not_json(tmp_path) -> None:
    path = tmp_path / "truth.json"
    path.write_text("[{")
    with pytest.raises(WorkloadError, match="cannot read sww truth file") as info:
        load_sww_truth(path)
    assert info.value.context == str(path)


def test_cli_scores_a_print_detections_capture(tmp_path) -> None:
    truth = tmp_path / "sww_short_test.json"
    truth.write_text(
        json.dumps(
            [
                {
                    "wav_file": "short_wav_easy10s.wav",
                    "sample_rate": 16000,
                    "length_sec": 10.0,
                    "detection_windows": [list(w) for w in SHORT_WINDOWS],
                }
            ]
        )
    )
    capture = tmp_path / "detections.txt"
    capture.write_text("Detection Timestamps (ms)\r\n40,\r\n1480,\r\n2840,\r\n4640,\r\nm-ready\r\n")
    runner = CliRunner()
    result = runner.invoke(app, ["score-sww", str(truth), str(capture)])
    assert result.exit_code == 0, result.output
    assert "Accuracy: 2 True positives, 1 False negatives, 1 False positives" in result.output
    assert "F1 = 2TP/(2TP+FP+FN) = 0.667" in result.output
    as_json = json.loads(
        runner.invoke(
            app, ["score-sww", str(truth), str(capture), "--json", "--tolerance-s", "2"]
        ).output
    )
    assert as_json["true_positives"] == 2 and as_json["false_positives"] == 0
    assert as_json["false_negative_starts_s"] == [7.0]
    bad = runner.invoke(app, ["score-sww", str(truth), str(capture), "--wav", "other.wav"])
    assert bad.exit_code != 0


def test_sww01_is_a_runnable_stream_workload() -> None:
    from energybench.workloads.definitions import load_workload

    sww = load_workload("sww01")
    assert (sww.kind, sww.metric, sww.truth_file) == ("stream", "f1", "sww_long_test.json")
    q = sww.stream_quality
    assert (q.max_false_positives, q.max_false_negatives, q.checker_windows) == (8, 8, 50)
    assert q.met(8, 8) and not q.met(9, 0) and not q.met(0, 9)
    assert sww.input_bytes is None and sww.classes is None
    assert sww.counts("energy").windows == 1
