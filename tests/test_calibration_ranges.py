"""Calibration per current range: which record a run applies in the range it measures in
(record range vs run range, the None cases, the mismatch reason and its fix), and the range a
reference session measures in (``calibrate --range``, the bench's, the pick that holds the
reference's largest current × the ranging margin, the refusals)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from energybench.calibration.procedure import CalibrationRefused, load_procedure, parse_reference
from energybench.calibration.records import (
    CalibrationRecord,
    finish,
    same_range,
    search_records,
    write_record,
)
from energybench.runner.calibrate import largest_reference_a
from energybench.runner.calibration_use import choose_calibration
from energybench.runner.reference_session import reference_range

IDENTITY = {"vendor": "v", "model": "M1", "serial_number": "S1", "firmware": "1.0"}
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
JS220_A = (18e-6, 180e-6, 0.0018, 0.018, 0.18, 10.0)


def _record(rid: str, range_a: float | None, days_ago: int = 10, gain: float = 1.02):
    return finish({
        "record_id": rid, "created_utc": (NOW - dt.timedelta(days=days_ago)).isoformat(),
        "instrument": dict(IDENTITY), "channel": 1, "range_a": range_a,
        "reference": {"id": "R1"},
        "coefficients": {"gain": gain, "gain_std": 1e-5, "offset_a": 5e-5, "offset_std_a": 1e-8},
        "skew": {"skew_s": 3e-5, "skew_std_s": 3e-6}, "validity": {"days": 365},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("record_a", "run_a", "same"),
    [
        (None, None, True),  # no particular range: only where the run fixes none either
        (0.18, 0.18, True),
        (0.18, 0.018, False),
        (None, 0.018, False),  # an auto-ranging record never covers a fixed range
        (0.18, None, False),
    ],
)
def test_matching_rule(record_a, run_a, same) -> None:
    assert same_range(record_a, run_a) is same
    state, reason = _record("r", record_a).status(IDENTITY, NOW, 1, run_a, "ranging pass")
    assert state == ("valid" if same else "mismatch")
    if not same:
        mine = "no particular range" if record_a is None else f"the {record_a:g} A range"
        theirs = "no fixed range" if run_a is None else f"the {run_a:g} A range"
        assert f"is for {mine}, this run measured in {theirs} (ranging pass)" in reason


def test_search_picks_the_record_of_the_runs_range(tmp_path) -> None:
    write_record(tmp_path, _record("wide", 0.18, days_ago=20, gain=1.01))
    write_record(tmp_path, _record("narrow", 0.018, days_ago=5, gain=1.03))  # the newest
    write_record(tmp_path, _record("any", None, days_ago=1))
    for range_a, rid in ((0.18, "wide"), (0.018, "narrow"), (None, "any")):
        assert search_records(tmp_path, IDENTITY, NOW, 1, range_a).record.record_id == rid
    assert search_records(tmp_path, IDENTITY, NOW, any_range=True).record.record_id == "any"
    missing = search_records(tmp_path, IDENTITY, NOW, 1, 0.0018, range_source="ranging pass")
    assert missing.record is None and missing.why == "mismatch"
    assert "this run measured in the 0.0018 A range (ranging pass)" in missing.reason
    other = search_records(tmp_path, {**IDENTITY, "serial_number": "S2"}, NOW, 1, 0.18)
    assert other.why == "no record"  # another instrument's records are not a range mismatch


def test_an_expired_record_of_the_range_says_expired(tmp_path) -> None:
    write_record(tmp_path, _record("old", 0.018, days_ago=400))
    write_record(tmp_path, _record("wide", 0.18))
    found = search_records(tmp_path, IDENTITY, NOW, 1, 0.018)
    assert found.record is None and found.why == "expired" and "expired on" in found.reason


def _bench(extra: str = ""):
    import tomllib

    from energybench.runner.bench import parse_bench

    text = (
        '[meter]\ndriver = "sim_stream"\nresource = "tcp://127.0.0.1:9"\n' + extra +
        '[sync]\nmode = "digital_channel"\nline = "gpi[0]"\npolarity = "falling"\n'
        '[dut]\nport = "/dev/null"\nbaud = 9600\n'
    )  # fmt: skip
    return parse_bench(tomllib.loads(text), "bench")


def test_choose_calibration_names_both_ranges_and_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ENERGYBENCH_CALIBRATION_DIR", str(tmp_path))
    path = write_record(tmp_path, _record("wide", 0.18))
    bench = _bench()
    use = choose_calibration(bench, IDENTITY, "auto", NOW, range_a=0.018,
                             range_source="ranging pass")  # fmt: skip
    assert use.label == "uncalibrated (mismatch)" and use.range_a == 0.018
    assert use.reason == (
        "record wide is for the 0.18 A range, this run measured in the 0.018 A range (ranging "
        "pass): calibrate that range (`energybench calibrate --range 0.018`) or set [meter] "
        "options.current_range_a = 0.18"
    )
    assert choose_calibration(bench, IDENTITY, "auto", NOW, range_a=0.18).label == "calibrated"
    by_file = choose_calibration(bench, IDENTITY, str(path), NOW, range_a=0.018)
    assert by_file.why == "mismatch" and "--range 0.018" in by_file.reason
    # the bench's own range (no range_a given): "auto" is no fixed range, a number is that one
    auto = _bench('[meter.options]\ncurrent_range_a = "auto"\n')
    assert choose_calibration(auto, IDENTITY, "auto", NOW).why == "mismatch"
    fixed = _bench("[meter.options]\ncurrent_range_a = 0.18\n")
    assert choose_calibration(fixed, IDENTITY, "auto", NOW).label == "calibrated"


def _instruments(ranges=JS220_A, **options):
    return SimpleNamespace(
        meter=SimpleNamespace(current_ranges_a=ranges),
        bench=SimpleNamespace(meter=SimpleNamespace(driver="sim_stream", options=options)),
        option=lambda name, default=None: options.get(name, default),
    )


def test_reference_range_pick_bench_and_asked() -> None:
    picked = reference_range(_instruments(), None, 0.018)
    assert picked.range_a == 0.18
    assert picked.text == "range 0.18 A: holds the reference's 18.0 mA × 1.25"
    assert reference_range(_instruments(), None, 0.012).range_a == 0.018  # 15 mA fits 18 mA
    auto = reference_range(_instruments(current_range_a="auto"), None, 0.012)
    assert auto.range_a == 0.018
    bench = reference_range(_instruments(current_range_a=10.0), None, 0.018)
    assert bench.range_a == 10.0 and "bench file" in bench.text
    asked = reference_range(_instruments(current_range_a=10.0), 0.18, 0.018)
    assert asked.range_a == 0.18 and asked.text == "range 0.18 A: --range"
    assert reference_range(_instruments(ranges=()), None, 0.018).range_a is None


def test_reference_range_refusals() -> None:
    with pytest.raises(CalibrationRefused, match=r"0.05 A is not a current range of sim_stream"):
        reference_range(_instruments(), 0.05, 0.018)
    try:
        reference_range(_instruments(), 0.05, 0.018)
    except CalibrationRefused as exc:
        assert "--range" in exc.one_line() and "\n" not in exc.one_line()
    with pytest.raises(CalibrationRefused, match="lists no fixed current ranges"):
        reference_range(_instruments(ranges=()), 0.018, 0.018)
    with pytest.raises(CalibrationRefused, match=r"20 mA, beyond the 0\.018 A range"):
        reference_range(_instruments(), 0.018, 0.020)


def test_largest_reference_current_of_the_procedure() -> None:
    reference = parse_reference({
        "id": "R", "kind": "resistor", "resistance_ohm": 100.0, "uncertainty_rel": 5e-5,
        "tolerance_rel": 1e-3, "certificate_date": "2026-01-01",
    })  # fmt: skip
    proc = load_procedure("reference-resistor")
    assert largest_reference_a(proc, 1.8, reference) == pytest.approx(0.018)


def test_record_range_is_kept(tmp_path) -> None:
    assert isinstance(_record("r", 0.018), CalibrationRecord)
    assert _record("r", 0.018).correction().for_range("current", 0.018) is not None
