"""The arithmetic of a calibration (pure numpy): zero, gain + offset fit, skew.

- zero: the mean of the readings with no current flowing, its scatter and the standard
  uncertainty of the mean;
- gain + offset: an ordinary least-squares line ``measured = gain·reference + offset`` through
  the points, each coefficient's standard uncertainty combining (in quadrature) the fit's own
  (the residual scatter, or the points' standard errors when larger) and, for the gain, the
  reference's certificate (it scales every reference current alike);
- skew: the lag of each current step behind its sync edge, averaged over many steps at random
  phases against the sample clock (the ±½-sample placement of each then averages out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energybench.errors import ConfigError


@dataclass(frozen=True)
class ZeroResult:
    offset: float
    scatter: float  # standard deviation of the readings
    offset_std: float  # standard uncertainty of the mean
    samples: int


@dataclass(frozen=True)
class LinearFit:
    gain: float
    gain_std: float
    offset: float
    offset_std: float
    reference: tuple[float, ...]
    measured: tuple[float, ...]
    residuals: tuple[float, ...]  # measured − (gain·reference + offset)

    def worst_relative_residual(self) -> float:
        """max |residual| / reference over the points with a reference current."""
        rel = [abs(r) / x for r, x in zip(self.residuals, self.reference, strict=True) if x > 0]
        return max(rel, default=0.0)


@dataclass(frozen=True)
class SkewResult:
    skew_s: float
    skew_std_s: float
    steps: int


def zero(readings: np.ndarray) -> ZeroResult:
    values = np.asarray(readings, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        raise ConfigError("the zero step recorded fewer than 2 samples", context="zero")
    scatter = float(np.std(values, ddof=1))
    return ZeroResult(
        float(np.mean(values)), scatter, scatter / math.sqrt(values.size), int(values.size)
    )


def linear_fit(
    reference: np.ndarray,
    measured: np.ndarray,
    measured_std: np.ndarray,
    reference_std_rel: float,
) -> LinearFit:
    """``measured = gain·reference + offset`` by least squares; ``measured_std`` is each
    point's standard uncertainty (the standard error of its mean), ``reference_std_rel`` the
    reference's relative standard uncertainty."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(measured, dtype=np.float64)
    u = np.asarray(measured_std, dtype=np.float64)
    if x.size < 3 or np.ptp(x) <= 0:
        raise ConfigError(
            "a gain fit needs at least 3 points at different currents", context="gain"
        )
    design = np.column_stack([x, np.ones_like(x)])
    (gain, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - (gain * x + offset)
    dof = x.size - 2
    s2 = float(residuals @ residuals) / dof if dof > 0 else 0.0
    point_var = max(s2, float(np.mean(u**2)))
    cov = point_var * np.linalg.inv(design.T @ design)
    gain_std = math.hypot(math.sqrt(cov[0, 0]), gain * reference_std_rel)
    return LinearFit(
        gain=float(gain),
        gain_std=gain_std,
        offset=float(offset),
        offset_std=math.sqrt(cov[1, 1]),
        reference=tuple(float(v) for v in x),
        measured=tuple(float(v) for v in y),
        residuals=tuple(float(v) for v in residuals),
    )


def step_position(current: np.ndarray, start: int, stop: int) -> float | None:
    """The fractional sample position where ``current[start:stop]`` first crosses halfway
    between its level before and after a rising step (None: no step there)."""
    segment = np.asarray(current[start:stop], dtype=np.float64)
    if segment.size < 8:
        return None
    quarter = max(2, segment.size // 4)
    low, high = float(np.median(segment[:quarter])), float(np.median(segment[-quarter:]))
    if not high > low:
        return None
    half = (low + high) / 2
    above = np.flatnonzero(segment >= half)
    if above.size == 0 or above[0] == 0:
        return None
    k = int(above[0])
    a, b = segment[k - 1], segment[k]
    frac = (half - a) / (b - a) if b != a else 0.5
    return start + k - 1 + float(frac)


def skew_from_steps(lags_samples: list[float], sample_rate_hz: float) -> SkewResult:
    """The mean lag (s) of the current steps behind their sync edges, with its standard
    uncertainty (scatter / √n)."""
    lags = np.asarray(lags_samples, dtype=np.float64) / sample_rate_hz
    if lags.size < 2:
        raise ConfigError("the skew step found fewer than 2 current steps", context="skew")
    return SkewResult(
        float(np.mean(lags)), float(np.std(lags, ddof=1) / math.sqrt(lags.size)), int(lags.size)
    )
