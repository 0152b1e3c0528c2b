"""The virtual lab with the C harness's POSIX build as its DUT (``--dut firmware``).

energybench's own DUT client drives the real ebdut-posix process over the lab's pty (directly
and through the simulated interface board); the timeline must carry exactly the firmware's
pin edges at the times it reported, and the FirmwareDut's windows must match them.
"""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest
from lab_support import lab_up

from energybench.acquisition.stream import StreamAcquisition
from energybench.analysis.report import analyze_trace
from energybench.analysis.trace import Trace
from energybench.analysis.windows import pair_edges
from energybench.dut.client import DutClient
from energybench.dut.link import DirectLink, InterfaceBoardLink
from energybench.errors import ConfigError, DutError, DutTimeoutError, EdgeCountError
from energybench.instruments.capabilities import StreamRequest, SyncSpec
from energybench.instruments.sim_stream import SimStreamMeter
from energybench.sim.board.interface_board import BOARD_NAME
from energybench.sim.instruments.stream_source import SimStreamSource
from energybench.sim.lab import VirtualLab
from energybench.sim.posix_dut import build as firmware_build
from energybench.sim.posix_dut.proc import write_input
from energybench.traces.jls import read_jls
from energybench.traces.jls_writer import JlsWriter
from energybench.transport.serial_port import SerialTransport

PROFILE = "fast-m33"  # 115200 baud in energy mode, 8.7 ms kws01 inferences, 100 µs hold
INFERS = ((1, 0), (4, 1), (2, 3))  # (N, W) per infer


@pytest.fixture(scope="module")
def firmware_binary() -> Path:
    """Build ebdut-posix once (or skip without a C toolchain)."""
    missing = firmware_build.build_tools_missing()
    if missing and not firmware_build.default_binary().is_file():
        pytest.skip(f"cannot build the firmware: {missing}")
    return firmware_build.ensure_binary()


def _input(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 490, dtype=np.uint8).tobytes()


def _client(port: str) -> tuple[DutClient, SerialTransport]:
    transport = SerialTransport(port, 115200, timeout_s=5.0, read_termination="\n")
    return DutClient(DirectLink(transport), timeout_s=10.0), transport


def _run_infers(client: DutClient, lab: VirtualLab) -> list[tuple[float, float, object]]:
    """Each infer with the wall-clock (= timeline, realtime pace) interval around it."""
    spans = []
    for n, w in INFERS:
        before = lab.timeline.wall_time_s()
        result = client.infer(n, w, timeout_s=20.0)
        spans.append((before, lab.timeline.wall_time_s(), result))
    return spans


def test_energy_mode_edges_at_firmware_times_and_windows(firmware_binary: Path) -> None:
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        assert lab.timeline.pace == "realtime"
        client, transport = _client(lab.dut.port)
        try:
            identity = client.identify()
            assert (identity.name, identity.model) == ("energybench-posix", "kws01")
            assert client.probe_mode() == "energy"
            client.load(_input(1), verify=True)
            spans = _run_infers(client, lab)
        finally:
            transport.close()
        windows = lab.dut.wait_windows(len(INFERS), timeout_s=5.0)
        events = lab.dut.events
        falls_us = [e.time_us for e in events if e.name == "ts_fall"]
        falls_s = [e.time_s for e in events if e.name == "ts_fall"]
        rises = [e for e in events if e.name == "ts_rise"]
        edges = lab.timeline.edges("timestamp", "falling")

        # boot + the `timestamp` probe + 2 per infer, at exactly the reported times, spaced
        # exactly as the firmware's µs clock says
        assert len(falls_us) == 2 + 2 * len(INFERS) and len(rises) == len(falls_us)
        assert edges.tolist() == falls_s
        np.testing.assert_allclose(np.diff(edges), np.diff(falls_us) * 1e-6, rtol=0, atol=1e-9)
        assert lab.timeline.edges("timestamp", "rising").tolist() == [e.time_s for e in rises]
        assert all(r.time_us - f >= 100 for f, r in zip(falls_us, rises, strict=True))  # hold
        assert lab.dut.track.late_events == 0

        begins = [e for e in events if e.name == "infer_begin"]
        ends = [e for e in events if e.name == "infer_end"]
        assert len(windows) == len(INFERS)
        for k, (window, (n, w), begin, end) in enumerate(
            zip(windows, INFERS, begins, ends, strict=True)
        ):
            assert (window.index, window.mode, window.inferences, window.warmups) == (
                k,
                "energy",
                n,
                w,
            )
            assert begin.args == (n,)
            assert (window.start_s, window.end_s) == (falls_s[2 + 2 * k], falls_s[3 + 2 * k])
            assert window.start_s < begin.time_s <= end.time_s <= window.end_s
            assert window.loop_s == pytest.approx(end.time_s - begin.time_s, abs=1e-9)
            assert window.loop_s >= n * 0.0087  # --infer-us from the profile's latency
            assert window.energy_j == lab.timeline.energy_j(window.start_s, window.end_s)
            mid = (begin.time_s + end.time_s) / 2
            profile = lab.profile
            assert lab.timeline.current_at(mid) == profile.workload_current_a("kws01")
            assert lab.timeline.current_at(window.start_s) == profile.idle_current_a
            # the host saw this infer between these wall instants
            before, after, _ = spans[k]
            assert before < window.start_s < window.end_s < after


def test_performance_mode_laps_match_window_duration(firmware_binary: Path) -> None:
    with VirtualLab(PROFILE, dut="firmware", mode="performance", workload="ic01") as lab:
        client, transport = _client(lab.dut.port)
        try:
            assert client.probe_mode() == "performance"
            data = np.random.default_rng(2).integers(0, 256, 3072, dtype=np.uint8).tobytes()
            client.load(data, verify=False)
            spans = _run_infers(client, lab)
        finally:
            transport.close()
        windows = lab.dut.wait_windows(len(INFERS), timeout_s=5.0)
        assert lab.timeline.edges("timestamp", "both").size == 0  # no pin in this build
        assert len(windows) == len(INFERS)
        for window, (n, _), (_, _, result) in zip(windows, INFERS, spans, strict=True):
            assert window.inferences == n and window.mode == "performance"
            assert window.lap_us == result.lap_us
            assert result.dut_elapsed_s == pytest.approx(window.duration_s, abs=1e-6)
            assert window.duration_s >= window.loop_s >= n * 0.0331


def test_energy_mode_through_the_interface_board(firmware_binary: Path) -> None:
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        transport = SerialTransport(lab.interface.port, 115200, timeout_s=5.0)
        link = InterfaceBoardLink(transport)
        try:
            assert link.board_command("setbaud 115200", 5.0)[-1] == "m-ready"
            client = DutClient(link, timeout_s=10.0)
            assert client.identify().model == "kws01"
            client.load(_input(3), verify=True)
            result = client.infer(3, 1, timeout_s=20.0)
            assert len(result.results) == 12
        finally:
            transport.close()
        (window,) = lab.dut.wait_windows(1, timeout_s=5.0)
        assert window.inferences == 3 and window.warmups == 1
        edges = lab.timeline.edges("timestamp", "falling")
        assert edges.size == 3 and edges[1:].tolist() == [window.start_s, window.end_s]


def test_analysis_engine_finds_two_edges_per_infer_interval(firmware_binary: Path) -> None:
    """The timeline rendered directly (point samples at 100 kS/s, Timeline.render, no meter in
    between), analysed by energybench.analysis: each host-side infer interval holds exactly 2
    falling edges, at the windows' times, with their energy."""
    rate_hz = 100_000.0
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        client, transport = _client(lab.dut.port)
        try:
            client.load(_input(4), verify=False)
            spans = _run_infers(client, lab)
        finally:
            transport.close()
        truth = lab.dut.wait_windows(len(INFERS), timeout_s=5.0)
        end_s = spans[-1][1] + 0.01
        assert lab.timeline.wait_until(end_s, timeout_s=5.0)
        r = lab.timeline.render(0.0, rate_hz, int(end_s * rate_hz), kind="point")
    trace = Trace.from_arrays(
        r.current_a, r.voltage_v, rate_hz, digital={"timestamp": r.pins["timestamp"]}
    )
    inferences = [n for n, _ in INFERS]
    report = analyze_trace(
        trace,
        sync_line="timestamp",
        intervals_s=[(before, after) for before, after, _ in spans],
        inferences=inferences,
    )
    assert report.edges is not None and report.edges.count == 1 + 2 * len(INFERS)  # + boot
    assert len(report.windows) == len(INFERS)
    for got, want, n in zip(report.windows, truth, inferences, strict=True):
        assert got.inferences == n
        assert got.start_s == pytest.approx(want.start_s, abs=1 / rate_hz)
        assert got.duration_s == pytest.approx(want.duration_s, abs=1 / rate_hz)
        assert got.energy_j == pytest.approx(want.energy_j, rel=0.01)
    # the MLPerf Tiny convention, without host intervals: skip the boot pulse, pair the rest
    paired = pair_edges(report.edges, skip_leading_edges=1, expected_windows=len(INFERS))
    assert [w.start_position for w in paired] == [w.start_position for w in report.windows]
    with pytest.raises(EdgeCountError):  # the boot pulse makes the count odd
        pair_edges(report.edges, expected_windows=len(INFERS))


def test_streamed_jls_recording_has_two_edges_per_infer_window(
    firmware_binary: Path, tmp_path: Path
) -> None:
    """The full measurement path: the simulated streaming meter samples the firmware DUT's
    timeline, the acquisition records it to a JLS file, the analysis engine pairs its edges."""
    rate_hz = 100_000
    path = tmp_path / "firmware-kws01.jls"
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        # the DUT advances the timeline (realtime): the source must not (idle_speed=None)
        source = SimStreamSource(lab.timeline, sample_rate_hz=rate_hz, idle_speed=None)
        lab.add_instrument("meter", source, role="meter", sync_mode="digital_channel")
        boot_rise_s = next(e.time_s for e in lab.dut.events if e.name == "ts_rise")
        assert lab.timeline.wait_until(boot_rise_s + 0.001, timeout_s=5.0)  # boot pulse: before
        meter = SimStreamMeter.open(source.resource)
        request = StreamRequest(rate_hz, sync=SyncSpec("digital_channel", "gpi[0]", "falling"))
        writer = JlsWriter(  # the source streams each sample's current range
            path, sample_rate_hz=rate_hz, digital_names=("gpi[0]",), current_range=True
        )
        acquisition = StreamAcquisition(meter, writer, request)
        client, transport = _client(lab.dut.port)
        try:
            with acquisition:
                client.load(_input(6), verify=False)
                spans = _run_infers(client, lab)
                acquisition.wait_for_sample_id(int((spans[-1][1] + 0.01) * rate_hz), 10.0)
            result = acquisition.stop()
        finally:
            transport.close()
            meter.close()
        truth = lab.dut.wait_windows(len(INFERS), timeout_s=5.0)
    assert not result.flagged, result.reasons
    assert result.edges == 2 * len(INFERS)
    trace = read_jls(path)
    t0_s = trace.first_sample_id / rate_hz  # sample id k is timeline instant k / rate
    report = analyze_trace(
        trace,
        sync_line="gpi[0]",
        intervals_s=[(before - t0_s, after - t0_s) for before, after, _ in spans],
        inferences=[n for n, _ in INFERS],
    )
    assert report.edges is not None and report.edges.count == 2 * len(INFERS)
    for got, want in zip(report.windows, truth, strict=True):
        assert got.start_s + t0_s == pytest.approx(want.start_s, abs=1 / rate_hz)
        assert got.duration_s == pytest.approx(want.duration_s, abs=1 / rate_hz)
        assert got.energy_j == pytest.approx(want.energy_j, rel=0.01)


def test_a_meter_advancing_the_timeline_cannot_overrun_the_firmware(firmware_binary: Path) -> None:
    """A capture-style simulator jumping the timeline 0.5 s ahead (virtual-time habits) waits
    for the DUT's clock instead: no event is late, every edge stays at its reported time."""
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        stop = threading.Event()
        reached: list[float] = []

        def greedy_meter() -> None:
            while not stop.is_set():
                reached.append(lab.timeline.advance_to(lab.timeline.now_s + 0.5))

        meter = threading.Thread(target=greedy_meter, daemon=True)
        meter.start()
        client, transport = _client(lab.dut.port)
        try:
            client.load(_input(7), verify=False)
            _run_infers(client, lab)
        finally:
            transport.close()
            stop.set()
            meter.join(timeout=5.0)
        assert not meter.is_alive() and reached
        windows = lab.dut.wait_windows(len(INFERS), timeout_s=5.0)
        assert lab.dut.track.late_events == 0
        falls = [e.time_s for e in lab.dut.events if e.name == "ts_fall"]
        assert lab.timeline.edges("timestamp", "falling").tolist() == falls
        assert len(falls) == 1 + 2 * len(INFERS) and len(windows) == len(INFERS)


def test_power_cycle_reboots_the_process_on_the_same_port(firmware_binary: Path) -> None:
    with VirtualLab(PROFILE, dut="firmware", mode="performance", workload="ad01") as lab:
        port, first_pid = lab.dut.port, lab.dut.pid
        assert lab.dut.execute("name") == ["m-name-dut-[energybench-posix]", "m-ready"]
        lab.timeline.set_supply(lab.timeline.now_s, output_on=False)
        with pytest.raises(DutTimeoutError):  # an unpowered DUT ignores its input
            lab.dut.execute("name", timeout_s=0.3)
        lab.timeline.set_supply(lab.timeline.now_s, output_on=True)
        lab.dut.power_on()
        assert lab.dut.pid != first_pid and lab.dut.port == port
        assert not Path(f"/proc/{first_pid}").exists()  # killed and reaped
        assert lab.dut.execute("profile")[1] == "m-model-[ad01]"


def test_power_cycle_during_a_relayed_infer_ends_the_relay(firmware_binary: Path) -> None:
    """The board waits for the DUT's m-ready; a power cycle (new process) must end that wait
    at once, not after the relay timeout, and the new process serves the next command."""
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        lab.dut.reply_timeout_s = 60.0
        transport = SerialTransport(lab.interface.port, 115200, timeout_s=5.0)
        link = InterfaceBoardLink(transport)
        try:
            link.board_command("setbaud 115200", 5.0)
            client = DutClient(link, timeout_s=10.0)
            client.load(_input(8), verify=False)
            first_pid = lab.dut.pid
            link.transport.write_raw(b"dut infer 2000 0%")  # ~17 s of inferences
            assert link.read_line(5.0) == "m-warmup-start-0"
            lab.dut.power_on()
            assert lab.dut.pid != first_pid
            board_free = threading.Event()  # reset() needs the board, busy inside the relay
            threading.Thread(
                target=lambda: (lab.interface.reset(), board_free.set()), daemon=True
            ).start()
            assert board_free.wait(10.0), "the board is still inside the relay"
            link.resync()  # drop the relayed lines of the interrupted infer
            assert link.board_command("name", 5.0) == [BOARD_NAME, "m-ready"]
            assert lab.dut.execute("name") == ["m-name-dut-[energybench-posix]", "m-ready"]
        finally:
            transport.close()


def test_flash_switches_the_build_on_the_same_port(firmware_binary: Path) -> None:
    with VirtualLab(PROFILE, dut="firmware", mode="energy", workload="kws01") as lab:
        port = lab.dut.port
        lab.dut.execute("timestamp")
        lab.dut.flash("performance")
        assert lab.dut.port == port and lab.dut.baud == 921600
        client, transport = _client(port)
        try:
            assert client.probe_mode() == "performance"
            client.load(_input(5), verify=False)
            result = client.infer(2, 0, timeout_s=20.0)
        finally:
            transport.close()
        (window,) = lab.dut.wait_windows(1, timeout_s=5.0)
        assert window.mode == "performance" and window.lap_us == result.lap_us
        assert lab.timeline.edges("timestamp", "falling").size == 2  # energy boot + timestamp


def test_firmware_dut_rejects_a_model_file_and_a_bad_binary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stand-in"):
        VirtualLab(PROFILE, dut="firmware", model=tmp_path / "x.tflite")
    with pytest.raises(ConfigError, match="dut"):
        VirtualLab(PROFILE, dut="fpga")
    with pytest.raises(ConfigError, match="not an executable"):
        VirtualLab(PROFILE, dut="firmware", firmware_binary=tmp_path / "missing")


def test_missing_make_is_a_config_error_naming_it(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "Makefile").write_text("all:\n")
    monkeypatch.setattr(firmware_build, "FIRMWARE_DIR", tmp_path)
    monkeypatch.setattr(firmware_build, "default_binary", lambda: tmp_path / "build" / "x")
    monkeypatch.delenv(firmware_build.ENV_BINARY, raising=False)
    monkeypatch.setattr(firmware_build.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="make is not installed"):
        firmware_build.ensure_binary()


def test_a_build_lock_held_too_long_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "Makefile").write_text("all:\n")
    (tmp_path / "build").mkdir()
    monkeypatch.setattr(firmware_build, "FIRMWARE_DIR", tmp_path)
    monkeypatch.setattr(firmware_build, "default_binary", lambda: tmp_path / "build" / "x")
    monkeypatch.delenv(firmware_build.ENV_BINARY, raising=False)
    monkeypatch.setattr(firmware_build, "build_tools_missing", lambda: None)
    with open(tmp_path / "build" / ".build-lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another build that never ends
        with pytest.raises(ConfigError, match="held the lock") as info:
            firmware_build.ensure_binary(timeout_s=0.2)
    assert info.value.context.endswith(".build-lock")


def test_lab_up_dut_firmware_cli_stops_cleanly_on_sigint(firmware_binary: Path) -> None:
    options = ["--dut", "firmware", "--profile", PROFILE, "--mode", "performance"]
    with lab_up(*options, "--meter", "stream") as (proc, text):
        lines = text.splitlines()
        pid = int(next(x for x in lines if x.startswith("# DUT process: pid ")).split()[-1])
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"ebdut-posix")
        bench = tomllib.loads(text.split("# bench file:\n", 1)[1])
        assert "# the simulated DUT runs its performance build" in text
        assert bench["meter"]["driver"] == "sim_stream" and bench["sync"]["line"] == "gpi[0]"
        client, transport = _client(bench["dut"]["port"])
        try:
            assert client.identify().name == "energybench-posix"
        finally:
            transport.close()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopping" in err
    assert not Path(f"/proc/{pid}").exists(), "ebdut-posix outlived `energybench lab up`"


def test_input_to_a_process_without_an_input_pipe_is_a_dut_error() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"], stdin=None)
    try:
        with pytest.raises(DutError, match="no input pipe") as info:
            write_input(process, b"name%")
        assert info.value.context == f"ebdut-posix pid {process.pid}"
    finally:
        process.wait(timeout=30)
