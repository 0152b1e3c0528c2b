"""How a simulated instrument distorts the truth: gain and offset error, seeded noise,
quantisation and range limits. Every simulated meter applies one :class:`MeasurementModel` per
measured quantity to the ideal rendering of the timeline.

With ``MeasurementModel.ideal()`` the samples equal the rendering (tests of exactness); with
errors on, :meth:`error_bound` gives the bound a window integral must fall within.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from energybench.errors import ConfigError


@dataclass
class MeasurementModel:
    """``measured = quantise(clip((1 + gain_error) * true + offset + noise))``."""

    gain_error: float = 0.0  # relative, e.g. 2.5e-4
    offset: float = 0.0  # in the quantity's unit (A or V)
    noise_rms: float = 0.0  # white noise per sample, same unit
    resolution: float = 0.0  # quantisation step (0: none)
    range_max: float = math.inf  # |value| above this saturates at ±range_max (over-range)
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("noise_rms", "resolution", "range_max"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0", context=name)
        self._rng = np.random.default_rng(self.seed)

    @classmethod
    def ideal(cls) -> MeasurementModel:
        return cls()

    @property
    def is_ideal(self) -> bool:
        return (self.gain_error, self.offset, self.noise_rms, self.resolution) == (0, 0, 0, 0)

    def apply(self, true_values: np.ndarray) -> np.ndarray:
        """Measured values (float64) for ideal values; draws noise from the seeded generator."""
        values = np.asarray(true_values, dtype=np.float64)
        if self.is_ideal and math.isinf(self.range_max):
            return values.copy()
        measured = values * (1.0 + self.gain_error) + self.offset
        if self.noise_rms:
            measured += self._rng.normal(0.0, self.noise_rms, size=measured.shape)
        if self.resolution:
            measured = np.round(measured / self.resolution) * self.resolution
        return np.clip(measured, -self.range_max, self.range_max)

    def over_range(self, true_values: np.ndarray) -> bool:
        return bool(np.any(np.abs(true_values) > self.range_max))

    def error_bound(self, true_mean: float, n_samples: int, k: float = 5.0) -> float:
        """Bound on |mean(measured) − mean(true)| over ``n_samples``: systematic terms plus
        ``k`` standard errors of noise and quantisation."""
        systematic = abs(self.gain_error * true_mean) + abs(self.offset)
        random_rms = math.hypot(self.noise_rms, self.resolution / math.sqrt(12.0))
        return systematic + k * random_rms / math.sqrt(max(n_samples, 1))


def pick_range(ranges: Iterable[float], value: float) -> float:
    """The smallest of ``ranges`` (in any order) that holds |value|; the widest if none does."""
    ranges = tuple(ranges)
    return min((r for r in ranges if abs(value) <= r * (1 + 1e-9)), default=max(ranges))
