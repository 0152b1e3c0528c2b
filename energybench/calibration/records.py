"""Calibration records (one JSON document per instrument, channel and range) and their store.

A record says what was calibrated (the instrument's vendor, model, serial number and firmware,
the channel and the current range), when and at what temperature, against which reference
(its id, certificate date and uncertainty), the coefficients with their standard uncertainties,
the fit's residuals, how long it is valid, the energybench version, and a SHA-256 content hash
over everything else (an edited record no longer verifies). Schema: docs/calibration.md.

The store is a folder of records: ``$ENERGYBENCH_CALIBRATION_DIR``, else the bench file's
``[calibration] store`` (relative to the bench file), else
``$XDG_DATA_HOME/energybench/calibration`` (``~/.local/share/energybench/calibration``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from energybench.calibration.correction import Correction, LinearCorrection
from energybench.errors import ConfigError

SCHEMA = "energybench.calibration-record/1"
ENV_STORE = "ENERGYBENCH_CALIBRATION_DIR"
IDENTITY_KEYS = ("vendor", "model", "serial_number", "firmware")


def default_store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "energybench" / "calibration"


def store_dir(bench_store: str | None = None, bench_file: Path | None = None) -> Path:
    """The calibration store: environment > bench file > the default."""
    if os.environ.get(ENV_STORE):
        return Path(os.environ[ENV_STORE])
    if bench_store:
        path = Path(bench_store).expanduser()
        if not path.is_absolute() and bench_file is not None:
            path = Path(bench_file).parent / path
        return path
    return default_store()


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``document`` without its ``content_hash`` field."""
    body = {k: v for k, v in document.items() if k != "content_hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record_id(identity: Mapping[str, str], channel: int, range_a: float | None, when: str) -> str:
    """``<model>-<serial>-ch<n>-<range>-<UTC time>`` with only file-name-safe characters."""
    rng = "any" if range_a is None else f"{range_a:g}A"
    who = f"{identity.get('model', '')}-{identity.get('serial_number', '')}"
    raw = f"{who}-ch{channel}-{rng}-{when}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw)


@dataclass(frozen=True)
class CalibrationRecord:
    """One record as read from (or about to be written to) the store."""

    data: Mapping[str, Any]
    path: Path | None = None

    @property
    def record_id(self) -> str:
        return str(self.data["record_id"])

    @property
    def hash(self) -> str:
        return str(self.data["content_hash"])

    @property
    def created(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.data["created_utc"])

    @property
    def expires(self) -> dt.datetime:
        return self.created + dt.timedelta(days=int(self.data["validity"]["days"]))

    @property
    def identity(self) -> dict[str, str]:
        return {k: str(self.data["instrument"].get(k, "")) for k in IDENTITY_KEYS}

    @property
    def range_a(self) -> float | None:
        value = self.data.get("range_a")
        return None if value is None else float(value)

    def verify(self) -> None:
        """The content hash matches the content (else the record was edited or damaged)."""
        if content_hash(self.data) != self.data.get("content_hash"):
            where = str(self.path or self.data.get("record_id"))
            raise ConfigError(
                "content hash mismatch: the record was changed after it was written", context=where
            )

    def status(
        self,
        identity: Mapping[str, str],
        now: dt.datetime,
        channel: int = 1,
        range_a: float | None = None,
        range_source: str = "",
    ) -> tuple[str, str]:
        """("valid", "") or ("expired"|"mismatch", the reason) for this instrument now, in
        ``range_a`` (None: no fixed range; ``range_source`` says what chose it)."""
        mine = self.identity
        for key in IDENTITY_KEYS:
            if str(identity.get(key, "")) != mine[key]:
                return "mismatch", (
                    f"record {self.record_id} is for {key} {mine[key]!r}, the "
                    f"instrument has {identity.get(key, '')!r}"
                )
        if int(self.data.get("channel", 1)) != channel:
            return "mismatch", f"record {self.record_id} is for channel {self.data['channel']}"
        if not same_range(self.range_a, range_a):
            return "mismatch", self.range_mismatch(range_a, range_source)
        if now > self.expires:
            return "expired", (
                f"record {self.record_id} expired on {self.expires.date().isoformat()}"
            )
        return "valid", ""

    def range_mismatch(self, range_a: float | None, range_source: str = "") -> str:
        """Why this record does not apply in ``range_a``: both ranges named."""
        source = f" ({range_source})" if range_source else ""
        run = range_in_use(range_a)
        mine = range_name(self.range_a)
        return f"record {self.record_id} is for {mine}, this run measured in {run}{source}"

    def correction(self) -> Correction:
        """The record's coefficients as a :class:`Correction` (current channel and skew)."""
        c = self.data["coefficients"]
        linear = LinearCorrection(
            "current",
            self.range_a,
            gain=float(c["gain"]),
            gain_std=float(c["gain_std"]),
            offset=float(c["offset_a"]),
            offset_std=float(c["offset_std_a"]),
        )
        skew = self.data.get("skew") or {}
        return Correction(
            current={self.range_a: linear},
            skew_s=float(skew.get("skew_s", 0.0)),
            skew_std_s=float(skew.get("skew_std_s", 0.0)),
            record_ids=(self.record_id,),
        )

    def provenance(self) -> dict[str, Any]:
        """What results.json keeps of the record it applied (an entry of
        ``provenance.calibration``: the submission checker reads ``id``, ``instrument``,
        ``sha256`` of the record file, ``valid_from`` and ``valid_until``)."""
        file_hash = None
        if self.path is not None and Path(self.path).is_file():
            file_hash = hashlib.sha256(Path(self.path).read_bytes()).hexdigest()
        return {
            "id": self.record_id,
            "instrument": self.identity["serial_number"] or self.identity["model"],
            "sha256": file_hash,
            "valid_from": self.data["created_utc"],
            "valid_until": self.expires.isoformat(),
            "content_hash": self.hash,
            "file": str(self.path) if self.path else None,
            "range_a": self.range_a,
            "reference_id": self.data["reference"]["id"],
            "coefficients": dict(self.data["coefficients"]),
            "skew": dict(self.data.get("skew") or {}),
        }


def range_name(range_a: float | None) -> str:
    """``the 0.018 A range``, or ``no particular range`` (a record made with none fixed)."""
    return "no particular range" if range_a is None else f"the {range_a:g} A range"


def range_in_use(range_a: float | None) -> str:
    """``the 0.018 A range``, or ``no fixed range`` (a meter measuring in its own ranges)."""
    return "no fixed range" if range_a is None else f"the {range_a:g} A range"


def same_range(record_a: float | None, run_a: float | None) -> bool:
    """A record for a fixed range applies in that range only; a record for no particular range
    (None) only where no range is fixed either."""
    if record_a is None or run_a is None:
        return record_a is None and run_a is None
    return math.isclose(record_a, run_a, rel_tol=1e-9)


def finish(document: dict[str, Any]) -> CalibrationRecord:
    """Stamp the schema and content hash on a new record's document."""
    document = {"schema": SCHEMA, **document}
    _check_finite(document)
    document["content_hash"] = content_hash(document)
    return CalibrationRecord(document)


def _check_finite(value: Any, where: str = "record") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError("a calibration record holds no NaN or infinity", context=where)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for k, v in enumerate(value):
            _check_finite(v, f"{where}[{k}]")


def write_record(store: Path, record: CalibrationRecord) -> Path:
    """Write the record into the store (created if needed); never overwrites one."""
    store.mkdir(parents=True, exist_ok=True)
    path = store / f"{record.record_id}.json"
    if path.exists():
        raise ConfigError("a record with this id exists already", context=str(path))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_record(path: Path) -> CalibrationRecord:
    """Read and verify one record (schema and content hash)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read calibration record: {exc}", context=str(path)) from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(f"not a calibration record (schema {SCHEMA} expected)", context=str(path))
    for key in (
        "record_id",
        "created_utc",
        "instrument",
        "coefficients",
        "validity",
        "reference",
        "content_hash",
    ):
        if key not in data:
            raise ConfigError(f"calibration record lacks {key!r}", context=str(path))
    record = CalibrationRecord(data, path)
    record.verify()
    return record


def list_records(store: Path) -> tuple[list[CalibrationRecord], list[str]]:
    """Every record in the store (newest first) and the problems of the files that are not."""
    records, problems = [], []
    for path in sorted(Path(store).glob("*.json")) if Path(store).is_dir() else []:
        try:
            records.append(load_record(path))
        except ConfigError as exc:
            problems.append(f"{path.name}: {exc.message}")
    records.sort(key=lambda r: r.created, reverse=True)
    return records, problems


@dataclass(frozen=True)
class RecordSearch:
    """What :func:`search_records` found: the record to apply, or why there is none."""

    record: CalibrationRecord | None
    reason: str = ""
    why: str = ""  # "" | "expired" | "mismatch" (only other ranges' records) | "no record"
    other_range: CalibrationRecord | None = None  # the newest record of another range


def search_records(
    store: Path,
    identity: Mapping[str, str],
    now: dt.datetime,
    channel: int = 1,
    range_a: float | None = None,
    *,
    range_source: str = "",
    any_range: bool = False,
) -> RecordSearch:
    """The newest valid record for the instrument, channel and range (``any_range``: whatever
    its range), or why there is none: an expired one of that range, else a record of another
    range (a mismatch naming both), else none at all."""
    records, _ = list_records(store)
    expired: list[str] = []
    other: CalibrationRecord | None = None
    for record in records:
        state, reason = record.status(identity, now, channel, record.range_a)
        if state == "mismatch":  # another instrument or channel
            continue
        if not any_range and not same_range(record.range_a, range_a):
            if other is None or (state == "valid" and now > other.expires):
                other = record
            continue
        if state == "valid":
            return RecordSearch(record)
        expired.append(reason)
    model = f"{identity.get('model', '')} {identity.get('serial_number', '')}".strip()
    if expired:
        return RecordSearch(
            None, f"no valid calibration record for {model}: {expired[0]}", "expired"
        )
    if other is not None:
        return RecordSearch(None, other.range_mismatch(range_a, range_source), "mismatch", other)
    return RecordSearch(None, f"no calibration record for {model} in {store}", "no record")


def correction_from_provenance(entries: Any) -> Correction | None:
    """The correction a run applied, from its results.json ``provenance.calibration`` (the
    list of records applied; None when it applied none)."""
    entry = entries[0] if isinstance(entries, list) and entries else None
    coefficients = entry.get("coefficients") if isinstance(entry, Mapping) else None
    if not entry or not coefficients:
        return None
    linear = LinearCorrection(
        "current",
        None,
        gain=float(coefficients["gain"]),
        gain_std=float(coefficients["gain_std"]),
        offset=float(coefficients["offset_a"]),
        offset_std=float(coefficients["offset_std_a"]),
    )
    skew = entry.get("skew") or {}
    return Correction(
        current={None: linear},
        skew_s=float(skew.get("skew_s", 0.0)),
        skew_std_s=float(skew.get("skew_std_s", 0.0)),
        record_ids=(str(entry.get("id", "")),),
    )
