"""A virtual bench for calibration end to end: a meter with injected gain error, offset and
skew, an N6705C as the supply (for a meter that sources nothing), the simulated reference
resistor on its fixture, and a bench file whose ``[calibration]`` names the reference's
certificate and a store. The DUT and the resistor take turns on the rail
(:meth:`CalibrationLab.reference_on` / :meth:`dut_on`), as a user swaps them by hand.
Used by tests/test_calibration_lab.py and bench/calibration_error.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from energybench.runner.bench import Bench, parse_bench
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, attach_supply, bench_toml, sim_meter
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.reference_resistor import ReferenceResistor


class CalibrationLab:
    """``with CalibrationLab(tmp, gain_error=0.02, offset_a=50e-6, skew_s=30e-6) as cl:``"""

    def __init__(
        self,
        store: Path,
        *,
        meter: str = "sim_stream",
        gain_error: float = 0.0,
        offset_a: float = 0.0,
        skew_s: float = 0.0,
        noise_a: float = 0.0,
        reference: ReferenceResistor | None = None,
        profile: str = "stm32l4r5-reference",
        workload: str = "kws01",
        seed: int = 0,
        validity_days: int = 365,
    ) -> None:
        self.store = Path(store)
        self.meter = meter
        self.reference = reference or ReferenceResistor(seed=seed)
        self.validity_days = validity_days
        self.lab = VirtualLab(profile, mode="energy", workload=workload, seed=seed)
        model = MeasurementModel(gain_error=gain_error, offset=offset_a, noise_rms=noise_a)
        extra: dict[str, Any] = {"skew_s": skew_s} if skew_s else {}
        self.sim = attach_meter(self.lab, meter, measurement=model, seed=seed, **extra)
        if sim_meter(meter).role != "supply":
            attach_supply(self.lab, seed=seed)

    def __enter__(self) -> CalibrationLab:
        self.lab.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lab.stop()

    def reference_on(self) -> None:
        self.lab.connect_reference(self.reference)

    def dut_on(self) -> None:
        self.lab.disconnect_reference()

    def bench_text(self) -> str:
        """The lab's bench file with the reference certificate and the store."""
        self.lab.reference = self.reference  # its [calibration.reference] in the bench file
        text = bench_toml(self.lab, self.meter)
        head = [
            "[calibration]",
            f'store = "{self.store.as_posix()}"',
            f"validity_days = {self.validity_days}",
        ]
        return text.replace(
            "[calibration.reference]", "\n".join(head) + "\n\n[calibration.reference]"
        )

    def bench(self) -> Bench:
        return parse_bench(tomllib.loads(self.bench_text()), "calibration lab")

    def window_truth(self) -> list[Any]:
        """The DUT's true windows so far (the first is a run's probe)."""
        return list(self.lab.dut.windows)
