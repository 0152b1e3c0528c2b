"""LPM01A (PowerShield) driver: scripted exchanges, and against its simulator over a pty."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from lab_support import add_mlperf_window

from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
    SafetyLimitError,
)
from energybench.instruments.capabilities import (
    PowerSupply,
    StreamingMeter,
    StreamRequest,
    SyncSpec,
)
from energybench.instruments.lpm01a import Lpm01a
from energybench.instruments.lpm01a_stream import HexaParser, StreamAssembler, parse_value
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.lpm01a.lpm01a import SimLpm01a
from energybench.sim.instruments.lpm01a.lpm01a_format import (
    END_RECORD,
    encode_hexa,
    format_value,
    parse_argument,
    timestamp_record,
)
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline
from energybench.transport.scripted import ScriptedTransport

P = "PowerShield > "
LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.1)
EVENTS = SyncSpec("event_marker", "d7", "falling")


def scripted(exchanges) -> ScriptedTransport:
    return ScriptedTransport(exchanges, write_termination="\r\n", read_termination="\n")


def ack(command: str, value: str = "") -> str:
    return f"{P}ack {command}" + (f" {value}" if value else "") + "\r"


# ---- formats ---------------------------------------------------------------------------


def test_value_tokens_any_mantissa_width() -> None:
    assert parse_value("6409-07") == pytest.approx(6409e-7)
    assert parse_value("33930-08") == pytest.approx(3.393e-4)  # the runner reads 3930-08
    assert parse_value("1800+00") == 1800.0
    for bad in ("18#0-08", "1800-8", "-1800-08", "1800e-08", ""):
        assert parse_value(bad) is None
    assert format_value(1.8e-5) == "1800-08" and format_value(1.8e-5, 5) == "18000-09"
    assert format_value(6.409e-4) == "6409-07" and format_value(0.0) == "0000+00"
    assert parse_argument("1800m") == pytest.approx(1.8) and parse_argument("2-3") == 2e-3


def test_assembler_timestamps_events_and_malformed_tokens() -> None:
    a = StreamAssembler(10.0, 1.0, 1.8, events=True)
    for line in ["0001-03", "event 0 ris", "0002-03 0003-03", "00#4-03", "0005-03"]:
        assert a.feed(line)
    assert a.feed("TimeStamp: 001s 000ms, buff 12%")  # 10 expected, 5 present: 5 dropped
    assert a.stats.malformed_tokens == 1 and a.stats.samples_dropped == 1 + 5
    assert a.stats.dropped_ranges == [(3, 4), (5, 10)]
    assert a.stats.buffer_fill_max_pct == 12
    chunk = a.take()
    assert chunk.first_sample_id == 0 and chunk.n_samples == 10
    assert np.flatnonzero(~chunk.digital["d7"]).tolist() == [1]
    assert np.isnan(chunk.current_a[3]) and np.nansum(chunk.current_a[:3]) == pytest.approx(6e-3)
    assert a.feed("event 2 ris") and a.stats.events_lost == 1 and a.stats.lost_event_counters == [1]
    assert a.feed("event 3 ris") and a.stats.events_unresolved == 1  # same bin: one d7 edge
    assert a.feed(f"{P}TimeStamp: 1000s 000ms, buff 00%")  # runner-timestamp-width: 4-digit seconds
    assert a.next_id == 10_000
    assert not a.feed(f"{P}ack stop") and not a.feed(f"{P}Acquisition completed")


# ---- scripted exchanges ----------------------------------------------------------------


def test_scripted_session() -> None:
    data = "".join(
        f"{line}\r\n"
        for line in (
            *("1800-09", "event 0 ris", "1800-08", "18000-09", "1800-09"),
            *("TimeStamp: 000s 004ms, buff 00%", "1800-09"),
        )
    )
    t = scripted(
        [
            ("htc", ack("htc")),
            ("powershield", ack("powershield", "PowerShield present 0050003A")),
            ("version", ack("version", "1.0.6")),
            ("volt 1800m", ack("volt 1800m")),
            ("acqmode dyn", ack("acqmode dyn")),
            ("acqtime inf", ack("acqtime inf")),
            ("trigdelay 0", ack("trigdelay 0")),
            ("trigsrc sw", ack("trigsrc sw")),
            ("eventsrc d7 fal", ack("eventsrc d7 fal")),
            ("output energy", ack("output energy")),
            ("format ascii_dec", ack("format ascii_dec")),
            ("freq 1k", ack("freq 1k")),
            ("pwr on nostatus", ack("pwr on nostatus")),
            ("start", (ack("start") + "\n" + data).encode()),
            ("stop", ("1800-09\r\n" + ack("stop") + f"\n{P}Acquisition completed\r\n").encode()),
            ("pwr off", ack("pwr off")),
            ("hrc", ack("hrc")),
        ]
    )
    lpm = Lpm01a(t, LIMITS)
    lpm.connect()
    info = lpm.identify()
    assert (info.serial_number, info.firmware) == ("0050003A", "1.0.6")
    lpm.set_voltage(1.8)
    settings = lpm.configure_stream(StreamRequest(1000.0, sync=EVENTS))
    assert settings.sample_kind == "bin" and settings.digital_names == ("d7",)
    lpm.set_current_limit(0.05)
    lpm.set_output(True)
    lpm.start()
    chunks = [next(lpm.chunks(1.0))]
    lpm.stop()
    chunks += list(lpm.chunks(1.0))
    lpm.safe_shutdown()
    lpm.safe_shutdown()  # idempotent: nothing more is sent
    t.assert_done()
    assert [c.first_sample_id for c in chunks] == [0, 4]
    current = np.concatenate([c.current_a for c in chunks])
    energy = current * 1.8 / 1000
    assert energy == pytest.approx([1.8e-6, 1.8e-5, 1.8e-5, 1.8e-6, 1.8e-6, 1.8e-6])
    assert np.flatnonzero(~chunks[0].digital["d7"]).tolist() == [1]
    assert lpm.stats.events == [(0, 1)] and lpm.stats.samples_dropped == 0


def test_scripted_error_reply_carries_the_detail() -> None:
    t = scripted(
        [
            (
                "freq 1k",
                (f"{P}error freq 1k\r\n{P}Error detail: acquisition in progress\r\n").encode(),
            )
        ]
    )
    with pytest.raises(InstrumentError, match="acquisition in progress"):
        Lpm01a(t).command("freq 1k")
    t.assert_done()


def test_safety_refusals_send_nothing() -> None:
    t = scripted([])
    lpm = Lpm01a(t, SafetyLimits(max_voltage_v=2.5, max_current_a=0.1))
    with pytest.raises(SafetyLimitError, match=r"above the lpm01a's rating of 3\.3 V"):
        lpm.set_voltage(5.0)
    with pytest.raises(SafetyLimitError, match=r"below the lpm01a's minimum voltage of 1\.8 V"):
        lpm.set_voltage(1.2)
    with pytest.raises(SafetyLimitError):
        lpm.set_voltage(3.0)  # inside the LPM range, above the bench limit
    with pytest.raises(SafetyLimitError, match="before switching the output on"):
        lpm.set_output(True)
    with pytest.raises(ConfigError, match="not an LPM01A rate"):
        lpm.configure_stream(StreamRequest(3000.0))
    with pytest.raises(ConfigError, match="10 kHz"):
        lpm.configure_stream(StreamRequest(20_000.0))
    with pytest.raises(ConfigError, match="5 kHz"):
        Lpm01a(t, output="current").configure_stream(StreamRequest(10_000.0))
    assert t.sent == []


def test_open_closes_the_port_when_an_option_is_refused(monkeypatch) -> None:
    transport = ScriptedTransport([])
    monkeypatch.setattr("energybench.transport.open_transport", lambda *a, **kw: transport)
    with pytest.raises(ConfigError, match="data_format"):
        Lpm01a.open("/dev/null", LIMITS, data_format="csv")
    assert transport.closed


def test_registered_and_protocols() -> None:
    assert load_driver("lpm01a") is Lpm01a
    lpm = Lpm01a(scripted([]))
    assert isinstance(lpm, PowerSupply) and isinstance(lpm, StreamingMeter)


# ---- against the simulator -------------------------------------------------------------


# an MLPerf-style window (50 µs pulses); the stream's producer advances the timeline
add_window = functools.partial(
    add_mlperf_window, pulse_s=50e-6, idle_lead_s=0.2, active_delay_s=0.0004, active_tail_s=0.0007
)


def run_stream(tl: Timeline, lpm: Lpm01a, until_s: float, **request) -> list:
    lpm.set_voltage(request.pop("voltage_v", 1.8))
    lpm.configure_stream(StreamRequest(request.pop("rate_hz", 1000.0), sync=EVENTS))
    lpm.set_current_limit(0.05)
    lpm.set_output(True)
    lpm.start()
    request.pop("activity")(tl)
    tl.advance_to(until_s)
    chunks, expected = [], round(until_s * 1000) - 1000
    for chunk in lpm.chunks(timeout_s=5.0):
        chunks.append(chunk)
        if chunk.stop_sample_id >= expected:
            break
    lpm.stop()
    chunks += list(lpm.chunks(timeout_s=5.0))
    ids = [c.first_sample_id for c in chunks]
    assert ids == [0] + [c.stop_sample_id for c in chunks[:-1]]  # continuous sample ids
    return chunks


def _joined(chunks):
    current = np.concatenate([c.current_a for c in chunks])
    d7 = np.concatenate([c.digital["d7"] for c in chunks])
    return current, d7


def test_energy_window_between_events_is_exact() -> None:
    tl = Timeline()
    with SimLpm01a(tl, five_digit_every=7) as sim, Lpm01a.open(sim.resource, LIMITS) as lpm:
        t_a, t_b = 0.5123, 10.8391
        chunks = run_stream(
            tl, lpm, 12.0, activity=lambda tl: add_window(tl, t_a, t_b - t_a, 10e-3, 1e-3)
        )
        current, d7 = _joined(chunks)
        falls = np.flatnonzero(d7[1:] < d7[:-1]) + 1
        assert falls.tolist() == [int(t_a * 1000), int(t_b * 1000)]  # the 1 ms bin of each edge
        assert len(current) == 12_000 and not np.isnan(current).any()
        k_a, k_b = falls
        energy = float(np.sum(current[k_a:k_b] * 1.8) / 1000)
        truth = tl.energy_j(k_a / 1000, k_b / 1000)
        assert energy == pytest.approx(truth, rel=1e-6)
        stats = lpm.stats
        assert stats.samples_received == 12_000 and stats.samples_dropped == 0
        assert stats.timestamps_checked == 12 and [n for n, _ in stats.events] == [0, 1]
        assert sim.five_digit_tokens == 12_000 // 7  # the runner's regex would skip these
    assert not tl.supply_state(tl.now_s)[1]  # pwr off at exit
    assert sim.log[-3:] == ["pwr off", "pwr get", "hrc"]  # acknowledged, read back


def test_noise_within_bound_and_several_values_per_line() -> None:
    tl = Timeline()
    model = MeasurementModel(gain_error=1e-3, offset=2e-6, noise_rms=20e-6, seed=5)
    with (
        SimLpm01a(tl, measurement=model, values_per_line=3) as sim,
        Lpm01a.open(sim.resource, LIMITS) as lpm,
    ):
        chunks = run_stream(tl, lpm, 3.0, activity=lambda tl: add_window(tl, 0.3, 2.0, 5e-3, 1e-3))
        current, d7 = _joined(chunks)
        k_a, k_b = np.flatnonzero(d7[1:] < d7[:-1]) + 1
        energy = float(np.sum(current[k_a:k_b] * 1.8) / 1000)
        truth = tl.energy_j(k_a / 1000, k_b / 1000)
        mean_i = truth / 1.8 / ((k_b - k_a) / 1000)
        format_error = 5e-4 * mean_i  # 4-digit mantissas
        bound = (model.error_bound(mean_i, k_b - k_a) + format_error) * 1.8 * (k_b - k_a) / 1000
        assert abs(energy - truth) <= bound and energy != truth


def test_garbled_and_five_digit_lines_are_counted_not_summed() -> None:
    tl = Timeline()
    with (
        SimLpm01a(tl, garble_every=250, five_digit_every=3, record_sent=True) as sim,
        Lpm01a.open(sim.resource, LIMITS) as lpm,
    ):
        chunks = run_stream(tl, lpm, 3.0, activity=lambda tl: add_window(tl, 0.4, 2.0, 8e-3, 1e-3))
        current, _ = _joined(chunks)
        stats = lpm.stats
        bad = np.flatnonzero(np.isnan(current))
        assert stats.malformed_tokens == len(bad) == 3000 // 250 - 0  # every 250th line garbled
        assert stats.samples_dropped == len(bad)
        assert sorted(stats.dropped_ranges) == [(int(k), int(k) + 1) for k in bad]
        good = current[~np.isnan(current)] * 1.8 / 1000
        assert good.tolist() == pytest.approx(sim.sent_values, rel=1e-12)


def test_dropped_lines_and_buffer_overflow_are_reported_with_ranges() -> None:
    tl = Timeline()
    with (
        SimLpm01a(tl, drop_every=500, overflow_bins=[(1200, 1300)]) as sim,
        Lpm01a.open(sim.resource, LIMITS) as lpm,
    ):
        run_stream(tl, lpm, 3.0, activity=lambda tl: add_window(tl, 0.4, 2.0, 8e-3, 1e-3))
        stats = lpm.stats
        lost_lines = sum(1 for k in range(1, 3001 - 100) if k % 500 == 0)
        assert stats.samples_dropped == 100 + lost_lines
        assert stats.samples_received + stats.samples_dropped == 3000
        assert stats.buffer_fill_max_pct == 100
        assert all(a < b for a, b in stats.dropped_ranges)


def test_stalled_host_loses_data_when_the_device_buffer_overflows() -> None:
    tl = Timeline()
    with (
        SimLpm01a(tl, overflow="drop", buffer_bytes=4000) as sim,
        Lpm01a.open(sim.resource, LIMITS) as lpm,
    ):
        chunks = run_stream(tl, lpm, 4.0, activity=lambda tl: add_window(tl, 0.4, 2.0, 8e-3, 1e-3))
        stats = lpm.stats
        assert sim.samples_lost > 0  # the host read nothing while 4 s of data were produced
        assert stats.samples_dropped == sim.samples_lost
        assert stats.samples_received + stats.samples_dropped == 4000
        assert stats.buffer_fill_max_pct == 100
        assert sum(c.n_samples for c in chunks) == 4000


def test_withheld_ack_times_out_within_bound_and_shutdown_still_works() -> None:
    tl = Timeline()
    with SimLpm01a(tl, withhold_acks={"volt"}) as sim:
        lpm = Lpm01a.open(sim.resource, LIMITS, reply_timeout_s=0.2)
        with pytest.raises(InstrumentTimeoutError, match="volt 1800m"):
            lpm.set_voltage(1.8)
        lpm.safe_shutdown()
        lpm.close()
        assert sim.log[-3:] == ["pwr off", "pwr get", "hrc"]  # acknowledged, read back


def test_device_refusal_surfaces_error_detail() -> None:
    tl = Timeline()
    with SimLpm01a(tl) as sim, Lpm01a.open(sim.resource, LIMITS) as lpm:
        with pytest.raises(InstrumentError, match=r"out of range \[1800m; 3300m\]"):
            lpm.command("volt 3500m")
        assert lpm.temperature_c() == pytest.approx(28.5)
        lpm.calibrate(timeout_s=2.0)
        assert lpm.command("volt get") == "3300-03"
        assert lpm.command("range") == "1000-10 5000-05"
        lpm.command("currthres 100n")
        assert not lpm.output_enabled()


def test_output_off_after_an_exception() -> None:
    tl = Timeline()
    with SimLpm01a(tl) as sim:
        with pytest.raises(RuntimeError, match="boom"), Lpm01a.open(sim.resource, LIMITS) as lpm:
            lpm.set_voltage(1.8)
            lpm.set_current_limit(0.05)
            lpm.set_output(True)
            assert tl.supply_state(tl.now_s) == (1.8, True)
            raise RuntimeError("boom")
        assert tl.supply_state(tl.now_s)[1] is False


def test_stale_acquisition_from_an_earlier_session_is_stopped_and_purged() -> None:
    tl = Timeline()
    with SimLpm01a(tl) as sim:
        first = Lpm01a.open(sim.resource, LIMITS)
        first.set_voltage(1.8)
        first.configure_stream(StreamRequest(1000.0))
        first.start()
        tl.set_load_current(0.0, 2e-3)
        tl.advance_to(2.0)
        first.close()  # crashed session: acquisition left running, output unread
        with Lpm01a.open(sim.resource, LIMITS) as second:
            assert "stop" in sim.log
            assert second.command("version") == "1.0.6"


def test_current_output_point_samples_and_finite_acquisition_completes() -> None:
    tl = Timeline()
    with SimLpm01a(tl) as sim, Lpm01a.open(sim.resource, LIMITS, output="current") as lpm:
        lpm.set_voltage(3.3)
        settings = lpm.configure_stream(StreamRequest(2000.0))
        assert settings.sample_kind == "point" and settings.digital_names == ()
        lpm.command("acqtime 1")  # the device ends the acquisition by itself after 1 s
        lpm.set_current_limit(0.05)
        lpm.set_output(True)
        lpm.start()
        tl.set_load_current(0.0, 1.234567e-3)
        tl.set_load_current(0.25, 4.5e-3)
        tl.advance_to(3.0)
        chunks = list(lpm.chunks(timeout_s=5.0))  # ends at "Acquisition completed"
        current = np.concatenate([c.current_a for c in chunks])
        assert len(current) == 2000 and lpm.stats.timestamps_checked == 1
        assert current[:500] == pytest.approx(1.235e-3, abs=1e-12)  # 4-digit mantissa
        assert current[500:] == pytest.approx(4.5e-3, abs=1e-12)
        assert chunks[0].voltage_v == 3.3


def test_event_markers_need_firmware_1_0_6() -> None:
    tl = Timeline()
    with SimLpm01a(tl, firmware="1.0.5") as sim, Lpm01a.open(sim.resource, LIMITS) as lpm:
        assert lpm.identify().firmware == "1.0.5"
        with pytest.raises(ConfigError, match=r"1\.0\.6"):
            lpm.configure_stream(StreamRequest(1000.0, sync=EVENTS))
        assert not any(c.startswith("eventsrc") for c in sim.log)


def test_bin_hexa_current_stream_at_100_khz() -> None:
    tl = Timeline()
    with (
        SimLpm01a(tl, drop_every=40_000, record_sent=True) as sim,
        Lpm01a.open(sim.resource, LIMITS, output="current", data_format="bin_hexa") as lpm,
    ):
        lpm.set_voltage(3.3)
        with pytest.raises(ConfigError, match="bin_hexa"):
            lpm.configure_stream(StreamRequest(100_000.0, sync=EVENTS))
        settings = lpm.configure_stream(StreamRequest(100_000.0))
        assert settings.sample_kind == "point" and "format bin_hexa" in sim.log
        lpm.set_current_limit(0.05)
        lpm.set_output(True)
        lpm.start()
        tl.set_load_current(0.0, 6.409e-4)  # the help's example: 52A0
        tl.set_load_current(0.5, 4.2e-3)
        tl.advance_to(1.2)
        chunks = []
        for chunk in lpm.chunks(timeout_s=5.0):
            chunks.append(chunk)
            if chunk.stop_sample_id >= 100_000:
                break
        lpm.stop()
        chunks += list(lpm.chunks(timeout_s=5.0))
        current = np.concatenate([c.current_a for c in chunks])
        stats = lpm.stats
        # words 40 000 and 80 000 are lost before the 1 s stamp, which reveals them (their
        # position within the second is unknown: they are placed before the stamp); the loss at
        # 120 000 follows the last stamp and cannot be detected
        assert len(current) == 119_999 and stats.timestamps_checked == 2  # 0 s and 1 s
        assert stats.samples_dropped == 2 and stats.dropped_ranges == [(99_998, 100_000)]
        good = current[~np.isnan(current)]
        assert good.tolist() == sim.sent_values  # exact decode of every word
        assert current[:10] == pytest.approx(672 * 16.0**-5)
        assert np.nanmean(current[50_000:]) == pytest.approx(4.2e-3, rel=1 / 256)


def test_hexa_parser_handles_records_split_across_reads() -> None:
    values = np.array([6.409e-4, 1e-3, 0.0, 0.05])
    stream = (
        timestamp_record(0, 0)
        + encode_hexa(values[:2])
        + timestamp_record(500, 7)  # 2 samples at 4 Hz: on time
        + encode_hexa(values[2:])
        + END_RECORD
        + f"{P}ack stop\r\n{P}Acquisition completed\r\n".encode()
    )
    a = StreamAssembler(4.0, 1.0, 3.3, events=False)
    parser = HexaParser(a)
    for i in range(len(stream)):  # one byte at a time
        parser.feed(stream[i : i + 1])
    assert parser.completed and a.stats.timestamps_checked == 2 and a.stats.samples_dropped == 0
    assert a.stats.buffer_fill_max_pct == 7
    assert a.take(final=True).current_a == pytest.approx(
        [672 / 16**5, 1049 / 16**5, 0, 3277 / 16**4]
    )
    with pytest.raises(InstrumentError, match="record type"):
        HexaParser(a).feed(b"\xf0\x99\x00\x00")


def test_idle_time_passes_only_as_fast_as_the_host_reads() -> None:
    """While acquiring and caught up, the simulator lets idle time pass itself, but never more
    than one batch of bins beyond what it sent: a slow host slows idle time down instead of
    falling ever further behind (a lab-wide clock at a fixed speed let the backlog grow
    without bound and windows started later and later)."""
    import os
    import select
    import time

    from energybench.sim.instruments.lpm01a.lpm01a import BATCH_BINS

    timeline = Timeline(supply_voltage_v=3.3)
    with SimLpm01a(timeline, idle_speed=1000.0) as sim:
        fd = os.open(sim.resource, os.O_RDWR | os.O_NOCTTY)
        try:
            for command in ("htc", "freq 1k", "acqtime 0", "start"):
                os.write(fd, (command + "\n").encode())
            received = 0
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:  # a host reading 2 KB every 20 ms
                if select.select([fd], [], [], 0.02)[0]:
                    received += len(os.read(fd, 2048))
                time.sleep(0.02)
                sent_s = sim._t0 + sim._next_bin / sim.freq_hz
                assert timeline.now_s <= sent_s + BATCH_BINS / sim.freq_hz + 1e-9
            assert received > 0 and timeline.now_s > 1.0  # idle time did pass
        finally:
            os.close(fd)
