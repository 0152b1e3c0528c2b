"""``energybench verify``: a golden check of the measurement setup before and after a session.

The reference load (the certified resistor on its fixture) is switched on for a few pulses of
known length; the energy of each pulse is known from the certificate (``V²/R·T``, ``V`` the
rail voltage during the pulse, ``T`` between its sync edges) and measured through the bench's
meter with the calibration a run would apply in the range it measures in: ``--range``, else
the record's own range (``--calibration FILE``), else the bench file's or the one that holds
the reference's current (as ``calibrate`` picks it); ``auto`` applies that range's record.
The check passes when every pulse's error lies within the combined expanded uncertainty (the
meter's budget, calibrated or datasheet; the certificate's; and the current channel's sampling
of the reference's current steps, ±½ sample each). Each check is saved in the store
(``verify/``); an ``after`` check reports the drift since the last ``before`` of the same meter.
A failed check marks the session's results (``--mark RUN...``): their results.json become not
valid, saying why, and their results.txt gets the ``ERROR: Not valid for submission.`` line the
submission checkers read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from energybench.calibration.apply import integrate_corrected
from energybench.calibration.budget import MeterBudget, window_budget
from energybench.calibration.correction import IDENTITY
from energybench.calibration.procedure import CalibrationRefused, parse_reference
from energybench.calibration.records import load_record
from energybench.errors import ConfigError, UsageError
from energybench.runner.bench import Bench
from energybench.runner.calibration_use import bench_store, choose_calibration
from energybench.runner.instruments import BenchInstruments
from energybench.runner.meter_setup import meter_ranges_a
from energybench.runner.mlc_format import not_valid_lines
from energybench.runner.reference_session import (
    Stream,
    open_reference_bench,
    pulses,
    reference_range,
)
from energybench.runner.reference_session import toggle_pattern as _pattern

LABELS = ("before", "after")
PULSES = 3
ON_S, OFF_S = 1.0, 0.1


@dataclass
class VerifyResult:
    label: str
    passed: bool
    meter: dict[str, str]
    calibration: str  # the status label of the calibration applied
    range_a: float | None = None  # the current range the reference was measured in
    pulses: list[dict[str, float]] = field(default_factory=list)
    error_rel: float = math.nan  # mean (measured - expected)/expected
    uncertainty_rel: float = math.nan  # the largest combined U/E of the pulses
    drift_rel: float | None = None  # error_rel − the last "before" check's
    before_file: str | None = None
    created_utc: str = ""
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_verify(
    bench: Bench,
    label: str,
    *,
    calibration: str = "auto",
    mark: list[Path] | None = None,
    now: dt.datetime | None = None,
    range_a: float | None = None,
) -> VerifyResult:
    if label not in LABELS:
        raise UsageError(f"must be one of {', '.join(LABELS)}", context="--label")
    now = now or dt.datetime.now(dt.UTC)
    reference = parse_reference(bench.calibration.get("reference"))
    reference.check_valid(now.date())
    instruments = open_reference_bench(bench)
    try:
        supply, supply_cfg = instruments.supply, bench.supply
        if supply_cfg is None:
            raise CalibrationRefused("no [supply]", context="supply")
        largest_a = supply_cfg.voltage_v / reference.resistance_ohm
        picked = reference_range(
            instruments, _record_range(instruments, calibration, range_a), largest_a
        )
        range_a = picked.range_a
        use = choose_calibration(
            bench, instruments.meter_info, calibration, now, range_a=range_a,
            range_source="verify",
        )  # fmt: skip
        supply.set_current_limit(supply_cfg.current_limit_a)
        supply.set_voltage(supply_cfg.voltage_v)
        with Stream(instruments, bench, range_a) as stream:
            block = _pattern(stream, supply, PULSES, ON_S, OFF_S)
        supply.set_output(False)
    finally:
        instruments.close()
    result = VerifyResult(
        label, True, dict(instruments.meter_info), use.label, range_a, created_utc=now.isoformat()
    )
    correction = use.correction or IDENTITY
    meter = MeterBudget.for_meter(bench.meter.driver, instruments.meter_info, bench.meter.accuracy)
    trace, rate = block.trace(), block.sample_rate_hz
    found = pulses(block)
    if not found:
        raise CalibrationRefused("no reference pulse was recorded", context="sync.line")
    errors, u_rels = [], []
    for fall, rise in found:
        start, stop = block.first_sample_id + fall - 0.5, block.first_sample_id + rise - 0.5
        measured = integrate_corrected(trace, start, stop, 0, correction, range_a)
        inner = block.voltage_v[fall + (rise - fall) // 10 : rise - (rise - fall) // 10]
        duration_s = (rise - fall) / rate
        expected = float(np.mean(inner**2)) / reference.resistance_ohm * duration_s
        notes: list[str] = []
        budget = window_budget(
            meter,
            energy_j=measured.energy_j,
            duration_s=measured.duration_s,
            mean_current_a=measured.mean_current_a,
            mean_voltage_v=float(np.mean(inner)),
            current_range_a=range_a,
            sample_rate_hz=rate,
            notes=notes,
            correction=use.correction,
        )
        if budget.unknown:  # no check against an unknown U
            raise CalibrationRefused(
                f"the uncertainty is {budget.status}: state the figure in the bench file's "
                "[meter] accuracy (docs/bench-file.md)",
                context="meter.accuracy",
            )
        # the current channel samples each step of the reference current too: within ±½
        # sample of where it happened (the budget's edge term covers the sync line's side)
        u_steps = 2 * (expected / duration_s) * math.sqrt(2) * 0.5 / (rate * math.sqrt(3))
        u_total = math.sqrt(
            budget.expanded_j**2 + (expected * reference.uncertainty_rel) ** 2 + u_steps**2
        )
        error = measured.energy_j - expected
        errors.append(error / expected)
        u_rels.append(u_total / expected)
        result.pulses.append(
            {
                "expected_j": expected,
                "measured_j": measured.energy_j,
                "error_j": error,
                "uncertainty_k2_j": u_total,
            }
        )
        result.passed &= abs(error) <= u_total
    result.error_rel = float(np.mean(errors))
    result.uncertainty_rel = max(u_rels)
    _save(bench, result, now)
    for folder in mark or []:
        mark_run(Path(folder), result)
    return result


def _record_range(
    instruments: BenchInstruments, calibration: str, asked_a: float | None
) -> float | None:
    """The range to verify in: ``--range``, else a record file's own fixed range (on a meter
    that can pick it), else None (the bench's, or the reference's pick)."""
    if asked_a is not None or calibration in ("auto", "none") or not meter_ranges_a(instruments):
        return asked_a
    try:
        return load_record(Path(calibration)).range_a
    except ConfigError:  # choose_calibration says why it is unusable
        return None


def _save(bench: Bench, result: VerifyResult, now: dt.datetime) -> None:
    folder = bench_store(bench) / "verify"
    folder.mkdir(parents=True, exist_ok=True)
    if result.label == "after":
        before = _last_before(folder, result.meter)
        if before is not None:
            path, data = before
            result.before_file = str(path)
            result.drift_rel = result.error_rel - float(data["error_rel"])
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}_{result.label}.json"
    result.file = str(path)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")


def _last_before(folder: Path, meter: dict[str, str]) -> tuple[Path, dict] | None:
    for path in sorted(folder.glob("*_before.json"), reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same = all(data.get("meter", {}).get(k) == meter.get(k) for k in ("model", "serial_number"))
        if same:
            return path, data
    return None


def mark_run(folder: Path, result: VerifyResult) -> None:
    """Record the check in a run folder's results.json; a failed one makes it not valid."""
    path = folder / "results.json" if folder.is_dir() else folder
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot mark the run: {exc}", context=str(path)) from exc
    data.setdefault("verification", {})[result.label] = {
        "passed": result.passed,
        "error_rel": result.error_rel,
        "uncertainty_rel": result.uncertainty_rel,
        "drift_rel": result.drift_rel,
        "file": result.file,
    }
    reason = None
    if not result.passed:
        reason = (
            f"verification ({result.label}) failed: the reference load measured "
            f"{result.error_rel * 100:+.3f} % off, beyond U = {result.uncertainty_rel * 100:.3f} %"
        )
        data["valid"] = False
        data.setdefault("validity", []).append(reason)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    text_path = path.parent / "results.txt"
    if reason is not None and text_path.is_file():  # what a submission's checkers read
        with text_path.open("a", encoding="utf-8") as handle:
            handle.write(not_valid_lines([reason]))
