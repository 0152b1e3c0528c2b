"""Which calibration a run applies (``run --calibration auto|none|FILE``) and what results.json
says about it.

``auto``: the newest valid record in the store matching the meter's identity (vendor, model,
serial number, firmware) and channel; ``FILE``: that record, checked the same way; ``none``: no
correction. A missing, expired or mismatching record leaves the run *uncalibrated* with the
reason (its U then comes from the datasheet profile); it never stops the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energybench.calibration.correction import Correction
from energybench.calibration.records import CalibrationRecord, find_record, load_record, store_dir
from energybench.errors import ConfigError
from energybench.runner.bench import Bench

log = logging.getLogger(__name__)

CALIBRATED, UNCALIBRATED = "calibrated", "uncalibrated"


@dataclass(frozen=True)
class CalibrationUse:
    """The calibration a run applies (``correction`` None: none) and why."""

    status: str  # "calibrated" | "uncalibrated"
    reason: str  # why uncalibrated ("" when calibrated)
    record: CalibrationRecord | None = None
    why: str = ""  # the reason in a word: no record | expired | mismatch | none | unreadable

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


def choose_calibration(
    bench: Bench,
    identity: dict[str, str],
    choice: str = "auto",
    now: dt.datetime | None = None,
    channel: int | None = None,
) -> CalibrationUse:
    """The record to apply for the meter whose identity is ``identity``."""
    now = now or dt.datetime.now(dt.UTC)
    channel = channel if channel is not None else bench.meter.channel
    if choice == "none":
        return CalibrationUse(UNCALIBRATED, "--calibration none", why="none")
    range_a = bench.meter.options.get("current_range_a")
    if range_a == "auto":  # the ranging pass picks it later: a record for no particular range
        range_a = None
    if choice == "auto":
        record, reason = find_record(bench_store(bench), identity, now, channel, range_a)
        if record is None:
            why = "expired" if "expired" in reason else "no record"
            return CalibrationUse(UNCALIBRATED, reason, why=why)
        log.info("calibration record %s applies", record.record_id)
        return CalibrationUse(CALIBRATED, "", record)
    try:
        record = load_record(Path(choice))
    except ConfigError as exc:
        return CalibrationUse(UNCALIBRATED, f"{choice}: {exc.message}", why="unreadable")
    state, reason = record.status(identity, now, channel, range_a)
    if state != "valid":
        return CalibrationUse(UNCALIBRATED, reason, why=state)
    return CalibrationUse(CALIBRATED, "", record)
