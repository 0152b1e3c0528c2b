"""DUT profiles: the shipped ones load, bad fields name themselves."""

from __future__ import annotations

import copy
import tomllib

import pytest

from energybench.errors import ConfigError
from energybench.sim.dut.profiles import (
    PROFILE_DIR,
    available_profiles,
    load_profile,
    profile_from_dict,
)


def test_shipped_profiles() -> None:
    assert {"stm32l4r5-reference", "fast-m33"} <= set(available_profiles())
    ref, fast = load_profile("stm32l4r5-reference"), load_profile("fast-m33")
    assert ref.supply_voltage_v == 1.8
    # published NUCLEO_L4R5ZI-P kws: 43.418 ms at 32.95 mW → ~1430 µJ per inference
    energy_uj = ref.latency_s["kws01"] * ref.active_current_a["kws01"] * 1.8 * 1e6
    assert energy_uj == pytest.approx(1430.7, rel=0.01)
    assert ref.baud_for("energy", "kws01") == 9600
    assert ref.baud_for("performance", "ad01") == 921600
    for w in ("kws01", "vww01", "ic01", "ad01"):
        assert 4 < ref.latency_s[w] / fast.latency_s[w] < 6


def _ref_data() -> dict:
    return tomllib.loads((PROFILE_DIR / "stm32l4r5-reference.toml").read_text())


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("supply_voltage_v"), "supply_voltage_v"),
        (lambda d: d.__setitem__("idle_current_a", -1), "idle_current_a"),
        (lambda d: d["latency_s"].pop("vww01"), "latency_s.vww01"),
        (lambda d: d["latency_s"].__setitem__("kws01", 0), "latency_s.kws01"),
        (lambda d: d["active_current_a"].__setitem__("sww01", 0.01), "active_current_a"),
        (lambda d: d["baud"].__setitem__("energy", "fast"), "baud.energy"),
        (lambda d: d["baud"].pop("accuracy"), "baud.accuracy"),
        (lambda d: d.__setitem__("jitter", 0.9), "jitter"),
        (lambda d: d.__setitem__("name", ""), "name"),
        (lambda d: d.__setitem__("timestamp_hold_s", "1ms"), "timestamp_hold_s"),
    ],
)
def test_bad_field_is_named(edit, field: str) -> None:
    data = copy.deepcopy(_ref_data())
    edit(data)
    with pytest.raises(ConfigError) as info:
        profile_from_dict(data, source="p.toml")
    assert f"p.toml:{field}" in str(info.value)


def test_unknown_profile_lists_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="fast-m33"):
        load_profile("no-such-board")


def test_profile_by_path(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text((PROFILE_DIR / "fast-m33.toml").read_text().replace('"fast-m33"', '"mine"'))
    assert load_profile(path).name == "mine"
    path.write_text("name = [")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_profile(path)
