"""The runner's CSV stream writer (rates JLS cannot store): gaps, overlaps, bogus ids."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.acquisition.recording import CsvStreamWriter
from energybench.analysis.trace import SampleRange, TraceChunk
from energybench.errors import TraceFileError
from energybench.traces.csv_io import read_csv

RATE_HZ = 1 / 307.2e-6  # an N6705 Elog period: not an integer rate


def _chunk(first: int, n: int, level: float = 1e-3) -> TraceChunk:
    current = np.full(n, level) + np.arange(n) * 1e-6
    return TraceChunk(first, RATE_HZ, current, 1.8, {"gpi[0]": np.arange(n) % 2 == 0})


def test_a_gap_is_written_as_missing_rows_and_the_file_reads_back(tmp_path) -> None:
    path = tmp_path / "trace.csv"
    writer = CsvStreamWriter(path, RATE_HZ, 100, ("gpi[0]",), "point", max_gap_s=1.0)
    writer.append(_chunk(100, 50))
    writer.append(_chunk(170, 30))  # 20 samples dropped
    writer.close()
    trace = read_csv(path)
    assert trace.first_sample_id == 100 and trace.n_samples == 100
    assert trace.missing == (SampleRange(150, 170),)
    data = trace.read(100, 200)
    np.testing.assert_allclose(data.current_a[70:], _chunk(170, 30).current_a, rtol=1e-8)


def test_overlap_and_a_gap_over_the_bound_are_refused_and_the_file_stays_readable(tmp_path) -> None:
    path = tmp_path / "trace.csv"
    max_gap = round(1.0 * RATE_HZ)
    writer = CsvStreamWriter(path, RATE_HZ, 0, ("gpi[0]",), "point", max_gap_s=1.0)
    writer.append(_chunk(0, 40))
    with pytest.raises(TraceFileError, match="overlap") as info:
        writer.append(_chunk(39, 10))
    assert info.value.context == str(path)
    writer.append(_chunk(40 + max_gap, 10))  # exactly the bound: filled
    with pytest.raises(TraceFileError, match=f"gap of {max_gap + 1} samples"):
        writer.append(_chunk(50 + 2 * max_gap + 1, 10))
    with pytest.raises(TraceFileError, match="gap"):
        writer.append(_chunk(2**40, 10))  # a bogus id: refused, nothing allocated for it
    writer.close()
    trace = read_csv(path)
    assert trace.n_samples == 50 + max_gap
    assert trace.missing == (SampleRange(40, 40 + max_gap),)


def test_a_negative_bound_is_refused(tmp_path) -> None:
    with pytest.raises(TraceFileError, match="max_gap_s"):
        CsvStreamWriter(tmp_path / "t.csv", RATE_HZ, 0, (), "point", max_gap_s=-1.0)
