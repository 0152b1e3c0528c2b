"""Provenance: the manifest `add` wrote (every file present with its recorded sha256), the
instrument that measured each energy result, and its calibration record.

Calibration records come from a run's ``results.json`` provenance, ``calibration``: a list of
``{"id", "instrument", "sha256", "valid_until"}`` (``valid_until`` an ISO 8601 date or UTC
time; ``valid_from`` optional). A record must cover the run's ``started_utc``. A result without
one draws a warning (published results have none), an error with ``require_calibration``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from energybench.errors import EnergybenchError
from energybench.submission.check.official import BenchmarkFolder
from energybench.submission.check.problems import Problem, rel_path
from energybench.submission.manifest import file_sha256, load_manifest
from energybench.submission.runs import RunFolder, is_run_folder, load_run
from energybench.submission.tree import MANIFEST_NAME, RAW

CALIBRATION_FIELDS = ("id", "instrument", "sha256", "valid_until")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_manifest(root: Path, org: Path) -> list[Problem]:
    """Every file the manifest lists is there with its sha256; placed folders hold no others."""
    path = org / MANIFEST_NAME
    try:
        manifest = load_manifest(path)
    except EnergybenchError as exc:
        return [Problem("error", rel_path(root, path), "manifest", exc.message)]
    if manifest is None:
        return [
            Problem(
                "warning",
                rel_path(root, org),
                "manifest",
                f"no {MANIFEST_NAME} (not placed by `energybench submission add`): raw files "
                "cannot be checked against recorded hashes",
            )
        ]
    problems = []
    listed = manifest.files()
    for rel, digest in sorted(listed.items()):
        file = org / rel
        where = rel_path(root, file)
        if not file.is_file():
            problems.append(Problem("error", where, "manifest", "listed in the manifest, missing"))
        elif file_sha256(file) != digest:
            problems.append(
                Problem(
                    "error",
                    where,
                    "manifest",
                    "sha256 differs from the manifest: changed or replaced since it was placed",
                )
            )
    for folder in sorted(manifest.placements):
        mode_dir = org / folder
        raw_dir = mode_dir.parent / RAW / mode_dir.name
        for base in (mode_dir, raw_dir):
            if not base.is_dir():
                continue
            problems += [
                Problem("warning", rel_path(root, f), "manifest", "not in the manifest")
                for f in sorted(base.rglob("*"))
                if f.is_file() and f.relative_to(org).as_posix() not in listed
            ]
    return problems


def _instant(value: object) -> datetime | None:
    """An ISO 8601 date (end of that day) or date-time, as an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def calibration_problems(run: RunFolder, where: str, require: bool) -> list[Problem]:
    """The calibration records of an energy run, against the time it was measured."""
    records = run.provenance.get("calibration")
    severity = "error" if require else "warning"
    if not records:
        return [Problem(severity, where, "calibration", "no calibration record for the meter")]
    if not isinstance(records, list):
        return [Problem("error", where, "calibration", "provenance.calibration must be a list")]
    measured = _instant(run.provenance.get("started_utc"))
    problems = []
    for k, record in enumerate(records):
        label = f"calibration[{k}]"
        if not isinstance(record, dict):
            problems.append(Problem("error", where, "calibration", f"{label} is not an object"))
            continue
        label = f"calibration record {record.get('id', k)!r}"
        missing = [f for f in CALIBRATION_FIELDS if not record.get(f)]
        if missing:
            problems.append(
                Problem("error", where, "calibration", f"{label}: no {', '.join(missing)}")
            )
        if record.get("sha256") and not _SHA256.match(str(record["sha256"])):
            problems.append(Problem("error", where, "calibration", f"{label}: sha256 malformed"))
        until = _instant(record.get("valid_until"))
        start = _instant(record.get("valid_from")) if record.get("valid_from") else None
        if record.get("valid_until") and until is None:
            problems.append(
                Problem("error", where, "calibration", f"{label}: valid_until is not ISO 8601")
            )
        elif until is not None and measured is not None and measured > until:
            problems.append(
                Problem(
                    severity,
                    where,
                    "calibration",
                    f"{label} expired {record['valid_until']}, before the run "
                    f"({measured:%Y-%m-%d})",
                )
            )
        if start is not None and measured is not None and measured < start:
            problems.append(
                Problem(
                    severity,
                    where,
                    "calibration",
                    f"{label} valid from {record['valid_from']}, after the run "
                    f"({measured:%Y-%m-%d})",
                )
            )
    return problems


def check_instruments(root: Path, folder: BenchmarkFolder, require: bool) -> list[Problem]:
    """The meter's identity and calibration for ``folder``'s energy result."""
    if not (folder.path / "energy").is_dir():
        return []
    raw = folder.path / RAW / "energy"
    if not is_run_folder(raw):
        where = rel_path(root, folder.path / "energy")
        return [
            Problem(
                "warning",
                where,
                "instrument-identity",
                "no machine-readable record of the meter (runner data)",
            ),
            Problem(
                "error" if require else "warning", where, "calibration", "no calibration record"
            ),
        ]
    try:
        run = load_run(raw)
    except EnergybenchError as exc:
        return [Problem("error", rel_path(root, raw), "provenance", exc.one_line())]
    where = rel_path(root, raw / "results.json")
    meter = run.provenance.get("meter") or {}
    problems = [
        Problem("error", where, "instrument-identity", f"meter {key} not recorded")
        for key in ("model", "serial_number")
        if not meter.get(key)
    ]
    if meter and not meter.get("firmware"):
        problems.append(
            Problem("warning", where, "instrument-identity", "meter firmware not recorded")
        )
    return problems + calibration_problems(run, where, require)
