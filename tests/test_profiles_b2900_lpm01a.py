"""Instrument profiles and example bench files of the B2900 and LPM01A agree with the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from energybench.instruments import keysight_b2900, lpm01a
from energybench.instruments.capabilities import SYNC_MODES, InstrumentInfo
from energybench.instruments.registry import load_driver
from energybench.sim.instruments.keysight.keysight_b2900 import MODELS, SimKeysightB2900
from energybench.sim.physics.timeline import Timeline

PROFILES = Path(__file__).resolve().parent.parent / "instruments"


def _load(name: str) -> dict:
    with open(PROFILES / name, "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("name", ["keysight_b2900", "lpm01a"])
def test_profile_and_example_bench(name: str) -> None:
    profile = _load(f"{name}.toml")["instrument"]
    cls = load_driver(profile["driver"])
    assert profile["kind"] == cls.kind
    assert tuple(profile["sync_modes"]) == cls.sync_modes
    assert set(profile["sync_modes"]) <= set(SYNC_MODES)
    bench = _load(f"examples/{name}.bench.toml")
    assert set(bench) == {"bench", "meter", "supply", "sync", "dut"}
    assert bench["meter"]["driver"] == name and "driver" not in bench["supply"]  # meter powers
    assert bench["sync"]["mode"] in profile["sync_modes"]
    assert bench["supply"]["voltage_v"] <= bench["supply"]["max_voltage_v"]
    assert bench["supply"]["current_limit_a"] <= bench["supply"]["max_current_a"]
    assert bench["dut"]["baud"] == {"energy": 9600, "performance": 115200, "accuracy": 115200}


def test_b2900_profile_matches_simulator_and_driver() -> None:
    profile = _load("keysight_b2900.toml")
    for model, (channels, min_interval, small) in MODELS.items():
        entry = profile["models"][model]
        assert (entry["channels"], entry["min_sample_interval_s"]) == (channels, min_interval)
        assert (10e-9 in entry["current_ranges_a"]) == small
        assert keysight_b2900._min_interval_s(model) == min_interval
        sim = SimKeysightB2900(Timeline(), model=model)
        assert InstrumentInfo.from_idn(sim.identity).matches(profile["instrument"]["identity"])
    ranges = {e["range_a"] for e in profile["accuracy"]["current"]}
    assert ranges <= set(keysight_b2900.CURRENT_RANGES_A)
    assert all(isinstance(e["verified"], bool) for e in profile["accuracy"]["current"])
    assert profile["instrument"]["max_points"] == keysight_b2900.MAX_POINTS


def test_lpm01a_profile_matches_driver() -> None:
    profile = _load("lpm01a.toml")
    inst = profile["instrument"]
    assert inst["baud_rate"] == lpm01a.BAUD_RATE
    assert sorted(inst["sample_rates_hz"]) == sorted(lpm01a.FREQUENCIES_HZ)
    (supply,) = profile["supply"]
    assert (supply["min_voltage_v"], supply["max_voltage_v"]) == (1.8, 3.3)  # volt 1800m..3300m
    assert supply["max_current_a"] == "unknown"  # no programmable limit, no documented figure
    assert re.search(inst["identity"], "STMicroelectronics,X-NUCLEO-LPM01A")
    dyn = sorted(r["max_current_a"] for r in profile["ranges"] if r["acqmode"] == "dyn")
    assert dyn == [10e-3, 50e-3] and all(r["verified"] for r in profile["ranges"])  # both ST's
    (current,) = profile["accuracy"]["current"]  # "in the range of 2 %" (ST), offset not given
    assert (current["gain"], current["offset_a"], current["verified"]) == (0.02, "unknown", True)
