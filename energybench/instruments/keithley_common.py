"""Checks both Keithley SMU drivers apply to a capture: the range to use (the B2900 picks its
range here too), the digital line named in a sync spec, over-range readings, and that buffer
timestamps sit on the sample grid."""

from __future__ import annotations

import re

import numpy as np

from energybench.analysis.trace import SampleKind, SourceInfo, Trace
from energybench.errors import AcquisitionError, ConfigError
from energybench.instruments.capabilities import InstrumentInfo, SyncSpec

OVER_RANGE_FACTOR = 1.05  # readings beyond 105 % of the range are saturated (or 9.9e37)


def pick_range(ranges_a: tuple[float, ...], requested_a: float | None, what: str) -> float:
    """The smallest fixed range holding ``requested_a``; the widest when None. Never auto."""
    if requested_a is None:
        return ranges_a[-1]
    if not requested_a > 0:
        raise ConfigError(f"current range must be > 0 A, got {requested_a:g}", context=what)
    for r in ranges_a:
        if requested_a <= r * (1 + 1e-9):
            return r
    raise ConfigError(
        f"current range {requested_a:g} A exceeds the largest range {ranges_a[-1]:g} A",
        context=what,
    )


def parse_line(sync: SyncSpec, lines: range, what: str) -> int:
    """The digital I/O line number of ``DIG3``/``DIGIO3``/``DIO3``/``3`` (empty: the first)."""
    text = sync.line.strip().upper()
    if not text:
        return lines.start
    match = re.fullmatch(r"(?:DIGIO|DIGITAL|DIG|DIO)?\s*(\d+)", text)
    if not match or int(match.group(1)) not in lines:
        raise ConfigError(
            f"sync line {sync.line!r} is not a digital I/O line {lines.start}..{lines.stop - 1}",
            context=what,
        )
    return int(match.group(1))


def check_over_range(current_a: np.ndarray, range_a: float, what: str) -> None:
    """Saturated readings make a window's energy wrong: refuse the capture, naming the range."""
    limit = OVER_RANGE_FACTOR * range_a * (1 - 1e-6)
    over = np.flatnonzero(np.abs(current_a) >= limit)
    if over.size:
        raise AcquisitionError(
            f"{over.size} reading(s) over range on the {range_a:g} A range (first at sample "
            f"{int(over[0])}); use a wider current range",
            context=what,
            over_range_samples=int(over.size),
        )


def check_grid(
    relative_s: np.ndarray, sample_rate_hz: float, what: str, relative_resolution: float = 0.0
) -> None:
    """Buffer timestamps must sit on the accepted sample grid: anything else is a lost or
    inserted reading, which a constant-rate trace must not hide. ``relative_resolution`` is the
    transfer format's (float32: 6e-8), widening the tolerance for late timestamps."""
    if relative_s.size == 0:
        return
    expected = (relative_s[0] * sample_rate_hz + np.arange(relative_s.size)) / sample_rate_hz
    worst = float(np.max(np.abs(relative_s - expected))) * sample_rate_hz
    span = float(np.max(np.abs(relative_s))) * sample_rate_hz
    if worst > 0.25 + 2 * relative_resolution * span:
        raise AcquisitionError(
            f"buffer timestamps leave the {sample_rate_hz:g} Hz sample grid by {worst:.3g} "
            "sample(s): readings were lost or the rate differs from the one read back",
            context=what,
        )


def build_trace(
    current_a: np.ndarray,
    voltage_v: np.ndarray | float,
    sample_rate_hz: float,
    sample_kind: SampleKind,
    info: InstrumentInfo | None,
    resource: str,
    description: str,
) -> Trace:
    source = SourceInfo(
        instrument=f"{info.vendor} {info.model}" if info else "",
        serial_number=info.serial_number if info else "",
        resource=resource,
        description=description,
    )
    voltage = np.asarray(voltage_v, dtype=np.float64) if not np.isscalar(voltage_v) else voltage_v
    return Trace.from_arrays(
        np.asarray(current_a, dtype=np.float64),
        voltage,
        sample_rate_hz,
        sample_kind=sample_kind,
        source=source,
    )
