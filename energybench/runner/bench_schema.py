"""Every section and key a bench file may hold, and the checks on them: an unknown section or
key is a problem naming its path and the closest valid name (``did you mean `channel`?``),
never silently ignored. ``[meter] options`` are the runner's own (:data:`RUNNER_OPTIONS`) plus
the keyword options of the meter driver's ``open()``, found through the driver registry.

:class:`Problems` collects every problem of one file, so the user fixes them in one go.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from energybench.calibration.meter_figures import MeterFigures
from energybench.errors import ConfigError, EnergybenchError
from energybench.instruments.registry import NOT_OPTIONS, driver_names, driver_options, load_driver
from energybench.workloads.definitions import MODES

INSTRUMENT_KEYS = ("driver", "resource", "channel", "options")
SUPPLY_LIMIT_KEYS = ("voltage_v", "current_limit_a", "max_voltage_v", "max_current_a")
SECTIONS: dict[str, tuple[str, ...]] = {
    "bench": ("name",),
    "meter": (*INSTRUMENT_KEYS, "rail", "accuracy"),
    "supply": INSTRUMENT_KEYS + SUPPLY_LIMIT_KEYS,
    "sync": ("mode", "line", "polarity", "min_pulse_s"),
    "dut": ("port", "baud", "flash"),
    "interface": ("port", "baud"),
    "calibration": ("store", "validity_days", "procedure", "reference"),
    "rails": (),  # [rails.<name>] tables: energybench.runner.bench_rails
}
REQUIRED_SECTIONS = ("meter", "sync", "dut")
BUILDS = ("energy", "performance")  # the firmware builds [dut] flash programs
SYNC_ALIASES = {"hardware_trigger": "hw_trigger_start", "none": "host_timestamp"}


def _positive(value: Any) -> str | None:
    ok = _is_number(value) and math.isfinite(value) and value > 0
    return None if ok else f"must be a number > 0, got {value!r}"


def _non_negative(value: Any) -> str | None:
    ok = _is_number(value) and math.isfinite(value) and value >= 0
    return None if ok else f"must be a number >= 0, got {value!r}"


def _range(value: Any) -> str | None:
    if value == "auto":
        return None
    ok = _is_number(value) and math.isfinite(value) and value > 0
    return None if ok else f"must be a number > 0 (A) or 'auto', got {value!r}"


def _acquisition(value: Any) -> str | None:
    ok = value in ("stream", "capture")
    return None if ok else f"must be 'stream' or 'capture', got {value!r}"


# [meter] options the runner consumes (every other option goes to the driver's open())
RUNNER_OPTIONS: dict[str, Callable[[Any], str | None]] = {
    "sample_rate_hz": _positive,  # streaming meters: the rate asked for (default: native)
    "sample_interval_s": _positive,  # triggered meters: the interval (default: duration/90 k)
    # a fixed range in A, or "auto": a ranging pass picks one (the default on a streaming meter
    # with fixed ranges; otherwise the meter's own default, never auto-ranging mid-window)
    "current_range_a": _range,
    "settle_s": _non_negative,  # wait after the output goes on before talking to the DUT
    "acquisition": _acquisition,  # "stream" or "capture" for a meter that offers both
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def suggestion(name: str, valid: Iterable[str], quote: Callable[[str], str] = "`{}`".format) -> str:
    """`` (did you mean `x`?)`` for the closest valid name, else the list of valid names."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {quote(close[0])}?)"
    return f" (valid: {', '.join(quote(v) for v in valid) or 'none'})"


class Problems:
    """Every problem of one file; a key whose misspelling was reported is not also 'missing'."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []
        self._misspelt: set[str] = set()  # paths an unknown key's suggestion pointed at

    def add(self, message: str) -> None:
        self.items.append(message)

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.items.append(message)

    def missing(self, path: str, message: str = "missing") -> None:
        if path not in self._misspelt:
            self.items.append(f"{path}: {message}")

    def unknown(self, table: Mapping, valid: Iterable[str], path: str, what: str = "key") -> None:
        """Each key of ``table`` outside ``valid`` is a problem with the closest valid name."""
        valid = tuple(valid)
        for key in table:
            if key in valid:
                continue
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            if close and close[0] not in table:
                self.misspelt(f"{path}.{close[0]}")
            self.items.append(f"{path}.{key}: unknown {what}{suggestion(str(key), valid)}")

    def misspelt(self, path: str) -> None:
        """``path`` was reported as the likely meaning of a misspelt name: not 'missing'."""
        self._misspelt.add(path)

    def get(
        self, table: Mapping, key: str, kind: type | tuple, path: str, default: Any = ...
    ) -> Any:
        """``table[key]`` if it has the type ``kind`` (an int is a float; a bool is no number),
        else None with the problem recorded; ``default`` when absent (required without one)."""
        if key not in table:
            if default is ...:
                self.missing(f"{path}.{key}")
                return None
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and _is_number(value):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = "/".join(k.__name__ for k in kinds)
            self.items.append(f"{path}.{key}: must be {names}, got {value!r}")
            return None
        return value

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(
                f"{len(self.items)} problem(s): " + "; ".join(self.items),
                context=self.where,
                problems=list(self.items),
            )


def check_sections(p: Problems, table: Mapping) -> None:
    """Top level: known sections only, each a table; the required ones present."""
    for name, value in table.items():
        if name not in SECTIONS:
            close = difflib.get_close_matches(str(name), SECTIONS, n=1, cutoff=0.6)
            if close and close[0] not in table:
                p.misspelt(f"[{close[0]}]")
            kind = "section" if isinstance(value, Mapping) else "top-level key"
            p.add(f"[{name}]: unknown {kind}{suggestion(str(name), SECTIONS, '[{}]'.format)}")
        elif not isinstance(value, Mapping):
            p.add(f"[{name}]: must be a section (a table), got {value!r}")
    for name in REQUIRED_SECTIONS:
        if name not in table:
            p.missing(f"[{name}]", "missing section")
    for name, keys in SECTIONS.items():
        if isinstance(table.get(name), Mapping) and name not in ("meter", "supply", "rails"):
            p.unknown(table[name], keys, name)  # the instruments' keys: check_instrument_keys


def check_instrument_keys(p: Problems, table: Mapping, cls: type | None, path: str) -> None:
    """``[meter]``/``[supply]`` keys; a driver option written as a key is told where it goes."""
    options = (driver_options(cls) if cls is not None else None) or {}
    valid = SECTIONS[path]
    for key in table:
        if key in valid:
            continue
        if key in options:
            p.add(
                f"{path}.{key}: an option of driver {cls.__name__}: write it under "  # type: ignore[union-attr]
                f"{path}.options (options = {{ {key} = ... }})"
            )
        else:
            p.unknown({key: None}, valid, path)


def driver_class(p: Problems, name: str | None, path: str) -> type | None:
    """The registered driver ``name`` (a problem with the closest name when unknown); None
    when it cannot be loaded here (its open() then reports why, with the install hint)."""
    if name is None:
        return None
    names = driver_names()
    if name not in names:
        p.add(f"{path}.driver: no driver named {name!r}{suggestion(name, names)}")
        return None
    try:
        return load_driver(name)
    except EnergybenchError:  # an optional package missing: opening it says so
        return None


def check_channel(p: Problems, channel: Any, cls: type | None, path: str) -> None:
    if channel is None:
        return
    if channel < 1:
        p.add(f"{path}.channel: must be >= 1, got {channel}")
        return
    top = getattr(cls, "max_channel", None) if cls is not None else None
    if top is not None and channel > top:
        p.add(f"{path}.channel: the {cls.__name__} driver has channels 1..{top}, got {channel}")


def check_options(
    p: Problems, options: Mapping, cls: type | None, path: str, runner_options: bool
) -> None:
    """Options: the runner's (``[meter]`` only) and the driver's open() keywords, typed."""
    if not options:
        return
    own = RUNNER_OPTIONS if runner_options else {}
    of_driver = driver_options(cls) if cls is not None else None
    if of_driver is None:  # not loadable here, or it takes any keyword: the runner's own only
        for key, value in options.items():
            if key in own and (problem := own[key](value)):
                p.add(f"{path}.options.{key}: {problem}")
        return
    for key, value in options.items():
        where = f"{path}.options.{key}"
        if key in NOT_OPTIONS:
            p.add(f"{where}: not an option: set {path}.{key} in the section itself")
        elif key in own:
            if problem := own[key](value):
                p.add(f"{where}: {problem}")
        elif key in of_driver:
            if problem := _type_problem(value, of_driver[key]):
                p.add(f"{where}: {problem}")
        else:
            valid = sorted(own) + sorted(of_driver)
            p.add(f"{where}: unknown option of driver {cls.__name__}{suggestion(key, valid)}")


def check_accuracy(p: Problems, table: Mapping, path: str) -> MeterFigures | None:
    """``{path}.accuracy``: the meter's stated figures for the budget; None when absent or
    wrong (the problem is added)."""
    if "accuracy" not in table:
        return None
    try:
        return MeterFigures.from_table(table["accuracy"], f"{path}.accuracy")
    except ConfigError as exc:
        p.add(str(exc))
        return None


def _type_problem(value: Any, kind: type | None) -> str | None:
    """The driver option's value against the type of its default (None: any type)."""
    if kind is None:
        return None
    if kind is float:
        ok = _is_number(value)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    return None if ok else f"must be {kind.__name__}, got {value!r}"


def check_mode_table(p: Problems, table: Mapping, valid: tuple[str, ...], path: str) -> None:
    """A per-mode/per-build table: known names only (closest suggested)."""
    p.unknown(table, valid, path, "mode" if valid == MODES else "build")
