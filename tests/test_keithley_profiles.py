"""The Keithley profiles and example benches agree with the drivers and simulators."""

from __future__ import annotations

import re
import tomllib

import pytest

from energybench._data import data_dir
from energybench.instruments.capabilities import InstrumentInfo
from energybench.instruments.profiles import load_profile
from energybench.instruments.registry import load_driver
from energybench.sim.instruments.keithley.keithley_2461 import SimKeithley2461
from energybench.sim.instruments.keithley.keithley_2600b import (
    CAPACITY_WITH_EXTRAS,
    SimKeithley2600B,
)
from energybench.sim.physics.timeline import Timeline

PROFILES = {
    "keithley_2461.toml": lambda tl: SimKeithley2461(tl, model="2461"),
    "keithley_2460.toml": lambda tl: SimKeithley2461(tl, model="2460"),
    "keithley_2450.toml": lambda tl: SimKeithley2461(tl, model="2450"),
    "keithley_2600b.toml": lambda tl: SimKeithley2600B(tl),
}


def _load(name: str) -> dict:
    with (data_dir("instruments") / name).open("rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_matches_driver_and_simulator(name) -> None:
    profile = _load(name)
    meta = profile["instrument"]
    driver = load_driver(meta["driver"])
    sim = PROFILES[name](Timeline())
    sim.stop()  # never started: releases the listening socket
    assert sim.driver == meta["driver"]
    assert InstrumentInfo.from_idn(sim.identity).matches(meta["identity"])
    assert driver.kind == meta["kind"]
    assert tuple(meta["sync_modes"]) == driver.sync_modes
    accuracy = profile.get("accuracy", {}).get("current", [])
    if name == "keithley_2460.toml":  # no 2460 document checked: one entry, unknown
        assert [(e["gain"], e["offset_a"]) for e in accuracy] == [("unknown", "unknown")]
    else:
        assert tuple(r["range_a"] for r in accuracy) == driver.current_ranges_a
    ratings = load_profile(data_dir("instruments") / name).supply
    assert ratings and all(r.doc for r in ratings)
    spec = getattr(sim, "spec", None)  # the 24xx simulator's model table
    if spec is not None:
        (rating,) = ratings
        assert (rating.max_voltage_v, rating.max_current_a) == (
            spec.max_voltage_v,
            spec.max_current_a,
        )
    # the driver's documented buffer figure, also what the simulator holds by default
    assert profile["sampling"]["max_buffer_points"] == driver.max_buffer_points
    if spec is not None:
        assert sim.max_buffer_points == driver.max_buffer_points == spec.max_buffer_points
    else:  # the 2600B: the data sheet's figure with timestamps, as the simulator holds it
        assert driver.max_buffer_points == CAPACITY_WITH_EXTRAS
        assert profile["sync"]["trigger_modes"] == driver.trigger_modes
    for entry in accuracy:  # the data sheet's measure figures, or "unknown" (never a guess)
        if name in ("keithley_2450.toml", "keithley_2600b.toml"):
            assert entry["gain"] > 0 and entry["offset_a"] > 0 and entry["verified"] is True
            assert "SPEC-" in entry["source"]
        else:  # no 2460 document checked; no 2461 digitizer table found
            assert (entry["gain"], entry["offset_a"], entry["verified"]) == (
                "unknown",
                "unknown",
                False,
            )
    assert "verified" in profile["sampling"] and "verified" in profile["sync"]


def test_2461_profile_rates_match_the_driver() -> None:
    profile = _load("keithley_2461.toml")
    sampling = profile["sampling"]
    driver = load_driver("keithley_2461")
    assert (sampling["min_sample_rate_hz"], profile["instrument"]["max_sample_rate_hz"]) == (
        driver.min_rate_hz,
        driver.max_rate_hz,
    )
    assert sampling["max_buffer_points"] == driver.max_buffer_points
    assert tuple(profile["sync"]["digitize_blocks"]) == driver.digitize_blocks


@pytest.mark.parametrize(
    "name",
    [f"keithley_{m}.bench.toml" for m in ("2450", "2460", "2461", "2600b")],
)
def test_example_bench_is_consistent(name) -> None:
    bench = _load(f"examples/{name}")
    driver = load_driver(bench["meter"]["driver"])
    assert "driver" not in bench["supply"]  # the meter powers the DUT: one connection
    assert bench["sync"]["mode"] in driver.sync_modes
    assert re.fullmatch(r"(DIG|DIO)\d+", bench["sync"]["line"])
    assert bench["supply"]["voltage_v"] <= bench["supply"]["max_voltage_v"]
    assert bench["supply"]["current_limit_a"] <= bench["supply"]["max_current_a"]
    assert set(bench["dut"]["baud"]) == {"energy", "performance", "accuracy"}
