"""PPK2 driver against its simulator over a pseudo-terminal: each unit's calibration applied,
range switches visible sample by sample, lost samples recorded as gaps, both modes, and the
ppk2-api package (GPL-2.0, an external client run in its own process) reading the simulator."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from energybench.acquisition.stream import acquire_for
from energybench.analysis.trace import TraceChunk
from energybench.instruments import nordic_ppk2_protocol as proto
from energybench.instruments.capabilities import StreamRequest, SyncSpec
from energybench.instruments.nordic_ppk2 import NordicPpk2
from energybench.instruments.supply_limits import SafetyLimits
from energybench.sim.instruments.nordic.ppk2 import SimNordicPpk2
from energybench.sim.physics.timeline import Timeline

LIMITS = SafetyLimits(max_voltage_v=3.6, max_current_a=0.5)
FS = 100_000
SYNC = SyncSpec("digital_channel", "d0", "falling")


class ListSink:
    def __init__(self) -> None:
        self.chunks: list[TraceChunk] = []

    def append(self, chunk: TraceChunk) -> None:
        self.chunks.append(chunk)

    def close(self) -> None:
        pass

    def joined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ids = np.concatenate([np.arange(c.first_sample_id, c.stop_sample_id) for c in self.chunks])
        current = np.concatenate([c.current_a for c in self.chunks])
        ranges = np.concatenate([c.current_range for c in self.chunks])
        d0 = np.concatenate([c.digital["d0"] for c in self.chunks])
        return ids, current, ranges, d0


def _until(predicate, timeout_s: float = 5.0) -> bool:
    """The PPK2 acknowledges nothing: wait (bounded) for the simulator to act on a command."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _bench(load: list[tuple[float, float]], **sim_kw):
    """A timeline with load current steps (t, A) ahead, and a started simulator."""
    timeline = Timeline(supply_voltage_v=0.0, output_on=False)
    for t_s, current_a in load:
        timeline.set_load_current(t_s, current_a)
    sim = SimNordicPpk2(timeline, idle_speed=1.0, **sim_kw).start()
    return timeline, sim


def _record(driver: NordicPpk2, duration_s: float) -> ListSink:
    sink = ListSink()
    result = acquire_for(driver, sink, StreamRequest(FS, sync=SYNC), duration_s, timeout_s=30)
    assert result.samples > 0
    return sink


@pytest.fixture
def powered():
    """Source mode at 1.8 V: 120 µA until 20 ms, 25 mA until 40 ms, 2 mA after; the timestamp
    pin low for 1 ms from 30 ms. Each change falls half a sample after a sample instant."""
    half = 0.5 / FS
    timeline, sim = _bench([(0.0, 120e-6), (0.02 + half, 25e-3), (0.04 + half, 2e-3)])
    timeline.set_pin("timestamp", 0.03 + half, False)
    timeline.set_pin("timestamp", 0.031 + half, True)
    driver = NordicPpk2.open(sim.resource, LIMITS)
    driver.set_voltage(1.8)
    driver.set_current_limit(0.1)
    driver.set_output(True)
    try:
        yield timeline, sim, driver
    finally:
        driver.safe_shutdown()
        driver.close()
        sim.stop()


def test_unit_calibration_and_range_switches_are_in_the_data(powered) -> None:
    timeline, sim, driver = powered
    sink = _record(driver, 0.06)
    ids, current, ranges, d0 = sink.joined()
    assert ids[0] == 0 and np.all(np.diff(ids) == 1)
    t = ids / FS  # sample k at k/fs after AverageStart (at t = 0: nothing moved the clock)
    truth = np.array([timeline.current_at(x) for x in t])
    lsb = np.asarray(driver.calibration.resolution_a())[ranges]
    assert np.all(np.abs(current - truth) <= 0.75 * lsb + 1e-12)  # within one ADC count
    # the switches are at the load steps, sample-exact, and visible in every sample
    assert set(ranges[:2001]) == {0}  # 120 µA: the 0.7 mA range from the first sample
    assert set(ranges[2001:4001]) == {2}  # 25 mA from the first sample after the step
    assert set(ranges[4001:]) == {1}  # 2 mA
    settings_full_scale = driver.configure_stream(StreamRequest(FS)).current_ranges_a
    assert settings_full_scale == pytest.approx(sim.unit.full_scale_a.tolist())
    # the logic input D0 carries the timestamp pin, sample-exact
    assert np.flatnonzero(~d0).tolist() == list(range(3001, 3101))
    # this unit's metadata matters: the vendor app's defaults would misread it
    default = proto.Calibration()
    adc = np.array([sim.unit.adc_counts(np.array([25e-3]), np.array([2]), np.array([1.8]))[0]])
    misread = default.current_a(adc, np.array([2]), 1.8)[0]
    assert abs(misread - 25e-3) > 50 * driver.calibration.resolution_a()[2]


def test_lost_samples_are_gaps_never_filled(powered) -> None:
    timeline, sim, driver = powered
    sim.drop_samples = [(1000, 1040)]
    sim.drop_bytes = {3000: 2}  # half of sample 3000's word vanishes: a resync
    sink = ListSink()
    result = acquire_for(driver, sink, StreamRequest(FS, sync=SYNC), 0.05, timeout_s=30)
    ids, current, _, _ = sink.joined()
    assert 999 in ids and 1040 in ids and not set(range(1000, 1040)) & set(ids)
    assert 3000 not in ids and 2999 in ids and 3001 in ids
    assert [(d.start_id, d.stop_id) for d in result.dropped] == [(1000, 1040), (3000, 3001)]
    assert all(d.cause == "instrument" for d in result.dropped)
    assert driver.stats.samples_dropped == 41
    assert not np.isnan(current).any()  # the gaps are ids that never arrived, not NaN filler
    t = ids / FS
    truth = np.array([timeline.current_at(x) for x in t])
    assert np.abs(current - truth).max() < 1e-5  # every sample after a gap is at its own id


def test_ampere_mode_measures_the_external_supply() -> None:
    timeline, sim = _bench([(0.0, 5e-3)])
    timeline.set_supply(0.0, voltage_v=2.5, output_on=True)  # the DUT's own supply
    driver = NordicPpk2.open(sim.resource, mode="ampere", external_voltage_v=2.5)
    try:
        assert _until(lambda: sim.power_mode == 1 and sim.running)
        sink = _record(driver, 0.01)
        _, current, ranges, _ = sink.joined()
        # coming down from the widest range, 5 mA stays in range 2: it is above the switch-down
        # point of range 2 (70 % of range 1's 6.9 mA), below range 1's switch-up point (90 %)
        assert set(ranges) == {2}
        assert current == pytest.approx(5e-3, abs=0.75 * driver.calibration.resolution_a()[2])
        assert sink.chunks[0].voltage_v == 2.5
        assert timeline.supply_state(timeline.now_s) == (2.5, True)  # its voltage untouched
        driver.safe_shutdown()
        assert _until(lambda: not timeline.supply_state(timeline.now_s)[1])  # switch opened
    finally:
        driver.safe_shutdown()
        driver.close()
        sim.stop()


def test_port_is_exclusive_and_a_stale_stream_is_stopped() -> None:
    _, sim = _bench([(0.0, 1e-3)])
    first = NordicPpk2.open(sim.resource, LIMITS)
    try:
        with pytest.raises(Exception, match=r"(?i)lock|busy|resource"):
            NordicPpk2.open(sim.resource, LIMITS)
        first.set_voltage(1.8)
        first.configure_stream(StreamRequest(FS))
        first.start()  # ... and the session dies without stopping
    finally:
        first.close()
    assert _until(lambda: sim.averaging)
    again = NordicPpk2.open(sim.resource, LIMITS)  # stops it, reads the metadata cleanly
    try:
        assert _until(lambda: not sim.averaging) and again.calibration.defaulted == ()
    finally:
        again.safe_shutdown()
        again.close()
        sim.stop()


SESSION = Path(__file__).with_name("ppk2_api_session.py")


def test_ppk2_api_reads_samples_from_the_simulator() -> None:
    if importlib.util.find_spec("ppk2_api") is None:
        pytest.skip("ppk2-api is not installed (pip install 'energybench[test]')")
    timeline, sim = _bench([(0.0, 1.234e-3)])
    timeline.set_pin("timestamp", 0.05, False)  # D0 low from 50 ms on
    try:
        done = subprocess.run(
            [sys.executable, str(SESSION), sim.resource],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        sim.stop()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["n"] >= 20000
    assert report["r0"] == pytest.approx(float(sim.unit.text["R"][0]))  # the metadata was read
    assert report["mean_ua"] == pytest.approx(1234.0, abs=0.5)  # this unit's calibration applied
    assert report["d0_low"] > 0
    assert [c[0] for c in sim.commands] == [0x19, 0x11, 0x0D, 0x0C, 0x06, 0x07, 0x0C]
    assert sim.vdd_mv == 3300 and not sim.running
