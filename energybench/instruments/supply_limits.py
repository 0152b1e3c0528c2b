"""The one supply-limit check every driver that sources power runs before it sends a set-point.

A voltage or current-limit set-point is refused, never clipped, with nothing sent, when it is
not a finite number, is negative, lies outside the instrument's own documented rating (its
profile's ``[[supply]]`` entries, see :class:`SupplyRating`), lies outside the rating's
voltage/current envelope, or exceeds the bench file's limits (:class:`SafetyLimits`, from
``[supply] max_voltage_v`` / ``max_current_a``). The one :class:`SafetyLimitError` names the
field (``supply.voltage_v``, ``supply.current_limit_a``) and the limit that was hit with its
source. A figure no document gives is unknown (``None``): it refuses nothing, and only the
bench limits (and the instrument itself) stand.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from energybench.errors import ConfigError, SafetyLimitError

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
VOLTAGE_FIELD = "supply.voltage_v"
CURRENT_FIELD = "supply.current_limit_a"
_NOTHING_SENT = "nothing was sent"
_KEYS = {"models", "max_voltage_v", "max_current_a", "min_voltage_v", "min_current_a", "envelope"}
_KEYS |= {"doc", "verified"}


@dataclass(frozen=True)
class SafetyLimits:
    """The bench's maximum voltage and current (``[supply] max_voltage_v``/``max_current_a``)."""

    max_voltage_v: float
    max_current_a: float

    def __post_init__(self) -> None:
        for name in ("max_voltage_v", "max_current_a"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"must be a finite number > 0, got {value!r}", context=f"supply.{name}"
                )


@dataclass(frozen=True)
class SupplyRating:
    """What an instrument (or some of its models) can source, from a named document.

    ``max_*``/``min_*`` bound each set-point; ``envelope`` lists (up to ``voltage_v``, at most
    ``current_a``) steps where the current an output can deliver falls with its voltage (e.g.
    3.03 A up to 6 V, 1.01 A up to 40.4 V). ``models`` are the identified model names the entry
    is documented for (empty: every model of the profile). ``None`` means unknown."""

    max_voltage_v: float | None
    max_current_a: float | None
    doc: str
    verified: bool
    min_voltage_v: float = 0.0
    min_current_a: float = 0.0
    envelope: tuple[tuple[float, float], ...] = ()
    models: tuple[str, ...] = ()

    def covers(self, model: str) -> bool:
        """Whether this entry is documented for the identified ``model`` (a whole-token match:
        ``B2901A`` covers ``B2901A`` but not ``B2901BL``)."""
        return any(
            re.search(rf"(?<![A-Za-z0-9]){re.escape(m)}(?![A-Za-z0-9])", model, re.IGNORECASE)
            for m in self.models
        )

    def envelope_current_a(self, voltage_v: float) -> float | None:
        """The most current the envelope allows at ``voltage_v``: that of the first step whose
        voltage reaches it (None: no envelope, or a voltage beyond every step)."""
        for up_to_v, current_a in self.envelope:
            if voltage_v <= up_to_v:
                return current_a
        return None


def _figure(table: Mapping[str, Any], key: str, where: str, default: float | None) -> float | None:
    if key not in table:
        return default
    value = table[key]
    if value == UNKNOWN:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(
            f"must be a number or {UNKNOWN!r}, got {value!r}", context=f"{where}.{key}"
        )
    if value < 0:
        raise ConfigError(f"must be >= 0, got {value!r}", context=f"{where}.{key}")
    return float(value)


def _envelope(table: Mapping[str, Any], where: str) -> tuple[tuple[float, float], ...]:
    steps = table.get("envelope", [])
    if not isinstance(steps, list):
        raise ConfigError(
            "must be an array of {voltage_v, current_a} tables", context=f"{where}.envelope"
        )
    out = []
    for k, step in enumerate(steps):
        here = f"{where}.envelope[{k}]"
        if not isinstance(step, Mapping) or set(step) != {"voltage_v", "current_a"}:
            raise ConfigError("must be { voltage_v = ..., current_a = ... }", context=here)
        voltage, current = (_figure(step, key, here, None) for key in ("voltage_v", "current_a"))
        if voltage is None or current is None:
            raise ConfigError("an envelope step cannot be unknown", context=here)
        out.append((voltage, current))
    if [v for v, _ in out] != sorted({v for v, _ in out}):
        raise ConfigError("steps must be in increasing voltage", context=f"{where}.envelope")
    return tuple(out)


def parse_supply_ratings(entries: Any, where: str) -> tuple[SupplyRating, ...]:
    """The profile's ``[[supply]]`` array, checked; ConfigError names the file and field."""
    if not isinstance(entries, list):
        raise ConfigError("must be an array of tables ([[supply]])", context=where)
    ratings = []
    for k, table in enumerate(entries):
        here = f"{where}[{k}]"
        if not isinstance(table, Mapping):
            raise ConfigError("must be a table", context=here)
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown}; known: {', '.join(sorted(_KEYS))}", context=here
            )
        doc, verified, models = table.get("doc"), table.get("verified"), table.get("models", [])
        if not isinstance(doc, str) or not doc.strip():
            raise ConfigError("name the document the figures come from", context=f"{here}.doc")
        if not isinstance(verified, bool):
            raise ConfigError(
                f"must be true or false, got {verified!r}", context=f"{here}.verified"
            )
        if not (isinstance(models, list) and all(isinstance(m, str) and m for m in models)):
            raise ConfigError("must be a list of model names", context=f"{here}.models")
        for key in ("max_voltage_v", "max_current_a"):
            if key not in table:
                raise ConfigError(f"missing (a number, or {UNKNOWN!r})", context=f"{here}.{key}")
        ratings.append(
            SupplyRating(
                max_voltage_v=_figure(table, "max_voltage_v", here, None),
                max_current_a=_figure(table, "max_current_a", here, None),
                doc=doc.strip(),
                verified=verified,
                min_voltage_v=_figure(table, "min_voltage_v", here, 0.0) or 0.0,
                min_current_a=_figure(table, "min_current_a", here, 0.0) or 0.0,
                envelope=_envelope(table, here),
                models=tuple(models),
            )
        )
    if len([r for r in ratings if not r.models]) > 1:
        raise ConfigError(
            "at most one entry may omit models (it covers every model)", context=where
        )
    return tuple(ratings)


def require_current_limit(current_limit_set: bool, enabled: bool, context: str) -> None:
    """The current limit goes on before the output: switching on without one is refused, with
    nothing sent (every supply driver applies this one rule)."""
    if enabled and not current_limit_set:
        raise SafetyLimitError(
            f"set the current limit before switching the output on; {_NOTHING_SENT}",
            context=context,
        )


class SupplyLimitCheck:
    """Validates a driver's set-points against its rating and the bench limits (see module).

    ``label`` names the instrument in messages (its registry name). Until :meth:`use_model`
    names the identified model, a set-point must satisfy every rating entry of the profile (the
    most restrictive figures of the family); then only the entry documented for that model (or
    the one for every model). A model no entry covers keeps the family's figures, with a
    warning. The last accepted voltage and current limit are kept to check each new set-point
    against the rating's output envelope."""

    def __init__(
        self, label: str, ratings: Sequence[SupplyRating], bench: SafetyLimits | None = None
    ) -> None:
        self.label = label
        self.ratings = tuple(ratings)
        self.bench = bench
        self.model = ""
        self.active = self.ratings  # the entries a set-point must satisfy
        self.voltage_v: float | None = None
        self.current_limit_a: float | None = None

    def use_model(self, model: str) -> None:
        """Apply the rating documented for the identified ``model``."""
        self.model = model
        matches = [r for r in self.ratings if r.covers(model)]
        general = [r for r in self.ratings if not r.models]
        self.active = tuple((matches or general)[:1]) or self.ratings
        if self.ratings and not (matches or general):
            log.warning(
                "%s: no documented supply rating for model %r; every documented model's "
                "figures apply (the lowest wins)",
                self.label,
                model,
            )

    def voltage(self, voltage_v: float) -> float:
        """``voltage_v`` as a float when it may be sent; SafetyLimitError otherwise."""
        value = self._against_limits(voltage_v, "V")
        self._against_envelope(value, self.current_limit_a, VOLTAGE_FIELD)
        self.voltage_v = value
        return value

    def current_limit(self, current_a: float) -> float:
        """``current_a`` as a float when it may be sent as the current limit."""
        value = self._against_limits(current_a, "A")
        self._against_envelope(self.voltage_v, value, CURRENT_FIELD)
        self.current_limit_a = value
        return value

    def _against_limits(self, set_point: float, unit: str) -> float:
        """A finite, non-negative number within every active rating and the bench limit."""
        field, bench_key = (
            (VOLTAGE_FIELD, "max_voltage_v") if unit == "V" else (CURRENT_FIELD, "max_current_a")
        )
        value = _finite(set_point, unit, field)
        if unit == "A" and value == 0:
            _refuse(field, "0 A: a current limit must be > 0 A")
        for rating in self.active:
            self._against_rating(rating, value, unit, field)
        limit = None if self.bench is None else getattr(self.bench, bench_key)
        if limit is not None and value > limit:
            hit = f"the bench limit supply.{bench_key} = {limit:g} {unit}"
            _refuse(field, f"{value:g} {unit} is above {hit}")
        return value

    def _who(self, rating: SupplyRating) -> str:
        if self.model:
            return f"the {self.label} ({self.model})"
        if rating.models and len(self.ratings) > 1:
            return f"the {self.label} {'/'.join(rating.models)} (model not identified yet)"
        return f"the {self.label}"

    def _against_rating(self, rating: SupplyRating, value: float, unit: str, field: str) -> None:
        quantity = "voltage" if unit == "V" else "current"
        most = rating.max_voltage_v if unit == "V" else rating.max_current_a
        least = rating.min_voltage_v if unit == "V" else rating.min_current_a
        if most is not None and value > most:
            hit = f"above {self._who(rating)}'s rating of {most:g} {unit}"
        elif value < least:
            hit = f"below {self._who(rating)}'s minimum {quantity} of {least:g} {unit}"
        else:
            return
        _refuse(field, f"{value:g} {unit} is {hit} ({_source(rating)})")

    def _against_envelope(self, voltage_v: float | None, current_a: float | None, field: str):
        if voltage_v is None or current_a is None:
            return
        for rating in self.active:
            allowed = rating.envelope_current_a(voltage_v)
            if allowed is not None and current_a > allowed:
                steps = ", ".join(f"{a:g} A up to {v:g} V" for v, a in rating.envelope)
                _refuse(
                    field,
                    f"{current_a:g} A at {voltage_v:g} V is outside {self._who(rating)}'s output "
                    f"envelope ({steps}; {_source(rating)})",
                )


def _source(rating: SupplyRating) -> str:
    return rating.doc + ("" if rating.verified else "; unverified")


def _refuse(field: str, message: str) -> None:
    raise SafetyLimitError(f"{message}; {_NOTHING_SENT}", context=field)


def _finite(value: float, unit: str, field: str) -> float:
    """A finite, non-negative number (bools and strings are refused too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SafetyLimitError(f"{value!r} is not a number; {_NOTHING_SENT}", context=field)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise SafetyLimitError(
            f"{number!r} {unit} is not a finite, non-negative set-point; {_NOTHING_SENT}",
            context=field,
        )
    return number
