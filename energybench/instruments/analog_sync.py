"""Timestamp edges from a digitized logic level (e.g. an N678x module in VMETer emulation
measuring the DUT's timestamp pin), at sub-sample resolution, chunk by chunk.

Point samples: the crossing of half the logic level is linearly interpolated. Bin averages: the
pin is a step, so the high fraction of the two bins around the crossing places the edge exactly
(``edge = j + f[j] + f[j+1]`` for a falling edge; ``f`` is the bin's high fraction). This needs
pulses longer than two bins; shorter ones are not resolved.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from energybench.errors import ConfigError


class AnalogEdgeFinder:
    """Edges of one polarity in a stream of logic-level voltages; state carries across chunks."""

    def __init__(
        self,
        high_v: float,
        polarity: Literal["falling", "rising", "both"] = "falling",
        sample_kind: Literal["point", "bin"] = "point",
    ) -> None:
        if not high_v > 0:
            raise ConfigError(
                f"logic high level must be > 0 V, got {high_v}", context="io_voltage_v"
            )
        self.high_v = float(high_v)
        self.threshold_v = self.high_v / 2.0
        self.polarity = polarity
        self.sample_kind = sample_kind
        self._last: tuple[int, float] | None = None

    def reset(self) -> None:
        """Forget the carried sample (after a gap: an edge inside a gap is never placed)."""
        self._last = None

    def feed(self, values_v: np.ndarray, first_sample_id: int) -> list[float]:
        """Edge positions (fractional sample ids) completed by this chunk."""
        x = np.asarray(values_v, dtype=np.float64)
        if x.size == 0:
            return []
        base = first_sample_id
        if self._last is not None and self._last[0] == first_sample_id - 1:
            x = np.concatenate(([self._last[1]], x))
            base = first_sample_id - 1
        self._last = (first_sample_id + len(values_v) - 1, float(values_v[-1]))
        above = x >= self.threshold_v
        fraction = np.clip(x / self.high_v, 0.0, 1.0)
        edges = []
        for j in np.flatnonzero(above[1:] != above[:-1]):
            falling = bool(above[j])
            if self.polarity != "both" and falling != (self.polarity == "falling"):
                continue
            if self.sample_kind == "point":
                offset = (x[j] - self.threshold_v) / (x[j] - x[j + 1])
            elif falling:
                offset = fraction[j] + fraction[j + 1]
            else:
                offset = (1.0 - fraction[j]) + (1.0 - fraction[j + 1])
            edges.append(float(base + j + offset))
        return edges

    def logic(self, values_v: np.ndarray) -> np.ndarray:
        """The level as booleans (threshold at half the logic level)."""
        return np.asarray(values_v) >= self.threshold_v
