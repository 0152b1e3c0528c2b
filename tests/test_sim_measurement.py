"""The simulated instruments' error model."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.errors import ConfigError
from energybench.sim.physics.measurement import MeasurementModel, pick_range


def test_ideal_is_exact_copy() -> None:
    x = np.linspace(0, 1e-3, 101)
    y = MeasurementModel.ideal().apply(x)
    np.testing.assert_array_equal(x, y)
    assert y is not x


def test_errors_stay_within_bound_and_are_seeded() -> None:
    model = dict(gain_error=2e-4, offset=1e-6, noise_rms=5e-6, resolution=1e-7, seed=7)
    x = np.full(100_000, 5e-3)
    a = MeasurementModel(**model).apply(x)
    b = MeasurementModel(**model).apply(x)
    np.testing.assert_array_equal(a, b)
    bound = MeasurementModel(**model).error_bound(5e-3, x.size)
    assert abs(a.mean() - 5e-3) <= bound
    assert abs(a.mean() - 5e-3) > 0.5e-6  # the gain and offset errors are really applied


def test_range_saturates_and_validation() -> None:
    m = MeasurementModel(range_max=0.1)
    assert m.apply(np.array([0.5]))[0] == 0.1
    assert m.over_range(np.array([0.5]))
    with pytest.raises(ConfigError, match="noise_rms"):
        MeasurementModel(noise_rms=-1)


def test_pick_range_is_the_smallest_that_holds_the_value_in_any_order() -> None:
    for ranges in ((1e-3, 0.1, 3.0), (3.0, 0.1, 1e-3)):
        assert pick_range(ranges, 0.05) == 0.1
        assert pick_range(ranges, -0.1) == 0.1  # |value|, and a full-scale value fits
        assert pick_range(ranges, 5.0) == 3.0  # above every range: the widest (it saturates)
