"""A simulated precision reference resistor for calibrating the lab's meters.

Like a real one it has a *certificate* (the value a calibration lab measured, its date and its
expanded uncertainty) and a *true* value the user never sees: drawn, seeded, inside the
certificate's uncertainty (uniformly within ±U/2 of the certificate value, so a k=2 certificate
holds). Connected to a :class:`~energybench.sim.physics.timeline.Timeline` it replaces the DUT on
the rail (current ``V/R_true``) and drives the sync line from its fixture (low while the supply
output is on), so a calibration sees a current step and a sync edge at the same instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.physics.timeline import Timeline

DEFAULT_ID = "SIM-REF-{ohm:g}R-0001"  # formatted with the certificate value


@dataclass(frozen=True)
class ReferenceResistor:
    """Certificate value, tolerance and (hidden) true value of one reference resistor."""

    certificate_ohm: float = 100.0
    certificate_u_rel: float = 50e-6  # expanded (k=2) relative uncertainty on the certificate
    tolerance_rel: float = 1e-3  # the part's tolerance (what a residual may not exceed)
    certificate_date: str = ""  # ISO date; "": 90 days before today (a valid certificate)
    reference_id: str = ""  # "": DEFAULT_ID with the certificate value (SIM-REF-100R-0001)
    true_ohm: float = 0.0  # 0: drawn from ``seed`` inside the certificate's uncertainty
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.certificate_ohm > 0:
            raise ConfigError("certificate_ohm must be > 0", context="certificate_ohm")
        if not 0 <= self.certificate_u_rel < self.tolerance_rel:
            raise ConfigError(
                "certificate_u_rel must be >= 0 and below the tolerance", context="certificate"
            )
        if not self.reference_id:
            object.__setattr__(self, "reference_id", DEFAULT_ID.format(ohm=self.certificate_ohm))
        if not self.certificate_date:
            issued = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=90)
            object.__setattr__(self, "certificate_date", issued.isoformat())
        dt.date.fromisoformat(self.certificate_date)
        if self.true_ohm == 0.0:
            rng = np.random.default_rng(self.seed + 7919)
            half = self.certificate_u_rel / 2
            true = self.certificate_ohm * (1 + rng.uniform(-half, half))
            object.__setattr__(self, "true_ohm", float(true))
        elif abs(self.true_ohm / self.certificate_ohm - 1) > self.tolerance_rel:
            raise ConfigError("true_ohm lies outside the tolerance", context="true_ohm")

    def connect(self, timeline: Timeline, sync_pin: str | None = "timestamp") -> None:
        """Put the resistor on the rail now (the DUT comes off it)."""
        with timeline.hold():
            timeline.connect_reference(timeline.now_s, self.true_ohm, sync_pin)

    @staticmethod
    def disconnect(timeline: Timeline) -> None:
        """Take the resistor off the rail now (the DUT is back)."""
        with timeline.hold():
            timeline.disconnect_reference(timeline.now_s)

    def bench_lines(self) -> list[str]:
        """The bench file's ``[calibration.reference]`` table for this resistor (what the user
        copies from its certificate)."""
        return [
            "[calibration.reference]",
            f'id = "{self.reference_id}"',
            'kind = "resistor"',
            f"resistance_ohm = {self.certificate_ohm!r}",
            f"uncertainty_rel = {self.certificate_u_rel!r}  # expanded, k=2",
            f"tolerance_rel = {self.tolerance_rel!r}",
            f'certificate_date = "{self.certificate_date}"',
        ]
