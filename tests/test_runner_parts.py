"""Runner parts on their own: the current-step window end, the uncertainty budget, the CSV
recording for non-integer rates, log.txt."""

from __future__ import annotations

import logging
import math
import tomllib

import numpy as np
import pytest

from energybench.acquisition.recording import RecordingSink
from energybench.analysis.capture import end_from_current_step
from energybench.analysis.trace import Trace, TraceChunk
from energybench.calibration.budget import (
    find_profile,
    median_expanded_uncertainty,
    window_budget,
)
from energybench.errors import ConfigError, EdgeCountError, RunError
from energybench.runner.bench import parse_bench
from energybench.runner.context import RunOptions
from energybench.runner.dut_setup import connect_dut
from energybench.runner.results import ModeResult
from energybench.runner.run import write_folder
from energybench.runner.runlog import RunLog
from energybench.traces.csv_io import read_csv


def _capture(fs: float, idle_a: float, active_a: float, hold_s: float, active_s: float) -> Trace:
    n = round(fs * (hold_s + active_s) * 1.3)
    t = np.arange(n) / fs
    current = np.where((t >= hold_s) & (t < hold_s + active_s), active_a, idle_a)
    return Trace.from_arrays(current, 1.8, fs, sample_kind="bin")


def test_current_step_end_skips_the_start_hold() -> None:
    trace = _capture(10_000.0, 0.006, 0.018, hold_s=0.002, active_s=2.0)
    end = end_from_current_step(trace, 0.0)
    assert trace.time_s(end) == pytest.approx(2.002, abs=2e-4)


def test_current_step_end_of_a_short_probe_in_a_long_capture() -> None:
    trace = _capture(1000.0, 0.006, 0.018, hold_s=0.002, active_s=0.1)  # 2.6 % of samples
    trace = Trace.from_arrays(
        np.concatenate([trace.read(0, trace.n_samples).current_a, np.full(4000, 0.006)]),
        1.8,
        1000.0,
        sample_kind="bin",
    )
    assert trace.time_s(end_from_current_step(trace, 0.0)) == pytest.approx(0.102, abs=2e-3)


def test_current_step_end_refuses_a_flat_capture() -> None:
    flat = Trace.from_arrays(np.full(1000, 0.006), 1.8, 1000.0)
    with pytest.raises(EdgeCountError, match="no current step"):
        end_from_current_step(flat, 0.0)


def test_budget_terms_from_a_profile() -> None:
    profile = find_profile("keysight_b2900")
    assert profile is not None
    notes: list[str] = []
    energy, duration, current = 0.2, 10.0, 0.0111
    budget = window_budget(
        profile,
        energy_j=energy,
        duration_s=duration,
        mean_current_a=current,
        mean_voltage_v=1.8,
        current_range_a=0.1,
        sample_rate_hz=10_000.0,
        notes=notes,
    )
    spec = profile.accuracy("current", 0.1)
    assert budget.current_j == pytest.approx(energy * spec.limit(current) / math.sqrt(3) / current)
    assert budget.edges_j == pytest.approx(energy / duration * math.sqrt(2) * 0.5 / 1e4 / 3**0.5)
    assert budget.expanded_j == pytest.approx(2 * budget.standard_j)
    wide = window_budget(
        profile,
        energy_j=energy,
        duration_s=duration,
        mean_current_a=current,
        mean_voltage_v=1.8,
        current_range_a=None,  # the widest range: a larger offset term
        sample_rate_hz=10_000.0,
        notes=notes,
    )
    assert wide.current_j > budget.current_j


def test_budget_without_a_profile_is_flagged() -> None:
    notes: list[str] = []
    budget = window_budget(
        None,
        energy_j=1.0,
        duration_s=10.0,
        mean_current_a=0.01,
        mean_voltage_v=1.8,
        current_range_a=None,
        sample_rate_hz=1000.0,
        notes=notes,
    )
    assert budget.current_j == 0 and budget.edges_j > 0
    assert any("no instrument profile" in n for n in notes)


def test_median_uncertainty_combines_spread_and_systematic() -> None:
    values = [1.0, 1.1, 0.9, 1.05, 0.95]
    s = float(np.std(values, ddof=1))
    expected = 2 * math.hypot(0.01, math.sqrt(math.pi / 2) * s / math.sqrt(5))
    assert median_expanded_uncertainty(values, [0.01] * 5) == pytest.approx(expected)
    assert median_expanded_uncertainty([1.0], [0.01]) == pytest.approx(0.02)


def test_non_integer_rate_is_recorded_as_csv_with_gaps(tmp_path) -> None:
    sink = RecordingSink(tmp_path / "trace.jls", sample_kind="bin")
    rate = 1 / 307.2e-6
    bits = np.array([True, True, False, True])
    sink.append(TraceChunk(0, rate, np.full(4, 0.01), 1.8, {"timestamp": bits}))
    sink.append(TraceChunk(6, rate, np.full(4, 0.02), 1.8, {"timestamp": bits}))  # 2 lost
    sink.close()
    assert sink.path.suffix == ".csv"
    trace = read_csv(sink.path)
    assert trace.n_samples == 10 and trace.missing_count == 2
    assert trace.sample_rate_hz == pytest.approx(rate)
    assert sink.gaps[0].start_id == 4 and sink.gaps[0].stop_id == 6


def test_window_buffer_marks_missing_samples(tmp_path) -> None:
    sink = RecordingSink(tmp_path / "trace.jls")
    sink.append(TraceChunk(0, 1000.0, np.full(10, 0.01), 1.8, {}))
    start = sink.begin_window()
    sink.append(TraceChunk(10, 1000.0, np.full(10, 0.01), 1.8, {}))
    sink.append(TraceChunk(25, 1000.0, np.full(10, 0.01), 1.8, {}))
    window = sink.end_window(start, 35)
    sink.close()
    assert window.first_sample_id == 10 and window.n_samples == 25
    assert window.missing_count == 5


def test_runlog_records_dut_and_instrument_exchanges(tmp_path) -> None:
    path = tmp_path / "log.txt"
    with RunLog(path) as runlog:
        runlog.dut_hook()("<<", "name%")
        with runlog.instrument_exchanges():
            logging.getLogger("energybench.transport.base").debug("%s << %r", "TCPIP::x", "*IDN?")
        logging.getLogger("energybench.transport.base").debug("after: not recorded")
    text = path.read_text()
    assert "dut: << name%" in text and "instrument: TCPIP::x << '*IDN?'" in text
    assert "after" not in text
    assert text.splitlines()[0][:4].isdigit()  # UTC time stamp first


def test_wrong_size_download_is_refused_before_anything_is_sent() -> None:
    from types import SimpleNamespace

    from energybench.errors import DutError
    from energybench.runner.performance import download
    from energybench.workloads.definitions import load_workload

    sent = []
    client = SimpleNamespace(load=lambda data, verify=False: sent.append((len(data), verify)))
    ctx = SimpleNamespace(
        workload=load_workload("kws01"), options=SimpleNamespace(verify_downloads=False)
    )
    with pytest.raises(DutError, match="refusing to download 5120 bytes"):
        download(ctx, SimpleNamespace(client=client, first_download_checked=False), bytes(5120))
    assert sent == []
    dut = SimpleNamespace(client=client, first_download_checked=False)
    download(ctx, dut, bytes(490))
    download(ctx, dut, bytes(490))
    assert sent == [(490, True), (490, False)]  # the first download is read back


_NO_BOARD = """
[meter]
driver = "sim_stream"
resource = "tcp://127.0.0.1:9"
[sync]
mode = "digital_channel"
line = "gpi[0]"
[dut]
port = "/dev/null-dut"
baud = 115200
"""


def test_bench_flash_commands_become_the_flash_hook(tmp_path) -> None:
    import sys

    from energybench.errors import DutError
    from energybench.runner.run import flash_hook

    marker = tmp_path / "flashed"
    script = tmp_path / "flash.py"
    script.write_text(f"open({str(marker)!r}, 'a').write('energy')\n")
    base = _NO_BOARD
    flash = f"flash = {{ energy = '{sys.executable} {script}', performance = 'false' }}\n"
    bench = parse_bench(tomllib.loads(base + flash))
    hook = flash_hook(bench, settle_s=0.0)
    hook("energy")
    assert marker.read_text() == "energy"
    with pytest.raises(DutError, match="exited with 1"):
        hook("performance")
    assert flash_hook(parse_bench(tomllib.loads(base))) is None
    with pytest.raises(ConfigError, match=r"dut\.flash\.accuracy"):
        parse_bench(tomllib.loads(base + "flash = { accuracy = 'x' }\n"))


def test_run_options_refuse_fewer_than_one_attempt() -> None:
    with pytest.raises(ConfigError, match="max_attempts must be >= 1") as info:
        RunOptions(max_attempts=0)
    assert info.value.context == "max_attempts"


def test_dut_through_an_interface_board_the_bench_lacks_is_refused() -> None:
    bench = parse_bench(tomllib.loads(_NO_BOARD), "test bench")
    assert bench.interface is None
    with pytest.raises(ConfigError, match="no interface board") as info:
        connect_dut(bench, "energy", via_interface=True)
    assert info.value.context == "interface"


def test_a_result_without_a_folder_cannot_be_written() -> None:
    with pytest.raises(RunError, match="no folder") as info:
        write_folder(ModeResult("kws01", "energy"))
    assert info.value.context == "kws01 energy"


def test_a_sync_line_that_never_goes_quiet_ends_the_wait_at_its_deadline() -> None:
    """Edges that keep arriving (a toggling line) cannot hold a window open past the
    deadline: the wait ends with an AcquisitionError (the window is then invalid)."""
    from types import SimpleNamespace

    from energybench.errors import AcquisitionError
    from energybench.runner.measurer import STREAM_WINDOW
    from energybench.runner.stream_measurer import StreamMeasurer

    acq = SimpleNamespace(last_edge_id=0, next_sample_id=0)
    calls = []

    def wait_for(predicate, timeout_s, what) -> None:
        calls.append(timeout_s)
        if len(calls) > 10_000:  # the unbounded loop this test guards against
            raise RuntimeError("the wait never ended")
        acq.last_edge_id += 10  # a new edge before every check
        acq.next_sample_id += 10
        assert predicate()

    acq.wait_for = wait_for
    measurer = object.__new__(StreamMeasurer)
    measurer.acq, measurer.end, measurer.edge_wait_s = acq, STREAM_WINDOW, 0.0
    with pytest.raises(AcquisitionError, match="kept arriving"):
        measurer._wait_quiet(0, expected_s=0.001, rate_hz=1000.0)


def test_window_counts_come_from_the_workload_unless_the_options_set_them(tmp_path) -> None:
    import dataclasses

    from energybench.runner.context import RunContext
    from energybench.workloads.definitions import ModeCounts, load_workload

    kws = load_workload("kws01")
    three = dataclasses.replace(kws, modes={**kws.modes, "energy": ModeCounts(70, 10, 3)})
    bench = parse_bench(tomllib.loads(_NO_BOARD), "test bench")

    def ctx(workload, options):
        return RunContext(bench, workload, None, options, RunLog(tmp_path / "log.txt"), tmp_path)

    assert ctx(kws, RunOptions()).windows("energy") == 5
    assert ctx(three, RunOptions()).windows("energy") == 3
    assert ctx(three, RunOptions()).windows("performance") == 5
    assert ctx(three, RunOptions(windows=2)).windows("energy") == 2
    assert ctx(load_workload("sww01"), RunOptions()).windows("energy") == 1
