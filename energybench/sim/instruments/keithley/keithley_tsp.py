"""The TSP pieces of the simulated 2600B: the error type, the constants scripts name
(``smua.OUTPUT_ON``, ``format.REAL32``, ``digio.TRIG_RISINGA``) and how values are split and
printed. The ``digio.trigger[N].mode`` values are the 2600B Reference Manual's
(docs/instruments/keithley-2600b.md#digio-trigger)."""

from __future__ import annotations

SYNTAX_ERROR, RUNTIME_ERROR = -285, -286
CONSTANTS = {
    "OUTPUT_DCAMPS": 0,
    "OUTPUT_DCVOLTS": 1,
    "OUTPUT_OFF": 0,
    "OUTPUT_ON": 1,
    "AUTORANGE_OFF": 0,
    "AUTORANGE_ON": 1,
    "AUTOZERO_OFF": 0,
    "AUTOZERO_ONCE": 1,
    "AUTOZERO_AUTO": 2,
    "DISABLE": 0,
    "ENABLE": 1,
    "SOURCE_HOLD": 0,
}
FORMAT_CONSTANTS = {"ASCII": 1, "REAL32": 4, "REAL64": 5, "BIGENDIAN": 0, "LITTLEENDIAN": 1}
DIGIO_CONSTANTS = {
    "TRIG_BYPASS": 0,
    "TRIG_FALLING": 1,
    "TRIG_RISING": 2,
    "TRIG_EITHER": 3,
    "TRIG_SYNCHRONOUSA": 4,
    "TRIG_SYNCHRONOUS": 5,
    "TRIG_SYNCHRONOUSM": 6,
    "TRIG_RISINGA": 7,
    "TRIG_RISINGM": 8,
}


def detected_edge(mode: int, programmed_high: bool) -> str | None:
    """The input edge a ``digio.trigger[N].mode`` detects, None for no input detection:
    TRIG_RISING "behaves like TRIG_RISINGA if the programmed line state is high, like
    TRIG_RISINGM if low", and TRIG_RISINGM detects no input edge (2600 Series Reference Manual
    p.12-20). The synchronous modes are not simulated (None)."""
    if mode == DIGIO_CONSTANTS["TRIG_RISING"]:
        return "rising" if programmed_high else None
    return {1: "falling", 3: "both", 7: "rising"}.get(mode)


class TspError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def split_args(text: str) -> list[str]:
    out, depth, current = [], 0, ""
    for ch in text:
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    return [*out, current.strip()] if current.strip() or out else []


def tsp_number(value: object, digits: int = 6) -> str:
    """How TSP prints a value (numbers at ``format.asciiprecision`` significant digits)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{float(value):.{max(1, digits) - 1}e}"
    return "nil" if value is None else str(value)
