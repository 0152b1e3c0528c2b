"""Measurement windows: intervals of sample positions between paired timestamp edges."""

from __future__ import annotations

from dataclasses import dataclass

from energybench.errors import AnalysisError


@dataclass(frozen=True)
class Window:
    """One measurement window ``[start_position, stop_position)`` in (fractional) sample
    positions of a trace, covering ``inferences`` inferences (0 when unknown)."""

    index: int
    start_position: float
    stop_position: float
    inferences: int = 0

    def __post_init__(self) -> None:
        if not self.stop_position > self.start_position:
            raise AnalysisError(
                f"window {self.index} stops at {self.stop_position} before it starts at "
                f"{self.start_position}"
            )
        if self.inferences < 0:
            raise AnalysisError(f"window {self.index} has a negative inference count")

    @property
    def length_samples(self) -> float:
        return self.stop_position - self.start_position
