"""The virtual lab's ground truth: exact energy, edges and renderings."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.errors import ConfigError
from energybench.sim.physics.timeline import Timeline


def _bench() -> Timeline:
    tl = Timeline(supply_voltage_v=1.8, output_on=True, output_resistance_ohm=0.5)
    tl.set_load_current(0.0, 1e-3)
    tl.set_load_current(1.0, 10e-3)
    tl.set_pin("timestamp", 1.0, False)
    tl.set_pin("timestamp", 1.0 + 50e-6, True)
    tl.set_load_current(3.0, 1e-3)
    tl.set_pin("timestamp", 3.0, False)
    tl.set_pin("timestamp", 3.0 + 50e-6, True)
    tl.advance_to(4.0)
    return tl


def test_exact_energy_includes_output_resistance() -> None:
    tl = _bench()
    expected = 2.0 * (1.8 - 0.5 * 10e-3) * 10e-3
    assert tl.energy_j(1.0, 3.0) == pytest.approx(expected, rel=1e-15)
    assert tl.charge_c(0.5, 1.5) == pytest.approx(0.5e-3 + 5e-3, rel=1e-15)


def test_edges_are_exact() -> None:
    tl = _bench()
    np.testing.assert_array_equal(tl.edges("timestamp", "falling"), [1.0, 3.0])
    np.testing.assert_array_equal(tl.edges("timestamp", "rising"), [1.0 + 50e-6, 3.0 + 50e-6])
    tl.add_pin("timestamp", False)  # an existing pin is left as it is (DUTs add theirs)
    np.testing.assert_array_equal(tl.edges("timestamp", "falling"), [1.0, 3.0])
    assert tl.pin_at("timestamp", 0.5)


def test_bin_rendering_integrates_to_exact_charge() -> None:
    tl = _bench()
    fs = 1234.5
    r = tl.render(0.37, fs, 3000, kind="bin")
    assert np.sum(r.current_a) / fs == pytest.approx(tl.charge_c(0.37, 0.37 + 3000 / fs), rel=1e-12)
    assert r.pins["timestamp"].dtype == bool


def test_output_off_draws_nothing_and_past_is_immutable() -> None:
    tl = _bench()
    tl.set_supply(4.0, output_on=False)
    tl.advance_to(5.0)
    assert tl.current_at(4.5) == 0.0
    assert tl.energy_j(4.0, 5.0) == 0.0
    with pytest.raises(ConfigError, match="cannot change the past"):
        tl.set_load_current(4.9, 1.0)
