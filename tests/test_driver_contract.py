"""One contract over every driver and its simulator, over the real wire (pyvisa-py sockets,
pseudo-terminals, TCP): registration and profile, identity, capability protocols, safety limits
refused before anything reaches the instrument, output off after shutdown, and a shutdown that is
idempotent and never raises — even after the connection is gone."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from energybench.errors import SafetyLimitError
from energybench.instruments.capabilities import (
    SYNC_MODES,
    Instrument,
    PowerSupply,
    StreamingMeter,
    TriggeredMeter,
)
from energybench.instruments.profiles import load_profiles, match_profiles
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.physics.timeline import Timeline

LIMITS = SafetyLimits(max_voltage_v=3.3, max_current_a=0.1)


@dataclass(frozen=True)
class Case:
    driver: str
    sim: str  # "module:Class" of the simulator
    supply: bool


SIM = "energybench.sim.instruments"
CASES = [
    Case("keysight_n6705c", f"{SIM}.keysight.keysight_n6705c:SimKeysightN6705C", True),
    Case("keysight_b2900", f"{SIM}.keysight.keysight_b2900:SimKeysightB2900", True),
    Case("lpm01a", f"{SIM}.lpm01a.lpm01a:SimLpm01a", True),
    Case("sim_stream", f"{SIM}.stream_source:SimStreamSource", False),
    Case("keithley_2461", f"{SIM}.keithley.keithley_2461:SimKeithley2461", True),
    Case("keithley_2600b", f"{SIM}.keithley.keithley_2600b:SimKeithley2600B", True),
    Case("otii", f"{SIM}.otii.otii:SimOtiiArc", True),
]


def _load(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@pytest.fixture(params=CASES, ids=lambda c: c.driver)
def bench(request):
    case: Case = request.param
    sim_cls = _load(case.sim)
    driver_cls = load_driver(case.driver)
    timeline = Timeline(supply_voltage_v=0.0, output_on=False)
    sim = sim_cls(timeline)
    sim.start()
    driver = driver_cls.open(sim.resource, LIMITS)
    try:
        yield case, timeline, sim, driver, driver_cls
    finally:
        driver.safe_shutdown()
        driver.close()
        sim.stop()


def test_registered_with_a_matching_profile(bench) -> None:
    case, _, sim, driver, driver_cls = bench
    assert sim.driver == case.driver
    profiles = [p for p in load_profiles() if p.driver == case.driver]
    assert profiles, f"no instruments/*.toml profile names driver {case.driver!r}"
    assert set(driver_cls.sync_modes) <= set(SYNC_MODES)
    assert set(driver_cls.sync_modes) <= set(profiles[0].sync_modes)
    info = driver.identify()
    assert any(p.driver == case.driver for p in match_profiles(info)), info


def test_capability_protocols(bench) -> None:
    case, _, _, driver, _ = bench
    assert isinstance(driver, Instrument)
    assert isinstance(driver, (TriggeredMeter, StreamingMeter))
    assert isinstance(driver, PowerSupply) == case.supply


def test_limits_refused_before_anything_is_applied(bench) -> None:
    case, timeline, _, driver, _ = bench
    if not case.supply:
        pytest.skip(f"{case.driver} does not source power")
    before = timeline.supply_state(timeline.now_s)
    with pytest.raises(SafetyLimitError):
        driver.set_voltage(5.0)
    with pytest.raises(SafetyLimitError):
        driver.set_current_limit(1.0)
    assert timeline.supply_state(timeline.now_s) == before


def test_output_off_after_shutdown_and_shutdown_never_raises(bench) -> None:
    case, timeline, sim, driver, _ = bench
    if case.supply:
        driver.set_voltage(1.8)
        driver.set_current_limit(0.05)
        driver.set_output(True)
        assert driver.output_enabled()
        voltage_v, on = timeline.supply_state(timeline.now_s)
        assert on and voltage_v == pytest.approx(1.8)
    driver.safe_shutdown()
    driver.safe_shutdown()  # idempotent
    if case.supply:
        assert timeline.supply_state(timeline.now_s)[1] is False
    sim.stop()  # the instrument goes away
    driver.safe_shutdown()  # still never raises
