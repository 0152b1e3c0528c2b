"""Calibration procedures declared as data (``calibration/*.toml``) and the reference they need.

A procedure is an ordered list of steps, each with what the user must connect and its
settings; :mod:`energybench.runner.calibrate` runs them. The bench file describes the reference
(``[calibration.reference]``: its id, certified value, uncertainty, tolerance, certificate date)
and the calibration settings (``[calibration] store``, ``validity_days``). Schema:
docs/calibration.md.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench._data import data_dir
from energybench.errors import ConfigError, EnergybenchError

STEP_KINDS = ("self_calibration", "zero", "gain", "skew")
DEFAULT_PROCEDURE = "reference-resistor"
DEFAULT_VALIDITY_DAYS = 365
DEFAULT_CERTIFICATE_DAYS = 365
STEP_KEYS = {
    "self_calibration": ("kind", "connect"),
    "zero": ("kind", "connect", "samples", "settle_s"),
    "gain": ("kind", "connect", "voltage_fractions", "samples", "settle_s"),
    "skew": ("kind", "connect", "voltage_fraction", "repeats", "on_s", "off_s"),
}
REFERENCE_KEYS = (
    "id",
    "kind",
    "resistance_ohm",
    "uncertainty_rel",
    "tolerance_rel",
    "certificate_date",
    "certificate_valid_days",
)
CALIBRATION_KEYS = ("store", "validity_days", "procedure", "reference")


class CalibrationRefused(EnergybenchError, RuntimeError):
    """A calibration or verification that cannot be done or trusted (one-line reason)."""


@dataclass(frozen=True)
class Step:
    kind: str
    connect: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any) -> Any:
        return self.settings.get(name, default)


@dataclass(frozen=True)
class Procedure:
    name: str
    description: str
    reference: str  # the kind of reference it needs ("resistor")
    steps: tuple[Step, ...]
    path: Path


@dataclass(frozen=True)
class Reference:
    """A reference standard as its certificate states it (entered by the user)."""

    reference_id: str
    kind: str
    resistance_ohm: float
    uncertainty_rel: float  # expanded (k=2), relative
    tolerance_rel: float
    certificate_date: dt.date
    certificate_valid_days: int = DEFAULT_CERTIFICATE_DAYS

    @property
    def standard_rel(self) -> float:
        return self.uncertainty_rel / 2

    def expires(self) -> dt.date:
        return self.certificate_date + dt.timedelta(days=self.certificate_valid_days)

    def check_valid(self, today: dt.date) -> None:
        """Refuse a certificate that has expired (or is dated in the future)."""
        if today > self.expires():
            raise CalibrationRefused(
                f"the reference's certificate expired on {self.expires().isoformat()} "
                f"(dated {self.certificate_date.isoformat()}, valid "
                f"{self.certificate_valid_days} days): have it recertified",
                context=f"calibration.reference {self.reference_id}",
            )
        if self.certificate_date > today:
            raise ConfigError(
                f"the certificate date {self.certificate_date.isoformat()} is in the future",
                context="calibration.reference.certificate_date",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.reference_id,
            "kind": self.kind,
            "resistance_ohm": self.resistance_ohm,
            "uncertainty_rel_k2": self.uncertainty_rel,
            "tolerance_rel": self.tolerance_rel,
            "certificate_date": self.certificate_date.isoformat(),
            "certificate_expires": self.expires().isoformat(),
        }


def procedure_names() -> list[str]:
    return sorted(p.stem for p in data_dir("calibration").glob("*.toml"))


def load_procedure(name_or_path: str | Path = DEFAULT_PROCEDURE) -> Procedure:
    """A shipped procedure by name, or a procedure file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = data_dir("calibration") / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(
                f"no calibration procedure {name_or_path!r} (shipped: "
                f"{', '.join(procedure_names())})",
                context="--procedure",
            )
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read procedure: {exc}", context=str(path)) from exc
    steps = []
    for k, raw in enumerate(table.get("steps", [])):
        where = f"{path.name} steps[{k}]"
        kind = raw.get("kind")
        if kind not in STEP_KINDS:
            raise ConfigError(f"kind must be one of {STEP_KINDS}, got {kind!r}", context=where)
        unknown = sorted(set(raw) - set(STEP_KEYS[kind]))
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} for a {kind} step", context=where)
        if not isinstance(raw.get("connect"), str):
            raise ConfigError("every step says what to connect (connect = '...')", context=where)
        settings = {k2: v for k2, v in raw.items() if k2 not in ("kind", "connect")}
        steps.append(Step(kind, raw["connect"], settings))
    if not steps:
        raise ConfigError("a procedure needs [[steps]]", context=str(path))
    return Procedure(
        name=str(table.get("name", path.stem)),
        description=str(table.get("description", "")),
        reference=str(table.get("reference", "resistor")),
        steps=tuple(steps),
        path=path,
    )


def calibration_settings(table: Mapping[str, Any] | None, where: str = "[calibration]") -> dict:
    """The bench file's ``[calibration]`` table checked: known keys, typed."""
    table = dict(table or {})
    unknown = sorted(set(table) - set(CALIBRATION_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} (valid: {', '.join(CALIBRATION_KEYS)})", context=where
        )
    days = table.get("validity_days", DEFAULT_VALIDITY_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise ConfigError(
            f"must be a whole number of days > 0, got {days!r}", context=f"{where}.validity_days"
        )
    table["validity_days"] = days
    return table


def parse_reference(table: Mapping[str, Any] | None) -> Reference:
    """The bench file's ``[calibration.reference]``: every key named when missing or wrong."""
    where = "[calibration.reference]"
    if not table:
        raise ConfigError(
            "no reference: add the reference's certificate to the bench file "
            "(id, resistance_ohm, uncertainty_rel, tolerance_rel, certificate_date)",
            context=where,
        )
    unknown = sorted(set(table) - set(REFERENCE_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} (valid: {', '.join(REFERENCE_KEYS)})", context=where
        )

    def number(key: str, default: float | None = None) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"must be a number > 0, got {value!r}", context=f"{where}.{key}")
        return float(value)

    raw_date = table.get("certificate_date")
    try:
        date = raw_date if isinstance(raw_date, dt.date) else dt.date.fromisoformat(str(raw_date))
    except ValueError:
        raise ConfigError(
            f"must be an ISO date (YYYY-MM-DD), got {raw_date!r}",
            context=f"{where}.certificate_date",
        ) from None
    if not isinstance(table.get("id"), str) or not table["id"]:
        raise ConfigError(
            "the reference's id (serial or asset number) is missing", context=f"{where}.id"
        )
    uncertainty = number("uncertainty_rel")
    tolerance = number("tolerance_rel")
    if tolerance < uncertainty:
        raise ConfigError(
            "tolerance_rel must not be smaller than uncertainty_rel",
            context=f"{where}.tolerance_rel",
        )
    return Reference(
        reference_id=table["id"],
        kind=str(table.get("kind", "resistor")),
        resistance_ohm=number("resistance_ohm"),
        uncertainty_rel=uncertainty,
        tolerance_rel=tolerance,
        certificate_date=date,
        certificate_valid_days=int(number("certificate_valid_days", DEFAULT_CERTIFICATE_DAYS)),
    )
