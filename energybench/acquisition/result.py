"""What an acquisition delivers: where the samples went, what was lost, and how much energy the
lost samples could have held.

Energy bound of a dropped range (``n`` samples at ``fs``):
- ``energy_bound_j = n / fs × P_peak`` where ``P_peak`` is the largest ``|v·i|`` in the chunks on
  both sides of the gap: a plausible bound when the load's behaviour does not change inside it;
- ``hard_energy_bound_j = n / fs × I_max × V_peak`` when the bench declares ``max_current_a``
  (the supply's current limit, or the meter's range), ``V_peak`` the largest ``|v|`` beside the
  gap: a bound no load could exceed. None when no current limit is known.
Either way a window touching a dropped range is flagged; the bounds say how much it could matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from energybench.analysis.trace import SampleRange

DropCause = Literal["instrument", "host_overflow", "nan"]


def peak_abs(values: np.ndarray) -> float:
    """Largest ``|x|`` beside a dropped range, NaN ignored (0 when every value is NaN)."""
    return float(np.fmax.reduce(np.abs(values), initial=0.0))


@dataclass(frozen=True)
class DroppedRange:
    """A half-open range of sample ids that never reached the recording, and why."""

    start_id: int
    stop_id: int
    cause: DropCause
    energy_bound_j: float
    hard_energy_bound_j: float | None = None

    @property
    def count(self) -> int:
        return self.stop_id - self.start_id

    def as_range(self) -> SampleRange:
        return SampleRange(self.start_id, self.stop_id)


@dataclass(frozen=True)
class AcquisitionResult:
    """The outcome of one acquisition; ``flagged`` is True when anything was lost or failed."""

    path: Path | None
    sample_rate_hz: float
    first_sample_id: int | None
    stop_sample_id: int | None  # one past the last id the meter delivered (drops included)
    samples: int  # samples handed to the sink
    dropped: tuple[DroppedRange, ...] = ()
    overflow_chunks: int = 0  # chunks the host could not queue in time
    edges: int = 0  # edges seen on the sync line (polarity as requested)
    error: str | None = None
    reasons: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    @property
    def dropped_samples(self) -> int:
        return sum(d.count for d in self.dropped)

    @property
    def dropped_ranges(self) -> tuple[SampleRange, ...]:
        return tuple(d.as_range() for d in self.dropped)

    @property
    def dropped_energy_bound_j(self) -> float:
        return sum(d.energy_bound_j for d in self.dropped)

    @property
    def dropped_hard_energy_bound_j(self) -> float | None:
        bounds = [d.hard_energy_bound_j for d in self.dropped]
        if any(b is None for b in bounds):
            return None
        return float(sum(bounds))  # type: ignore[arg-type]

    @property
    def duration_s(self) -> float:
        if self.first_sample_id is None or self.stop_sample_id is None:
            return 0.0
        return (self.stop_sample_id - self.first_sample_id) / self.sample_rate_hz
