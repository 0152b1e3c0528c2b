"""One contract over every catalogued driver, its cases derived from the driver catalogue: the
declared capabilities and profile agree with the class; and, over the real wire (pyvisa-py
sockets, pseudo-terminals, TCP) against the lab's simulator of every simulated driver:
registration and profile, identity, capability protocols, safety limits refused before anything
reaches the instrument, output off after shutdown, and a shutdown that is idempotent and never
raises — even after the connection is gone."""

from __future__ import annotations

import time

import pytest

from energybench.errors import SafetyLimitError
from energybench.instruments import capabilities, catalogue
from energybench.instruments.capabilities import SYNC_MODES, Instrument
from energybench.instruments.profiles import match_profiles
from energybench.instruments.registry import load_driver
from energybench.instruments.supply_limits import SafetyLimits
from energybench.sim.meters import SIMULATORS
from energybench.sim.physics.timeline import Timeline

LIMITS = SafetyLimits(max_voltage_v=2.5, max_current_a=0.1)
CLASS_CASES = list(catalogue.CATALOGUE)
WIRE_CASES = [entry for entry in catalogue.CATALOGUE if entry.simulated]


def _members(protocol: type) -> set[str]:
    """The attributes a capability protocol asks for (methods and annotated data)."""
    names = {n for n in vars(protocol) if not n.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def _protocol(name: str) -> type:
    return getattr(capabilities, name)


def _supply_state(timeline: Timeline, on: bool, timeout_s: float = 2.0) -> tuple[float, bool]:
    """The timeline's supply state once it shows ``on`` (bounded): an instrument that
    acknowledges nothing (the PPK2) acts on a command a moment after the driver returns."""
    deadline = time.monotonic() + timeout_s
    while timeline.supply_state(timeline.now_s)[1] != on and time.monotonic() < deadline:
        time.sleep(0.01)
    return timeline.supply_state(timeline.now_s)


@pytest.mark.parametrize("entry", CLASS_CASES, ids=lambda e: e.name)
def test_the_class_offers_exactly_the_declared_capabilities(entry) -> None:
    cls = load_driver(entry.name)
    for name in catalogue.CAPABILITIES:
        offered = _members(_protocol(name)) <= set(dir(cls))
        assert offered == (name in entry.capabilities), f"{entry.name}: {name}"
    assert _members(Instrument) <= set(dir(cls))
    profile = catalogue.profile(entry.name)
    assert profile.driver == entry.name
    assert cls.kind == profile.kind
    assert ("supply" in cls.kind.split("+")) == entry.sources_power == bool(profile.supply)
    assert set(cls.sync_modes) <= set(SYNC_MODES)
    assert set(cls.sync_modes) <= set(profile.sync_modes)


@pytest.fixture(params=WIRE_CASES, ids=lambda e: e.name)
def bench(request):
    entry = request.param
    driver_cls = load_driver(entry.name)
    timeline = Timeline(supply_voltage_v=0.0, output_on=False)
    sim = SIMULATORS[entry.name].build(timeline)
    sim.start()
    driver = driver_cls.open(sim.resource, LIMITS)
    try:
        yield entry, timeline, sim, driver
    finally:
        driver.safe_shutdown()
        driver.close()
        sim.stop()


def test_registered_with_a_matching_profile(bench) -> None:
    entry, _, sim, driver = bench
    assert sim.driver == entry.name
    info = driver.identify()
    assert any(p.driver == entry.name for p in match_profiles(info)), info
    if entry.sources_power:
        assert driver.supply_check.label == entry.name


def test_capability_protocols(bench) -> None:
    entry, _, _, driver = bench
    assert isinstance(driver, Instrument)
    for name in catalogue.CAPABILITIES:
        assert isinstance(driver, _protocol(name)) == (name in entry.capabilities), name


def test_limits_refused_before_anything_is_applied(bench) -> None:
    entry, timeline, _, driver = bench
    if not entry.sources_power:
        assert not hasattr(driver, "set_voltage")
        return
    before = timeline.supply_state(timeline.now_s)
    with pytest.raises(SafetyLimitError, match=r"supply\.max_voltage_v"):
        driver.set_voltage(2.6)  # within every instrument's own rating
    with pytest.raises(SafetyLimitError, match=r"supply\.max_current_a"):
        driver.set_current_limit(0.2)
    assert timeline.supply_state(timeline.now_s) == before


def test_output_off_after_shutdown_and_shutdown_never_raises(bench) -> None:
    entry, timeline, sim, driver = bench
    if entry.sources_power:
        driver.set_voltage(1.8)
        driver.set_current_limit(0.05)
        driver.set_output(True)
        assert driver.output_enabled()
        voltage_v, on = _supply_state(timeline, True)
        assert on and voltage_v == pytest.approx(1.8)
    first = driver.safe_shutdown()
    again = driver.safe_shutdown()  # idempotent
    if entry.sources_power:
        assert _supply_state(timeline, False)[1] is False
    for report in (first, again):  # the report says what really happened
        assert report.failures == [], report.summary()
        assert report.output_off is (True if entry.sources_power else None)
        assert report.summary() == (
            "outputs off (confirmed)" if entry.sources_power else "stopped (sources no output)"
        )
    sim.stop()  # the instrument goes away
    driver.safe_shutdown()  # still never raises


def test_shutdown_without_the_instrument_does_not_claim_the_output_off(bench) -> None:
    entry, _, sim, driver = bench
    if not entry.sources_power:
        pytest.skip(f"{entry.name} does not source power")
    driver.set_voltage(1.8)
    driver.set_current_limit(0.05)
    driver.set_output(True)
    sim.stop()  # the lab (or the cable) is gone: no step can be confirmed
    report = driver.safe_shutdown()
    assert report.output_off is False
    assert report.summary().startswith("output state UNKNOWN: ")
