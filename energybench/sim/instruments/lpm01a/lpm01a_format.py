"""Number formats of the LPM01A (PowerShield) ASCII protocol, shared by its simulator.

Data values are a decimal mantissa and a signed two-digit exponent: ``6409-07`` = 6409e-7.
The firmware's help documents 4-digit mantissas; the MLCommons runner's README shows 5-digit ones
(``33930-08``), so both are produced. Arguments accept unit letters (``1800m``, ``100u``,
``100n``, ``1k``) or a power of ten (``2-3``), as the firmware help describes.
"""

from __future__ import annotations

import math
import re

import numpy as np

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


# ---- bin_hexa -------------------------------------------------------------------------------
# Each value is one big-endian 16-bit word: exponent nibble e, 12-bit mantissa m, value =
# m × 16^-e ("52A0 <=> (2A0)16 x 16^-5", firmware help [V]). Metadata records start with 0xF0
# (a data word never does: e <= 14): F0 F3 <u32 ms> <u8 buffer %> FF FF is a time stamp and
# F0 F4 FF FF ends the acquisition; that framing is taken from a third-party reader [D].
END_RECORD = b"\xf0\xf4\xff\xff"


def encode_hexa(values: np.ndarray) -> bytes:
    """Values (≥ 0) as bin_hexa words, the largest exponent that keeps m within 12 bits."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 4095.0)
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log(4095.0 / v) / np.log(16.0))
    exponent = np.clip(np.nan_to_num(exponent, posinf=14.0), 0, 14).astype(np.int64)
    mantissa = np.minimum(np.round(v * 16.0**exponent), 4095).astype(np.int64)
    return ((exponent << 12) | mantissa).astype(">u2").tobytes()


def timestamp_record(milliseconds: int, buffer_pct: int) -> bytes:
    return b"\xf0\xf3" + int(milliseconds).to_bytes(4, "big") + bytes([buffer_pct]) + b"\xff\xff"
