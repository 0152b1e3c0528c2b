"""What a calibration applies to one measured channel of one instrument, and how.

One convention, used by every producer (calibration records) and consumer (window analysis,
``energybench analyze``, the uncertainty budget):

- a current or voltage reading is corrected as ``true = (raw - offset) / gain`` with the
  coefficients of the range the reading was taken on (identity: gain 1, offset 0);
- the current channel's time base is corrected by ``skew_s``: a positive skew means the
  current channel lags the sync line, so a sample stamped ``t`` on the current channel happened
  at ``t - skew_s`` relative to the sync edges (identity: 0);
- each coefficient carries its *standard* uncertainty (k = 1), which the budget uses in place
  of the datasheet's gain and offset terms once a correction applies (what remains after a
  calibration is the calibration's own uncertainty, not the datasheet's accuracy).

The raw recording always stays raw: corrections are applied at analysis time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from energybench.errors import ConfigError

Quantity = Literal["current", "voltage"]


@dataclass(frozen=True)
class LinearCorrection:
    """Gain and offset of one quantity on one range: ``true = (raw - offset) / gain``."""

    quantity: Quantity
    range_value: float | None  # the range (A or V) the coefficients belong to; None: any
    gain: float = 1.0
    gain_std: float = 0.0  # standard uncertainty of ``gain`` (dimensionless)
    offset: float = 0.0  # in the quantity's unit (A or V)
    offset_std: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.gain) or self.gain <= 0:
            raise ConfigError(f"gain must be finite and > 0, got {self.gain!r}", context="gain")
        for name in ("gain_std", "offset", "offset_std"):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise ConfigError(f"{name} must be finite, got {value!r}", context=name)
        if self.gain_std < 0 or self.offset_std < 0:
            raise ConfigError("standard uncertainties must be >= 0", context=self.quantity)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Corrected values (float64; NaN stays NaN)."""
        return (np.asarray(raw, dtype=np.float64) - self.offset) / self.gain

    def standard_uncertainty(self, value: float) -> float:
        """Standard uncertainty of one corrected value from the coefficients' uncertainties
        (first order: ``u² = (value·u_gain/gain)² + (u_offset/gain)²``)."""
        return float(np.hypot(value * self.gain_std / self.gain, self.offset_std / self.gain))


@dataclass(frozen=True)
class Correction:
    """Everything a calibration applies to one instrument's measurement of one rail."""

    current: Mapping[float | None, LinearCorrection] = field(default_factory=dict)
    voltage: Mapping[float | None, LinearCorrection] = field(default_factory=dict)
    skew_s: float = 0.0
    skew_std_s: float = 0.0
    record_ids: tuple[str, ...] = ()  # the records the coefficients come from

    def for_range(self, quantity: Quantity, range_value: float | None) -> LinearCorrection | None:
        """The coefficients of ``quantity`` on ``range_value`` (an exact range first, then a
        range-independent entry keyed None); None when the calibration does not cover it."""
        table = self.current if quantity == "current" else self.voltage
        if range_value is not None:
            for key, entry in table.items():
                if key is not None and np.isclose(key, range_value, rtol=1e-9, atol=0.0):
                    return entry
        return table.get(None)

    @property
    def is_identity(self) -> bool:
        return not self.current and not self.voltage and self.skew_s == 0.0


IDENTITY = Correction()
