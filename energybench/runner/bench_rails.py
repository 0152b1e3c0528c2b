"""Several measured rails in a bench file (docs/rails.md)::

    [meter]
    driver = "keysight_n6705c"
    resource = "TCPIP::192.0.2.10::5025::SOCKET"
    rail = "core"             # the rail this meter measures (default "core")
    [rails.io]                 # a further output of the same instrument, in the same captures
    channel = 2
    voltage_v = 3.3            # it sources its rail: set-points and the rail's own limits
    current_limit_a = 0.05
    max_voltage_v = 3.6
    max_current_a = 0.1
    [rails.radio]              # or a meter of its own on the DUT's timestamp line
    driver = "sim_stream"
    resource = "tcp://127.0.0.1:5000"
    line = "gpi[0]"            # where the pin reaches it (default: [sync] line)

Every key is checked; each problem names its field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from energybench.calibration.meter_figures import MeterFigures
from energybench.runner.bench_schema import (
    Problems,
    check_accuracy,
    check_channel,
    check_options,
    driver_class,
)

DEFAULT_RAIL = "core"
RAIL_KEYS = (
    "driver", "resource", "channel", "options", "line", "voltage_v", "current_limit_a",
    "max_voltage_v", "max_current_a", "current_range_a", "accuracy",
)  # fmt: skip
# a rail with a meter of its own (accuracy: its figures for the budget, as [meter] accuracy)
OWN_METER_KEYS = ("driver", "resource", "options", "line", "accuracy")
# an output of the main meter sources its rail: set-points and the rail's own safety limits
OUTPUT_KEYS = ("voltage_v", "current_limit_a", "max_voltage_v", "max_current_a")
OUTPUT_LIMITS = {"voltage_v": "max_voltage_v", "current_limit_a": "max_current_a"}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class RailConfig:
    """One further measured rail: an output ``channel`` of the bench's meter (``driver`` None),
    or a meter of its own (``driver``/``resource``/``channel``/``options``) seeing the DUT's
    timestamp pin on ``line``."""

    name: str
    channel: int = 1
    driver: str | None = None
    resource: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    line: str | None = None  # None: the bench's [sync] line
    voltage_v: float | None = None  # an output of the main meter: what it sources
    current_limit_a: float | None = None
    max_voltage_v: float | None = None  # and the limits no set-point may exceed
    max_current_a: float | None = None
    current_range_a: float | None = None  # None: the widest (never auto-ranging)
    accuracy: MeterFigures | None = None  # its own meter's stated figures (docs/bench-file.md)

    @property
    def same_instrument(self) -> bool:
        return self.driver is None

    @property
    def range_a(self) -> float | None:
        """The current range to use: the bench's, else (an output of the bench's meter) one
        that holds the output's current limit, as for the main rail; None: the widest."""
        return self.current_range_a if self.current_range_a is not None else self.current_limit_a


def check_rail_name(p: Problems, name: Any, path: str) -> bool:
    ok = isinstance(name, str) and NAME.match(name) is not None
    p.check(ok, f"{path}: {name!r} is not a rail name (lower-case letters, digits, _)")
    return ok


def _positive(p: Problems, table: Mapping, key: str, path: str) -> float | None:
    value = p.get(table, key, float, path, None)
    if value is not None and not (math.isfinite(value) and value > 0):
        p.add(f"{path}.{key}: must be > 0, got {value}")
        return None
    return value


def _rail(p: Problems, name: str, table: Mapping, meter: Mapping) -> RailConfig | None:
    path = f"rails.{name}"
    p.unknown(table, RAIL_KEYS, path)
    range_a = _positive(p, table, "current_range_a", path)
    if "driver" not in table:  # an output of the bench's meter
        for key in OWN_METER_KEYS[1:]:
            p.check(key not in table, f"{path}.{key}: only for a rail with a meter of its own "
                    f"({path}.driver); an output of the bench's meter takes channel, "
                    f"{', '.join(OUTPUT_KEYS)}")  # fmt: skip
        channel = p.get(table, "channel", int, path)
        main = meter.get("driver")
        cls = driver_class(Problems(path), main, "meter") if isinstance(main, str) else None
        if cls is not None and not hasattr(cls, "set_rail_channels"):
            p.add(
                f"{path}.channel: driver {main} cannot digitize a further output in the same "
                "acquisition (no multi-output support): give the rail a meter of its own "
                f"({path}.driver, {path}.resource)"
            )
        check_channel(p, channel, cls, path)
        if channel is not None and channel == meter.get("channel", 1):
            p.add(f"{path}.channel: output {channel} is the [meter]'s own rail")
        values = {k: _positive(p, table, k, path) for k in OUTPUT_KEYS}
        for key in OUTPUT_KEYS:
            if key not in table:
                p.missing(f"{path}.{key}", "missing (the output sources its rail)")
        for key, top in OUTPUT_LIMITS.items():
            value, limit = values[key], values[top]
            if value is not None and limit is not None and value > limit:
                p.add(f"{path}.{key}: {value} exceeds {path}.{top} {limit}")
        if channel is None:
            return None
        return RailConfig(name, channel, current_range_a=range_a, **values)
    for key in OUTPUT_KEYS:
        p.check(key not in table, f"{path}.{key}: only for an output of the bench's meter; a "
                "rail with a meter of its own is powered by the DUT's board")  # fmt: skip
    driver = p.get(table, "driver", str, path)
    cls = driver_class(p, driver, path)
    resource = p.get(table, "resource", str, path)
    channel = p.get(table, "channel", int, path, 1)
    options = p.get(table, "options", dict, path, {}) or {}
    line = p.get(table, "line", (str, int), path, None)
    check_channel(p, channel, cls, path)
    check_options(p, options, cls, path, runner_options=True)
    same = (driver, resource) == (meter.get("driver"), meter.get("resource"))
    if same and driver is not None:
        p.add(f"{path}.resource: the bench's meter itself: for another output of it give only "
              f"{path}.channel (and voltage_v, current_limit_a)")  # fmt: skip
    accuracy = check_accuracy(p, table, path)
    if None in (driver, resource, channel):
        return None
    return RailConfig(name, channel, driver, resource, options,
                      None if line is None else str(line), current_range_a=range_a,
                      accuracy=accuracy)  # fmt: skip


def parse_rails(p: Problems, rails: Any, meter: Mapping) -> tuple[str, tuple[RailConfig, ...]]:
    """``[meter] rail`` and the ``[rails.<name>]`` tables: the main rail's name and the others."""
    main = meter.get("rail", DEFAULT_RAIL)
    if not check_rail_name(p, main, "meter.rail"):
        main = DEFAULT_RAIL
    if rails is None:
        return main, ()
    if not isinstance(rails, Mapping):
        p.add(f"[rails]: must be a section of [rails.<name>] tables, got {rails!r}")
        return main, ()
    found = []
    for name, table in rails.items():
        path = f"rails.{name}"
        if not check_rail_name(p, name, path):
            continue
        if name == main:
            p.add(f"{path}: {name!r} is the [meter]'s rail (meter.rail)")
            continue
        if not isinstance(table, Mapping):
            p.add(f"[{path}]: must be a table, got {table!r}")
            continue
        rail = _rail(p, name, table, meter)
        if rail is not None:
            found.append(rail)
    outputs = [r.channel for r in found if r.same_instrument]
    for channel in {c for c in outputs if outputs.count(c) > 1}:
        p.add(f"rails: output {channel} of the bench's meter is named by more than one rail")
    return main, tuple(found)
