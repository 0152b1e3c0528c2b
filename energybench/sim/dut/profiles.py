"""Simulated DUT profiles: latency, currents, baud rates and clock error of one board.

Profiles are TOML files; the shipped ones live in ``energybench/sim/dut/profiles/`` and a user may
load their own by path. Every field is validated; a bad one raises ConfigError naming it.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.errors import ConfigError
from energybench.workloads.definitions import MODES

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
WORKLOADS = ("kws01", "vww01", "ic01", "ad01")


@dataclass(frozen=True)
class DutProfile:
    """What a simulated DUT does physically; seconds, amperes, volts, bits per second."""

    name: str
    supply_voltage_v: float
    baud: dict[str, int]
    latency_s: dict[str, float]
    active_current_a: dict[str, float]
    idle_current_a: float
    uart_current_a: float
    jitter: float = 0.0
    clock_error_ppm: float = 0.0
    timestamp_hold_s: float = 0.001
    boot_time_s: float = 0.05
    description: str = ""
    baud_overrides: dict[str, dict[str, int]] = field(default_factory=dict)
    # streaming wakeword (optional ``[sww01]`` table): one 32 ms frame's processing time and
    # the current drawn meanwhile; None when the profile has no SWW figures
    sww_frame_latency_s: float | None = None
    sww_active_current_a: float | None = None
    # the SWW build's timestamp pulse; None = ``timestamp_hold_s``. The reference firmware's
    # th_delay_us(1) is ~1 µs, too short for sampled meters
    # (docs/reference-runner.md#fw-sww-delay-hang)
    sww_timestamp_hold_s: float | None = None

    def baud_for(self, mode: str, workload: str | None = None) -> int:
        """The DUT's UART baud rate in ``mode`` (a workload may override it, e.g. ad01)."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; expected one of {MODES}", context="mode")
        if workload and mode in self.baud_overrides.get(workload, {}):
            return self.baud_overrides[workload][mode]
        return self.baud[mode]

    def workload_latency_s(self, workload: str) -> float:
        return self.latency_s[_known_workload(workload)]

    def workload_current_a(self, workload: str) -> float:
        return self.active_current_a[_known_workload(workload)]

    def sww_figures(self) -> tuple[float, float]:
        """(frame processing time s, active current A) of the streaming wakeword firmware."""
        if self.sww_frame_latency_s is None or self.sww_active_current_a is None:
            raise ConfigError(
                f"profile {self.name!r} has no [sww01] table (frame_latency_s, active_current_a)",
                context="profile.sww01",
            )
        return self.sww_frame_latency_s, self.sww_active_current_a


def _known_workload(workload: str) -> str:
    if workload not in WORKLOADS:
        raise ConfigError(
            f"unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}",
            context="workload",
        )
    return workload


def available_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> DutProfile:
    """A shipped profile by name, or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown DUT profile {name_or_path!r}; shipped: {', '.join(available_profiles())}",
                context="profile",
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read profile: {exc}", context=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", context=str(path)) from exc
    return profile_from_dict(data, source=str(path))


def _number(
    data: dict[str, Any],
    key: str,
    where: str,
    *,
    minimum: float = 0.0,
    positive: bool = False,
    default: float | None = None,
) -> float:
    if key not in data:
        if default is None:
            raise ConfigError("missing field", context=f"{where}{key}")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"must be a finite number, got {value!r}", context=f"{where}{key}")
    if positive and value <= 0:
        raise ConfigError(f"must be > 0, got {value}", context=f"{where}{key}")
    if value < minimum:
        raise ConfigError(f"must be >= {minimum}, got {value}", context=f"{where}{key}")
    return float(value)


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError("missing table (or not a table)", context=f"{where}{key}")
    return value


def _baud(value: Any, context: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20_000_000:
        raise ConfigError(f"must be an integer baud rate, got {value!r}", context=context)
    return value


def profile_from_dict(data: dict[str, Any], source: str = "profile") -> DutProfile:
    """Validate a parsed profile; ConfigError names ``source:field``."""
    where = f"{source}:"
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("must be a non-empty string", context=f"{where}name")
    baud_table = _table(data, "baud", where)
    baud: dict[str, int] = {}
    overrides: dict[str, dict[str, int]] = {}
    for key, value in baud_table.items():
        if key in MODES:
            baud[key] = _baud(value, f"{where}baud.{key}")
        elif key in WORKLOADS and isinstance(value, dict):
            for mode, rate in value.items():
                if mode not in MODES:
                    raise ConfigError(f"unknown mode {mode!r}", context=f"{where}baud.{key}")
                overrides.setdefault(key, {})[mode] = _baud(rate, f"{where}baud.{key}.{mode}")
        else:
            raise ConfigError(f"unknown key {key!r}", context=f"{where}baud")
    for mode in MODES:
        if mode not in baud:
            raise ConfigError("missing field", context=f"{where}baud.{mode}")
    per_workload: dict[str, dict[str, float]] = {}
    for key in ("latency_s", "active_current_a"):
        table = _table(data, key, where)
        unknown = set(table) - set(WORKLOADS)
        if unknown:
            raise ConfigError(f"unknown workload(s) {sorted(unknown)}", context=f"{where}{key}")
        per_workload[key] = {
            w: _number(table, w, f"{where}{key}.", positive=True) for w in WORKLOADS
        }
    jitter = _number(data, "jitter", where, default=0.0)
    if jitter >= 0.5:
        raise ConfigError(f"relative jitter must be < 0.5, got {jitter}", context=f"{where}jitter")
    ppm = data.get("clock_error_ppm", 0.0)
    if isinstance(ppm, bool) or not isinstance(ppm, (int, float)) or abs(ppm) > 1e5:
        raise ConfigError(
            f"must be a number within ±1e5, got {ppm!r}", context=f"{where}clock_error_ppm"
        )
    sww_latency_s = sww_current_a = sww_hold_s = None
    if "sww01" in data:
        sww = _table(data, "sww01", where)
        unknown = set(sww) - {"frame_latency_s", "active_current_a", "timestamp_hold_s"}
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}", context=f"{where}sww01")
        sww_latency_s = _number(sww, "frame_latency_s", f"{where}sww01.", positive=True)
        if sww_latency_s >= 0.032:
            raise ConfigError(
                f"must be < 0.032 s (one frame period), got {sww_latency_s}",
                context=f"{where}sww01.frame_latency_s",
            )
        sww_current_a = _number(sww, "active_current_a", f"{where}sww01.", positive=True)
        if "timestamp_hold_s" in sww:
            sww_hold_s = _number(sww, "timestamp_hold_s", f"{where}sww01.", positive=True)
    return DutProfile(
        name=name,
        description=str(data.get("description", "")),
        supply_voltage_v=_number(data, "supply_voltage_v", where, positive=True),
        baud=baud,
        baud_overrides=overrides,
        latency_s=per_workload["latency_s"],
        active_current_a=per_workload["active_current_a"],
        idle_current_a=_number(data, "idle_current_a", where),
        uart_current_a=_number(data, "uart_current_a", where),
        jitter=jitter,
        clock_error_ppm=float(ppm),
        timestamp_hold_s=_number(data, "timestamp_hold_s", where, positive=True, default=0.001),
        boot_time_s=_number(data, "boot_time_s", where, default=0.05),
        sww_frame_latency_s=sww_latency_s,
        sww_active_current_a=sww_current_a,
        sww_timestamp_hold_s=sww_hold_s,
    )
