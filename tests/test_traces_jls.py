"""JLS v2 files: our writer and reader, Joulescope-layout files, gaps, crash safety."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyjls
import pytest

from energybench.analysis.trace import UNKNOWN_RANGE, SampleRange, SourceInfo, Trace, TraceChunk
from energybench.errors import TraceFileError
from energybench.traces import open_recording
from energybench.traces.jls import read_jls, time64_to_utc_ns, utc_ns_to_time64
from energybench.traces.jls_check import check_jls, recover_jls
from energybench.traces.jls_writer import JlsWriter, write_jls

RATE_HZ = 100_000.0


def _random_trace(n: int = 50_003, first_sample_id: int = 12_345) -> Trace:
    rng = np.random.default_rng(7)
    current = rng.normal(2e-3, 3e-4, n).astype(np.float32)
    voltage = rng.normal(1.8, 0.01, n).astype(np.float32)
    return Trace.from_arrays(
        current,
        voltage,
        RATE_HZ,
        digital={"gpi[0]": rng.random(n) < 0.5, "trigger_in": rng.random(n) < 0.1},
        first_sample_id=first_sample_id,
        t0_utc_ns=1_764_300_000_123_456_789,
        source=SourceInfo("Virtual JS220", "000415", "sim://js220", "round-trip test"),
        sample_kind="point",
        calibration_id="cal-2026-11-28",
    )


def _all(trace: Trace) -> TraceChunk:
    return trace.read(trace.first_sample_id, trace.stop_sample_id)


def test_time64_conversion_is_exact_to_the_nanosecond() -> None:
    for ns in (0, 1, 1_514_764_800_000_000_000, 1_764_300_000_123_456_789, 2**62):
        assert time64_to_utc_ns(utc_ns_to_time64(ns)) == ns


def test_round_trip_gives_identical_samples_ids_rate_and_metadata(tmp_path: Path) -> None:
    original = _random_trace()
    path = write_jls(tmp_path / "rt.jls", original, chunk_samples=7_777)
    back = read_jls(path)
    assert back.sample_rate_hz == RATE_HZ
    assert back.first_sample_id == original.first_sample_id
    assert back.n_samples == original.n_samples
    assert back.t0_utc_ns == original.t0_utc_ns
    assert back.digital_names == ("gpi[0]", "trigger_in")
    assert back.source == original.source
    assert back.calibration_id == "cal-2026-11-28"
    assert back.missing == ()
    a, b = _all(original), _all(back)
    assert b.current_a.dtype == np.float32
    np.testing.assert_array_equal(b.current_a, a.current_a)
    np.testing.assert_array_equal(b.voltage_v, a.voltage_v)
    for name in back.digital_names:
        np.testing.assert_array_equal(b.digital[name], a.digital[name])
    # chunked reads at odd offsets give the same samples as one read
    pieces = list(back.chunks(4_099, start_id=back.first_sample_id + 3))
    joined = np.concatenate([c.digital["gpi[0]"] for c in pieces])
    np.testing.assert_array_equal(joined, a.digital["gpi[0]"][3:])


def test_file_has_the_joulescope_signal_layout(tmp_path: Path) -> None:
    path = write_jls(tmp_path / "layout.jls", _random_trace(1_000), include_power=True)
    with pyjls.Reader(str(path)) as r:
        signals = {s.name: s for s in r.signals.values() if s.signal_id}
        assert [(s.signal_id, s.data_type, s.units) for s in signals.values()] == [
            (1, pyjls.DataType.F32, "A"),
            (2, pyjls.DataType.F32, "V"),
            (3, pyjls.DataType.F32, "W"),
            (4, pyjls.DataType.U1, ""),
            (5, pyjls.DataType.U1, ""),
        ]
        assert list(signals) == ["current", "voltage", "power", "gpi[0]", "trigger_in"]
        assert all(s.sample_rate == RATE_HZ for s in signals.values())
        power = r.fsr(3, 0, 1_000)
        i, v = r.fsr(1, 0, 1_000), r.fsr(2, 0, 1_000)
        np.testing.assert_array_equal(power, i * v)
        assert r.time_map_length(1) >= 1


def _write_joulescope_style(path: Path, n: int, offsets: dict[str, int]) -> dict[str, np.ndarray]:
    """A file laid out as pyjoulescope_driver.Record writes it (streams start independently)."""
    rng = np.random.default_rng(3)
    data: dict[str, np.ndarray] = {}
    with pyjls.Writer(str(path)) as w:
        w.source_def(
            source_id=1,
            name="JS220-000415",
            vendor="Jetperch",
            model="JS220",
            version="",
            serial_number="000415",
        )
        specs = [
            ("current", pyjls.DataType.F32, "A"),
            ("voltage", pyjls.DataType.F32, "V"),
            ("power", pyjls.DataType.F32, "W"),
            ("gpi[0]", pyjls.DataType.U1, ""),
            ("trigger_in", pyjls.DataType.U1, ""),
        ]
        for signal_id, (name, data_type, units) in enumerate(specs, start=1):
            w.signal_def(
                signal_id=signal_id,
                source_id=1,
                signal_type=pyjls.SignalType.FSR,
                data_type=data_type,
                sample_rate=1_000_000,
                name=name,
                units=units,
            )
            first = offsets[name]
            w.utc(signal_id, first, utc_ns_to_time64(1_764_300_000_000_000_000) + first * 1074)
            if data_type == pyjls.DataType.F32:
                x = rng.normal(1e-3, 1e-4, n).astype(np.float32)
                if name == "current":
                    x[20_000:20_050] = np.nan  # dropped samples, as the UI writes them
                data[name] = x
                for a in range(0, n, 10_000):
                    w.fsr_f32(signal_id, first + a, x[a : a + 10_000])
            else:
                bits = rng.random(n) < 0.5
                data[name] = bits
                w.fsr(signal_id, first, np.packbits(bits.astype(np.uint8), bitorder="little"))
    return data


def test_reads_a_file_in_the_joulescope_layout_aligning_streams(tmp_path: Path) -> None:
    n = 80_000  # multiple of 8 (u1 streams are written in whole bytes)
    offsets = {"current": 1_000_003, "voltage": 1_000_003, "power": 1_000_003,
               "gpi[0]": 1_000_000, "trigger_in": 1_000_011}  # fmt: skip
    data = _write_joulescope_style(tmp_path / "js220.jls", n, offsets)
    trace = open_recording(tmp_path / "js220.jls")
    assert isinstance(trace, Trace)
    first, stop = 1_000_011, 1_000_000 + n  # the range every stream holds
    assert (trace.first_sample_id, trace.stop_sample_id) == (first, stop)
    assert trace.sample_rate_hz == 1e6
    assert trace.digital_names == ("gpi[0]", "trigger_in")
    assert trace.source.instrument == "Jetperch JS220"
    assert trace.source.serial_number == "000415"
    assert trace.sample_kind == "point"
    chunk = _all(trace)
    for name in ("current", "voltage"):
        a = first - offsets[name]
        expected = data[name][a : a + trace.n_samples]
        got = chunk.current_a if name == "current" else chunk.voltage_v
        np.testing.assert_array_equal(got, expected)
    for name in ("gpi[0]", "trigger_in"):
        a = first - offsets[name]
        np.testing.assert_array_equal(chunk.digital[name], data[name][a : a + trace.n_samples])
    nan_start = offsets["current"] + 20_000
    assert trace.missing == (SampleRange(nan_start, nan_start + 50),)
    # current's time-map entry is at its first sample; the trace starts 8 samples (8 µs) later
    t_current = utc_ns_to_time64(1_764_300_000_000_000_000) + offsets["current"] * 1074
    assert abs(trace.t0_utc_ns - (time64_to_utc_ns(t_current) + 8_000)) <= 2


def test_gap_is_written_as_nan_and_recorded(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "gap.jls"
    with JlsWriter(path, sample_rate_hz=1000, digital_names=("gpi[0]",)) as w:
        for first in (500, 1_500, 4_000):  # 1000-sample chunks: gaps [2500, 4000)
            n = 1_000
            w.append(TraceChunk(first, 1000.0, rng.random(n), 1.8, {"gpi[0]": np.ones(n, bool)}))
            if first == 500:
                w.append(TraceChunk(1_500 - 1, 1000.0, np.zeros(0), 1.8, {"gpi[0]": np.zeros(0)}))
        assert w.gaps == [SampleRange(2_500, 4_000)]
        assert w.n_samples == 4_500
    trace = read_jls(path)
    assert (trace.first_sample_id, trace.n_samples) == (500, 4_500)
    assert trace.missing == (SampleRange(2_500, 4_000),)
    chunk = trace.read(2_400, 4_100)
    assert np.isnan(chunk.current_a[100:1_600]).all()
    assert not np.isnan(chunk.current_a[:100]).any() and not np.isnan(chunk.current_a[-100:]).any()
    assert not chunk.digital["gpi[0]"][100:1_600].any()


def test_per_sample_current_range_round_trips_with_unknown_in_gaps(tmp_path: Path) -> None:
    path = tmp_path / "ranges.jls"
    ones = np.ones(100)
    with JlsWriter(path, sample_rate_hz=1000, digital_names=("d0",), current_range=True) as w:
        w.append(TraceChunk(0, 1000, ones, 1.8, {"d0": ones > 0}, np.full(100, 2)))
        w.append(TraceChunk(150, 1000, ones[:50], 1.8, {"d0": ones[:50] > 0}, np.full(50, 1)))
        with pytest.raises(TraceFileError, match="current range"):
            w.append(TraceChunk(200, 1000, ones, 1.8, {"d0": ones > 0}))  # a chunk without
    trace = read_jls(path)
    assert trace.digital_names == ("d0",)  # the range is not a digital line
    ranges = trace.read(0, 200).current_range
    assert set(ranges[:100]) == {2} and set(ranges[100:150]) == {UNKNOWN_RANGE}
    assert set(ranges[150:]) == {1}
    copy = read_jls(write_jls(tmp_path / "copy.jls", trace))  # whole traces keep it too
    assert copy.read(0, 200).current_range.tolist() == ranges.tolist()


def test_gap_up_to_max_gap_is_filled_a_larger_one_refused_after_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "bogus.jls"
    rate = 100_000
    w = JlsWriter(path, sample_rate_hz=rate, digital_names=("gpi[0]",), max_gap_s=0.1)
    try:  # 0.1 s at 100 kHz: a gap of 10_000 samples is filled, 10_001 is refused
        w.append(TraceChunk(0, rate, np.ones(8_192), 1.8, {"gpi[0]": np.ones(8_192, bool)}))
        w.append(TraceChunk(18_192, rate, np.ones(8_192), 1.8, {"gpi[0]": np.ones(8_192, bool)}))
        assert w.gaps == [SampleRange(8_192, 18_192)]
        with pytest.raises(TraceFileError, match=r"36385, expected 26384.*10001 samples") as info:
            w.append(TraceChunk(36_385, rate, np.ones(10), 1.8, {"gpi[0]": np.ones(10, bool)}))
        assert info.value.context == str(path)
        assert (w.n_samples, w.gaps) == (26_384, [SampleRange(8_192, 18_192)])
        # flushed before raising (no auto flush yet at 1 s intervals): the open file already
        # holds every complete f32 block written so far
        with pyjls.Reader(str(path)) as r:
            lengths = {s.name: s.length for s in r.signals.values() if s.signal_id}
        assert lengths["current"] == 26_384 // 8_192 * 8_192
    finally:
        w.close()
    trace = read_jls(path)
    assert (trace.first_sample_id, trace.n_samples) == (0, 26_384)
    assert trace.missing == (SampleRange(8_192, 18_192),)


def test_a_bogus_sample_id_jump_is_refused_by_default(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="max_gap_s"):
        JlsWriter(tmp_path / "x.jls", sample_rate_hz=1000, max_gap_s=-1.0)
    path = tmp_path / "jump.jls"
    with JlsWriter(path, sample_rate_hz=1000) as w:  # default max_gap_s: 60 s
        w.append(TraceChunk(0, 1000.0, np.ones(10), 1.8))
        w.append(TraceChunk(60_010, 1000.0, np.ones(10), 1.8))  # 60 s gap: filled
        with pytest.raises(TraceFileError, match=r"max_gap_s"):
            w.append(TraceChunk(60_020 + 2**40, 1000.0, np.ones(10), 1.8))
    assert read_jls(path).n_samples == 60_020


def test_writer_rejects_overlap_rate_and_line_mismatch(tmp_path: Path) -> None:
    with JlsWriter(tmp_path / "bad.jls", sample_rate_hz=1000, digital_names=("gpi[0]",)) as w:
        w.append(TraceChunk(0, 1000.0, np.zeros(10), 1.8, {"gpi[0]": np.zeros(10)}))
        with pytest.raises(TraceFileError, match="overlap"):
            w.append(TraceChunk(5, 1000.0, np.zeros(10), 1.8, {"gpi[0]": np.zeros(10)}))
        with pytest.raises(TraceFileError, match=r"2000\.0 Hz"):
            w.append(TraceChunk(10, 2000.0, np.zeros(10), 1.8, {"gpi[0]": np.zeros(10)}))
        with pytest.raises(TraceFileError, match="digital lines"):
            w.append(TraceChunk(10, 1000.0, np.zeros(10), 1.8, {}))
    with pytest.raises(TraceFileError, match="integer sample rate"):
        JlsWriter(tmp_path / "x.jls", sample_rate_hz=1000.5)


def test_reader_errors_name_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jls"
    junk.write_bytes(b"not a jls file at all" * 10)
    with pytest.raises(TraceFileError, match=r"junk\.jls"):
        read_jls(junk)
    no_current = tmp_path / "nocurrent.jls"
    with pyjls.Writer(str(no_current)) as w:
        w.source_def(source_id=1, name="x", vendor="", model="", version="", serial_number="")
        w.signal_def(signal_id=1, source_id=1, sample_rate=1000, name="voltage", units="V")
        w.fsr_f32(1, 0, np.ones(100, np.float32))
    with pytest.raises(TraceFileError, match=r"no 'current' signal.*voltage"):
        read_jls(no_current)


@pytest.mark.parametrize(("name", "units"), [("current", "mA"), ("voltage", "mV")])
def test_signals_not_in_si_units_are_refused(tmp_path: Path, name, units) -> None:
    path = tmp_path / "units.jls"
    with pyjls.Writer(str(path)) as w:
        w.source_def(source_id=1, name="x", vendor="", model="", version="", serial_number="")
        for k, (signal, unit) in enumerate((("current", "A"), ("voltage", "V")), start=1):
            unit = units if signal == name else unit
            w.signal_def(signal_id=k, source_id=1, sample_rate=1000, name=signal, units=unit)
            w.fsr_f32(k, 0, np.ones(100, np.float32))
    with pytest.raises(TraceFileError, match=rf"{name} is recorded in '{units}'") as info:
        read_jls(path)
    assert info.value.context == str(path)


def test_current_only_recording_needs_a_voltage(tmp_path: Path) -> None:
    path = tmp_path / "i.jls"
    with pyjls.Writer(str(path)) as w:
        w.source_def(source_id=1, name="JS110-1", vendor="", model="", version="", serial_number="")
        w.signal_def(signal_id=1, source_id=1, sample_rate=1000, name="current", units="A")
        w.fsr_f32(1, 0, np.full(100, 2e-3, np.float32))
    with pytest.raises(TraceFileError, match="voltage_v"):
        read_jls(path)
    trace = read_jls(path, voltage_v=3.3)
    assert _all(trace).voltage_v == 3.3


_CRASH_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from energybench.analysis.trace import TraceChunk
    from energybench.traces.jls_writer import JlsWriter

    w = JlsWriter(sys.argv[1], sample_rate_hz=100_000, digital_names=("gpi[0]",),
                  first_sample_id=1000, flush_interval_s=0.5)
    n = 0
    for k in range(60):
        ids = np.arange(1000 + n, 1000 + n + 5_000)
        w.append(TraceChunk(int(ids[0]), 100_000.0, (ids % 977).astype(np.float32), 1.8,
                            {"gpi[0]": (ids // 300) % 2 == 0}))
        n += 5_000
    w.flush()
    print(n, flush=True)
    time.sleep(60)  # killed here, never closed
    """
)


def test_file_of_a_killed_writer_reads_back_the_flushed_samples(tmp_path: Path) -> None:
    path = tmp_path / "crash.jls"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASH_WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60.0)
        assert ready, "the writer subprocess did not report within 60 s"
        written = int(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # after flush() every complete block is in the file: f32 blocks of 8192 samples, u1 blocks
    # of 65536 (the default samples_per_data); the file was never closed, so it is read from a
    # recovered copy (pyjls itself may crash opening it), covering what all signals hold
    check = check_jls(path)
    assert not check.clean and "never closed" in check.problem
    recovered = recover_jls(path, check)
    try:
        with pyjls.Reader(str(recovered.path)) as r:
            lengths = {s.name: s.length for s in r.signals.values() if s.signal_id}
    finally:
        recovered.remove()
    assert lengths == {
        "current": written // 8192 * 8192,
        "voltage": written // 8192 * 8192,
        "gpi[0]": written // 65_536 * 65_536,
    }
    trace = read_jls(path)
    assert "PARTIAL" in trace.source.description
    assert trace.first_sample_id == 1000
    assert trace.n_samples == written // 65_536 * 65_536
    chunk = _all(trace)
    ids = np.arange(trace.first_sample_id, trace.stop_sample_id)
    np.testing.assert_array_equal(chunk.current_a, (ids % 977).astype(np.float32))
    np.testing.assert_array_equal(chunk.digital["gpi[0]"], (ids // 300) % 2 == 0)
    assert trace.missing == ()


@pytest.mark.parametrize("first_sample_id", [0, 1, 12_345])
def test_random_reads_match_whatever_the_sample_id_offset(tmp_path: Path, first_sample_id) -> None:
    """Regression: pyjls shifts u1 bits on reads inside a block when the offset % 8 != 0."""
    original = _random_trace(140_000, first_sample_id=first_sample_id)
    back = read_jls(write_jls(tmp_path / "o.jls", original))
    whole = _all(original)
    rng = np.random.default_rng(first_sample_id)
    for _ in range(60):
        a = int(rng.integers(0, 139_000))
        n = int(rng.integers(1, min(70_000, 140_000 - a)))
        chunk = back.read(first_sample_id + a, first_sample_id + a + n)
        np.testing.assert_array_equal(chunk.current_a, whole.current_a[a : a + n])
        np.testing.assert_array_equal(chunk.voltage_v, whole.voltage_v[a : a + n])
        for name in back.digital_names:
            np.testing.assert_array_equal(chunk.digital[name], whole.digital[name][a : a + n])


def test_a_recording_closed_before_any_sample_is_empty(tmp_path: Path) -> None:
    with JlsWriter(tmp_path / "e.jls", sample_rate_hz=1000, digital_names=("gpi[0]",)) as w:
        pass
    w.close()  # idempotent
    trace = read_jls(tmp_path / "e.jls")
    assert trace.n_samples == 0 and trace.missing == ()
    assert trace.read(trace.first_sample_id, trace.first_sample_id).n_samples == 0
