"""Simulator options a test can get wrong are refused with a ConfigError naming the option."""

from __future__ import annotations

import pytest

from energybench.errors import ConfigError
from energybench.sim.instruments.keithley.keithley_2461 import SimKeithley2461
from energybench.sim.instruments.keysight.keysight_b2900 import SimKeysightB2900
from energybench.sim.instruments.keysight.keysight_n6705c import SimKeysightN6705C
from energybench.sim.instruments.lpm01a.lpm01a import SimLpm01a
from energybench.sim.physics.timeline import Timeline


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda tl: SimKeysightN6705C(tl, module="N6999Z"), "modules"),
        (lambda tl: SimKeysightB2900(tl, model="B2999Z"), "model"),
        (lambda tl: SimKeithley2461(tl, model="2499"), "model"),
        (lambda tl: SimLpm01a(tl, overflow="spill"), "overflow"),
    ],
)
def test_bad_simulator_option_is_a_config_error(make, field) -> None:
    with pytest.raises(ConfigError) as info:
        make(Timeline(supply_voltage_v=1.8))
    assert info.value.context == field
