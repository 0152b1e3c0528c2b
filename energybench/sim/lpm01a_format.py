"""Number formats of the LPM01A (PowerShield) ASCII protocol, shared by its simulator.

Data values are a decimal mantissa and a signed two-digit exponent: ``6409-07`` = 6409e-7.
The firmware's help documents 4-digit mantissas; the MLCommons runner's README shows 5-digit ones
(``33930-08``), so both are produced. Arguments accept unit letters (``1800m``, ``100u``,
``100n``, ``1k``) or a power of ten (``2-3``), as the firmware help describes.
"""

from __future__ import annotations

import math
import re

_ARGUMENT = re.compile(r"^(\d+(?:\.\d+)?)(?:([numk])|([+-]\d{1,2}))?$")
_UNITS = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3}


def format_value(value: float, digits: int = 4) -> str:
    """``value`` (≥ 0) as ``<mantissa><±ee>`` with a ``digits``-digit mantissa."""
    if not value > 0:
        return "0" * digits + "+00"
    exponent = math.floor(math.log10(value)) - (digits - 1)
    mantissa = round(value / 10.0**exponent)
    if mantissa >= 10**digits:
        mantissa //= 10
        exponent += 1
    elif mantissa < 10 ** (digits - 1):
        mantissa = round(value / 10.0 ** (exponent - 1))
        exponent -= 1
    sign = "-" if exponent < 0 else "+"
    return f"{mantissa:0{digits}d}{sign}{abs(exponent):02d}"


def parse_argument(text: str) -> float:
    """A numeric command argument (``1800m``, ``3``, ``2-3``, ``100u``); ValueError if not."""
    match = _ARGUMENT.match(text.strip())
    if not match:
        raise ValueError(f"not a number: {text!r}")
    number, unit, power = match.groups()
    value = float(number)
    if unit:
        value *= _UNITS[unit]
    elif power:
        value *= 10.0 ** int(power)
    return value
