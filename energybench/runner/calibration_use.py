"""Which calibration a run applies (``run --calibration auto|none|FILE``) and what results.json
says about it.

``auto``: the newest valid record in the store matching the meter's identity (vendor, model,
serial number, firmware), channel and the current range the run measures in; ``FILE``: that
record, checked the same way; ``none``: no correction. A record for a fixed range applies in
that range only, a record for no particular range only where no range is fixed. A missing,
expired or mismatching record leaves the run *uncalibrated* with the reason (its U then comes
from the datasheet profile); it never stops the run. A stream run chooses again once its range
is known (bench file, ranging pass or widest: :func:`use_calibration`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energybench.calibration.correction import Correction
from energybench.calibration.records import (
    CalibrationRecord,
    load_record,
    range_in_use,
    search_records,
    store_dir,
)
from energybench.errors import ConfigError
from energybench.runner.bench import Bench
from energybench.runner.context import RunContext
from energybench.runner.meter_setup import fixed_range_of
from energybench.runner.results import ModeResult

log = logging.getLogger(__name__)

CALIBRATED, UNCALIBRATED = "calibrated", "uncalibrated"


@dataclass(frozen=True)
class CalibrationUse:
    """The calibration a run applies (``correction`` None: none) and why."""

    status: str  # "calibrated" | "uncalibrated"
    reason: str  # why uncalibrated ("" when calibrated)
    record: CalibrationRecord | None = None
    why: str = ""  # the reason in a word: no record | expired | mismatch | none | unreadable
    range_a: float | None = None  # the current range it was chosen for (None: no fixed range)
    range_source: str = "bench file"  # what chose that range

    @property
    def correction(self) -> Correction | None:
        return self.record.correction() if self.record is not None else None

    @property
    def label(self) -> str:
        """The table's text: ``calibrated`` or ``uncalibrated (<why>)``."""
        return self.status if not self.why else f"{self.status} ({self.why})"

    def provenance(self) -> list[dict[str, Any]]:
        """``provenance.calibration``: the records applied (none: an empty list)."""
        return [self.record.provenance()] if self.record is not None else []

    def status_dict(self) -> dict[str, Any]:
        """``provenance.calibration_status``: calibrated or not, and why."""
        return {"status": self.status, "why": self.why or None, "reason": self.reason or None}


def bench_store(bench: Bench) -> Path:
    """The store this bench uses (environment > bench file > default)."""
    return store_dir(bench.calibration.get("store"), bench.source)


def range_fix(record_a: float | None, run_a: float | None) -> str:
    """How to make a record of ``record_a`` apply where the run measures in ``run_a``."""
    keep = (
        f"set [meter] options.current_range_a = {record_a:g}"
        if record_a is not None
        else "calibrate with the range the run uses"
    )
    if run_a is None:
        return f"{keep}, or calibrate the way this run measures (no fixed range)"
    return f"calibrate that range (`energybench calibrate --range {run_a:g}`) or {keep}"


def choose_calibration(
    bench: Bench,
    identity: dict[str, str],
    choice: str = "auto",
    now: dt.datetime | None = None,
    channel: int | None = None,
    range_a: float | str | None = "bench",
    range_source: str = "bench file",
) -> CalibrationUse:
    """The record to apply for the meter whose identity is ``identity`` when it measures in
    ``range_a`` (``"bench"``: the bench file's fixed range, None when it fixes none)."""
    now = now or dt.datetime.now(dt.UTC)
    channel = channel if channel is not None else bench.meter.channel
    run_a = fixed_range_of(bench.meter.options) if isinstance(range_a, str) else range_a
    where = {"range_a": run_a, "range_source": range_source}
    if choice == "none":
        return CalibrationUse(UNCALIBRATED, "--calibration none", why="none", **where)
    if choice == "auto":
        found = search_records(
            bench_store(bench), identity, now, channel, run_a, range_source=range_source
        )
        if found.record is None:
            reason = found.reason
            if found.other_range is not None:
                reason += f": {range_fix(found.other_range.range_a, run_a)}"
            return CalibrationUse(UNCALIBRATED, reason, why=found.why, **where)
        log.info("calibration record %s applies", found.record.record_id)
        return CalibrationUse(CALIBRATED, "", found.record, **where)
    try:
        record = load_record(Path(choice))
    except ConfigError as exc:
        return CalibrationUse(UNCALIBRATED, f"{choice}: {exc.message}", why="unreadable", **where)
    state, reason = record.status(identity, now, channel, run_a, range_source)
    other_range = record.status(identity, now, channel, record.range_a)[0] != "mismatch"
    if state == "mismatch" and other_range:  # the instrument and channel match, not the range
        reason += f": {range_fix(record.range_a, run_a)}"
    if state != "valid":
        return CalibrationUse(UNCALIBRATED, reason, why=state, **where)
    return CalibrationUse(CALIBRATED, "", record, **where)


def use_calibration(
    ctx: RunContext,
    identity: dict[str, str],
    result: ModeResult,
    range_a: float | str | None = "bench",
    range_source: str = "bench file",
) -> CalibrationUse:
    """The calibration the energy mode applies, into provenance, ``calibration_status`` and
    the run log; called again once a stream run's range is known (its note replaced)."""
    before: CalibrationUse | None = ctx.calibration
    use = choose_calibration(
        ctx.bench, identity, ctx.options.calibration, range_a=range_a, range_source=range_source
    )
    ctx.calibration = use
    ctx.provenance["calibration"] = use.provenance()
    ctx.provenance["calibration_status"] = use.status_dict()
    result.figures["calibration_status"] = use.label
    where = range_in_use(use.range_a)
    ctx.runlog.write(
        "runner", f"calibration for {where} ({use.range_source}): {use.label} {use.reason}".rstrip()
    )
    if before is not None and before.record is None:
        note = f"uncalibrated: {before.reason}"
        if note in result.notes:
            result.notes.remove(note)
    if use.record is None:
        result.notes.append(f"uncalibrated: {use.reason}")
    return use
