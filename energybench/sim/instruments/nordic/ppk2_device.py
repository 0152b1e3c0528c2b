"""What the simulated PPK2 puts on the wire: its metadata text, automatic range switching, and
the 4-byte sample words, written from the documented protocol (docs/instruments/ppk2.md)
independently of the driver's decoder (the ppk2-api test client checks both ends).

The device stores one calibration per unit; the host converts an ADC word of range r with
``x = (4·adc − O)·k/R`` and ``I = UG·(x·(GS·x + GI) + S·V + I0)`` (k = 1.8/163840 V per count).
The simulator runs that conversion backwards for the current it measures, so a host applying
this unit's metadata gets the current back to within one ADC count.

Range switching (documented by Nordic only as "automatic"): a sample moves up as soon as the
current passes 90 % of its range's full scale, and down only once the current falls below 70 %
of the next lower range's full scale (hysteresis), evaluated per sample without delay. Those
switch points are this simulator's assumption, not Nordic's figures.
"""

from __future__ import annotations

import math

import numpy as np

N_RANGES = 5
ADC_MAX = (1 << 14) - 1
VOLTS_PER_COUNT = 1.8 / 163840
UP_FRACTION, DOWN_FRACTION = 0.9, 0.7

# One fictitious unit's calibration, as its metadata prints it (values near the vendor app's
# defaults R = 1031.64, 101.65, 10.15, 0.94, 0.043 Ω; GS/GI/O/S/I/UG chosen so that a host
# ignoring any one of them misreads the current by more than an ADC count somewhere).
UNIT_CALIBRATION: dict[str, tuple[str, ...]] = {
    "R": ("1003.3909", "101.5874", "10.3637", "0.9643", "0.0406"),
    "GS": ("1.25", "0.21", "0.0153", "0.0012", "0"),
    "GI": ("1.0021", "0.9707", "0.956", "0.9675", "1"),
    "O": ("112.7524", "75.5702", "64.3007", "54.9693", "101.974"),
    "S": ("-1e-10", "1e-09", "-2e-09", "-2.1e-08", "-2.2048e-05"),
    "I": ("0", "1.4e-08", "-1.54e-07", "0", "1.072e-06"),
    "UG": ("1", "1", "1", "1", "1"),
}


class UnitModel:
    """One PPK2 unit: calibration, range tracking state, word encoding."""

    def __init__(self, calibration: dict[str, tuple[str, ...]] | None = None) -> None:
        text = calibration or UNIT_CALIBRATION
        self.text = {key: tuple(values) for key, values in text.items()}
        self.cal = {key: np.array([float(v) for v in values]) for key, values in text.items()}
        top = self.forward(np.full(N_RANGES, float(ADC_MAX)), np.arange(N_RANGES), 0.0)
        self.full_scale_a = top
        self.up_a = UP_FRACTION * top
        self.up_a[-1] = math.inf  # the widest range never switches up
        self.down_a = np.concatenate(([-math.inf], DOWN_FRACTION * top[:-1]))
        self.range_index = N_RANGES - 1  # where a stream starts: the widest range

    def forward(self, adc: np.ndarray, rng: np.ndarray, vdd_v: float | np.ndarray) -> np.ndarray:
        """The host's conversion (used here for the switch points only)."""
        c = {key: values[rng] for key, values in self.cal.items()}
        x = (adc * 4.0 - c["O"]) * VOLTS_PER_COUNT / c["R"]
        return c["UG"] * (x * (c["GS"] * x + c["GI"]) + c["S"] * vdd_v + c["I"])

    def adc_counts(self, current_a: np.ndarray, rng: np.ndarray, vdd_v: np.ndarray) -> np.ndarray:
        """The 14-bit ADC field that converts back to ``current_a`` in range ``rng``."""
        c = {key: values[rng] for key, values in self.cal.items()}
        y = current_a / c["UG"] - (c["S"] * vdd_v + c["I"])
        gs, gi = c["GS"], c["GI"]
        with np.errstate(invalid="ignore", divide="ignore"):
            root = np.sqrt(np.maximum(gi * gi + 4.0 * gs * y, 0.0))
            quadratic = (root - gi) / (2.0 * gs)
        x = np.where(gs > 0, quadratic, y / gi)
        counts4 = x * c["R"] / VOLTS_PER_COUNT + c["O"]
        return np.clip(np.round(counts4 / 4.0), 0, ADC_MAX).astype(np.uint32)

    def track_ranges(self, current_a: np.ndarray) -> np.ndarray:
        """The range of every sample, with hysteresis, continuing from the last sample."""
        n = len(current_a)
        magnitude = np.abs(current_a)
        lowest = np.searchsorted(self.up_a, magnitude, side="left")  # must be at least this
        highest = np.searchsorted(self.down_a, magnitude, side="right") - 1  # at most this
        out = np.empty(n, dtype=np.uint32)
        r, i = self.range_index, 0
        while i < n:
            outside = (lowest[i:] > r) | (highest[i:] < r)
            j = int(np.argmax(outside)) if outside.any() else n - i
            out[i : i + j] = r
            if i + j == n:
                break
            k = i + j
            r = int(lowest[k]) if lowest[k] > r else int(highest[k])
            out[k] = r
            i = k + 1
        self.range_index = r
        return out

    def metadata(self, fields: dict[str, str]) -> bytes:
        """The GetMetadata reply: ``Key: value`` lines in the device's order, then ``END``."""
        lines = [f"Calibrated: {fields.get('Calibrated', '1')}"]
        for key in ("R", "GS", "GI", "O"):
            lines += [f"{key}{k}: {v}" for k, v in enumerate(self.text[key])]
        lines += [f"{name}: {fields[name]}" for name in ("VDD", "HW", "mode") if name in fields]
        for key in ("S", "I", "UG"):
            lines += [f"{key}{k}: {v}" for k, v in enumerate(self.text[key])]
        if "IA" in fields:
            lines.append(f"IA: {fields['IA']}")
        return ("\n".join(lines) + "\nEND\n").encode("ascii")


def encode_words(
    adc: np.ndarray, rng: np.ndarray, counter: np.ndarray, logic: np.ndarray
) -> np.ndarray:
    """Sample words: ADC bits 0-13, range 14-16, counter 18-23, logic inputs 24-31."""
    return (
        (adc.astype(np.uint32) & ADC_MAX)
        | (rng.astype(np.uint32) << 14)
        | ((counter.astype(np.uint32) & 63) << 18)
        | (logic.astype(np.uint32) << 24)
    )
