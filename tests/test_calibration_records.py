"""Calibration arithmetic and records without a lab: the fit, the residual and certificate
refusals, the skew estimate, the store's location, record status and hashing, procedures."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from energybench.analysis.trace import Trace
from energybench.calibration import fit
from energybench.calibration.apply import integrate_corrected
from energybench.calibration.correction import Correction, LinearCorrection
from energybench.calibration.procedure import (
    CalibrationRefused,
    load_procedure,
    parse_reference,
    procedure_names,
)
from energybench.calibration.records import (
    CalibrationRecord,
    content_hash,
    finish,
    search_records,
    store_dir,
    write_record,
)
from energybench.errors import ConfigError

IDENTITY = {"vendor": "v", "model": "M1", "serial_number": "S1", "firmware": "1.0"}


def test_linear_fit_recovers_gain_and_offset_with_uncertainties() -> None:
    rng = np.random.default_rng(1)
    ref = np.array([0.0, 2e-3, 5e-3, 1e-2, 2e-2])
    u = np.full(ref.size, 1e-7)
    meas = 1.02 * ref + 5e-5 + rng.normal(0, 1e-7, ref.size)
    g = fit.linear_fit(ref, meas, u, reference_std_rel=25e-6)
    assert abs(g.gain - 1.02) < 4 * g.gain_std and abs(g.offset - 5e-5) < 4 * g.offset_std
    assert g.gain_std >= 1.02 * 25e-6  # never below the reference's own share
    assert g.worst_relative_residual() < 1e-3


def test_nonlinear_meter_gives_residuals_beyond_a_tolerance() -> None:
    ref = np.array([0.0, 2e-3, 5e-3, 1e-2, 2e-2])
    meas = ref * (1 + 20 * ref)  # 40 % curvature at full scale
    g = fit.linear_fit(ref, meas, np.full(ref.size, 1e-9), 0.0)
    assert g.worst_relative_residual() > 1e-3


def test_skew_from_steps_at_random_phases() -> None:
    rng = np.random.default_rng(2)
    fs, skew = 10_000.0, 30e-6
    lags = []
    for _ in range(400):
        t_on = rng.uniform(0, 1) / fs + 0.01
        k_sync = math.ceil(t_on * fs)
        k_cur = math.ceil((t_on + skew) * fs)
        lags.append(k_cur - k_sync)
    s = fit.skew_from_steps(lags, fs)
    assert abs(s.skew_s - skew) < 4 * s.skew_std_s


def test_step_position_interpolates_halfway() -> None:
    current = np.array([0.0] * 10 + [1.0] * 10)
    assert fit.step_position(current, 0, 20) == pytest.approx(9.5)


def test_reference_certificate_checks() -> None:
    table = {"id": "R1", "resistance_ohm": 100.0, "uncertainty_rel": 5e-5,
             "tolerance_rel": 1e-3, "certificate_date": "2025-01-10"}  # fmt: skip
    ref = parse_reference(table)
    ref.check_valid(dt.date(2025, 6, 1))
    with pytest.raises(CalibrationRefused, match="expired on 2026-01-10"):
        ref.check_valid(dt.date(2026, 2, 1))
    with pytest.raises(ConfigError, match="resistance_ohm"):
        parse_reference({**table, "resistance_ohm": -1})
    with pytest.raises(ConfigError, match="certificate_date"):
        parse_reference({**table, "certificate_date": "June"})
    with pytest.raises(ConfigError, match="no reference"):
        parse_reference(None)


def test_procedures_ship_and_say_what_to_connect() -> None:
    assert "reference-resistor" in procedure_names()
    proc = load_procedure("reference-resistor")
    assert [s.kind for s in proc.steps] == ["self_calibration", "zero", "gain", "skew"]
    assert all(s.connect for s in proc.steps)
    with pytest.raises(ConfigError, match="no calibration procedure 'nope'"):
        load_procedure("nope")


def test_store_location_precedence(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ENERGYBENCH_CALIBRATION_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert store_dir() == tmp_path / "xdg" / "energybench" / "calibration"
    assert store_dir("cal", tmp_path / "bench.toml") == tmp_path / "cal"
    monkeypatch.setenv("ENERGYBENCH_CALIBRATION_DIR", str(tmp_path / "env"))
    assert store_dir("cal", tmp_path / "bench.toml") == tmp_path / "env"


def _record(created: dt.datetime, rid: str = "r1", days: int = 365) -> CalibrationRecord:
    return finish({
        "record_id": rid, "created_utc": created.isoformat(), "instrument": dict(IDENTITY),
        "channel": 1, "range_a": None, "reference": {"id": "R1"},
        "coefficients": {"gain": 1.02, "gain_std": 1e-5, "offset_a": 5e-5, "offset_std_a": 1e-8},
        "skew": {"skew_s": 3e-5, "skew_std_s": 3e-6}, "validity": {"days": days},
    })  # fmt: skip


def test_record_status_and_newest_valid(tmp_path) -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    old = _record(now - dt.timedelta(days=400), "old")
    new = _record(now - dt.timedelta(days=10), "new")
    for r in (old, new):
        write_record(tmp_path, r)
    assert old.status(IDENTITY, now)[0] == "expired"
    state, reason = new.status({**IDENTITY, "serial_number": "S2"}, now)
    assert state == "mismatch" and "serial_number" in reason
    found = search_records(tmp_path, IDENTITY, now).record
    assert found is not None and found.record_id == "new"
    state, reason = new.status(IDENTITY, now, 1, range_a=0.01)  # the bench fixes a range
    assert state == "mismatch"
    assert "no particular range, this run measured in the 0.01 A range" in reason
    expired = search_records(tmp_path, IDENTITY, now + dt.timedelta(days=400))
    none, reason = expired.record, expired.reason
    assert none is None and "expired" in reason
    assert new.hash == content_hash(new.data)
    with pytest.raises(ConfigError, match="exists already"):
        write_record(tmp_path, new)


def test_correction_applied_at_analysis_time() -> None:
    fs = 1000.0
    true = np.full(2000, 0.01)
    raw = 1.02 * true + 5e-5
    trace = Trace.from_arrays(raw.astype(np.float32), 2.0, fs)
    corr = Correction(current={None: LinearCorrection("current", None, 1.02, 0, 5e-5, 0)},
                      skew_s=1e-3)  # fmt: skip
    r = integrate_corrected(trace, 100.0, 1100.0, 10, corr, None)
    assert r.energy_j == pytest.approx(0.01 * 2.0 * 1.0, rel=1e-6)
    assert r.start_position == pytest.approx(101.0)  # moved by the skew


def _bench(tmp_path, extra: str = ""):
    import tomllib

    from energybench.runner.bench import parse_bench

    text = (
        '[meter]\ndriver = "sim_stream"\nresource = "tcp://127.0.0.1:9"\n'
        '[sync]\nmode = "digital_channel"\nline = "gpi[0]"\npolarity = "falling"\n'
        '[dut]\nport = "/dev/null"\nbaud = 9600\n' + extra
    )
    return parse_bench(tomllib.loads(text), "bench")


def test_choose_calibration_auto_none_file(tmp_path, monkeypatch) -> None:
    from energybench.runner.calibration_use import choose_calibration

    monkeypatch.setenv("ENERGYBENCH_CALIBRATION_DIR", str(tmp_path))
    now = dt.datetime.now(dt.UTC)
    path = write_record(tmp_path, _record(now - dt.timedelta(days=1)))
    bench = _bench(tmp_path)
    use = choose_calibration(bench, IDENTITY, "auto", now)
    assert use.label == "calibrated" and use.correction is not None
    assert use.provenance()[0]["id"] == "r1" and len(use.provenance()[0]["sha256"]) == 64
    assert choose_calibration(bench, IDENTITY, "none", now).label == "uncalibrated (none)"
    other = {**IDENTITY, "firmware": "2.0"}
    use = choose_calibration(bench, other, str(path), now)
    assert use.label == "uncalibrated (mismatch)" and "firmware" in use.reason
    use = choose_calibration(bench, IDENTITY, str(tmp_path / "missing.json"), now)
    assert use.label == "uncalibrated (unreadable)"


def test_bench_calibration_table_is_checked(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"calibration\.stor"):
        _bench(tmp_path, '[calibration]\nstor = "x"\n')
    with pytest.raises(ConfigError, match="validity_days"):
        _bench(tmp_path, "[calibration]\nvalidity_days = 0\n")
    bench = _bench(tmp_path, '[calibration]\nstore = "cal"\nvalidity_days = 30\n')
    assert bench.calibration == {"store": "cal", "validity_days": 30}
