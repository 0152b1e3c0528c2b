"""CSV trace files: round trip and errors that name the file and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from energybench.analysis.trace import SampleRange, Trace
from energybench.errors import TraceFileError
from energybench.traces import open_recording
from energybench.traces.csv_io import read_csv, write_csv


def test_round_trip_keeps_samples_ids_rate_and_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 2_001
    current = rng.normal(1e-3, 1e-4, n)
    current[100:103] = np.nan
    voltage = rng.normal(3.3, 0.01, n)
    original = Trace.from_arrays(
        current,
        voltage,
        250_000.0,
        digital={"gpi[0]": rng.random(n) < 0.5, "gpi[1]": np.zeros(n, bool)},
        first_sample_id=9_000,
        t0_utc_ns=1_764_300_000_000_000_007,
        sample_kind="bin",
    )
    back = open_recording(write_csv(tmp_path / "t.csv", original, chunk_samples=333))
    assert isinstance(back, Trace)
    assert back.sample_rate_hz == 250_000.0
    assert (back.first_sample_id, back.n_samples) == (9_000, n)
    assert back.t0_utc_ns == original.t0_utc_ns
    assert back.sample_kind == "bin"
    assert back.digital_names == ("gpi[0]", "gpi[1]")
    assert back.missing == (SampleRange(9_100, 9_103),)
    a = original.read(9_000, 9_000 + n)
    b = back.read(9_000, 9_000 + n)
    np.testing.assert_array_equal(b.current_a, a.current_a)
    np.testing.assert_array_equal(b.voltage_v, a.voltage_v)
    for name in back.digital_names:
        np.testing.assert_array_equal(b.digital[name], a.digital[name])


def test_rate_comes_from_the_time_column_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    rows = [f"{k * 0.001:.3f},{0.002 + k * 1e-6},1.8,{k % 2}" for k in range(50)]
    path.write_text("time_s,current_a,voltage_v,gpi[0]\r\n" + "\r\n".join(rows) + "\r\n")
    trace = read_csv(path)
    assert trace.sample_rate_hz == pytest.approx(1000.0, rel=1e-12)
    assert trace.first_sample_id == 0 and trace.n_samples == 50
    assert trace.read(0, 4).digital["gpi[0]"].tolist() == [False, True, False, True]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    return path


H = "time_s,current_a,voltage_v\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "header row is required"),
        ("t,i,v\n0,1,2\n0.1,1,2\n", "line 1: header starts"),
        (H + "0,1e-3,1.8\n0.001,abc,1.8\n", "line 3: column 'current_a'"),
        (H + "0,1e-3,1.8\n0.001,1e-3\n", "line 3: 2 values"),
        (H + "0,1,1\n0.001,1,1\n0.001,1,1\n", "line 4: time_s 0.001 does not"),
        (H + "0,1,1\n0.001,1,1\n0.0025,1,1\n0.003,1,1\n", "line 4: .*non-uniform"),
        (H[:-1] + ",gpi[0]\n0,1,1,0\n0.001,1,1,2\n", r"line 3: digital column 'gpi\[0\]'"),
        (H + "0,1,1\n", "at least 2 samples"),
        ("# sample_rate_hz=2000\n" + H + "0,1,1\n0.001,1,1\n", "time column gives 1000"),
    ],
)
def test_bad_files_raise_one_error_naming_file_and_line(tmp_path, body, message) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(TraceFileError, match=message) as info:
        read_csv(path)
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match=re.escape(str(tmp_path / "none.csv"))):
        read_csv(tmp_path / "none.csv")
