"""Helpers for the streaming tests: MLPerf-style windows on a timeline, a small block-file sink,
and a streaming window-energy integrator (a plain sum; the analysis engine is tested elsewhere)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lab_support import add_mlperf_window

from energybench.analysis.trace import TraceChunk
from energybench.sim.physics.timeline import Timeline

PULSE_HOLD_S = 10e-6
V_SUPPLY = 3.3
R_OUT = 0.05
I_IDLE = 2e-3


def bench_timeline() -> Timeline:
    tl = Timeline(supply_voltage_v=V_SUPPLY, output_on=True, output_resistance_ohm=R_OUT)
    tl.set_load_current(0.0, I_IDLE)
    return tl


def add_window(tl: Timeline, start_s: float, duration_s: float, active_a: float) -> None:
    """An MLPerf window with one burst of activity, idle at ``I_IDLE`` after it."""
    add_mlperf_window(tl, start_s, duration_s, active_a, I_IDLE, pulse_s=PULSE_HOLD_S, burst=True)


@dataclass
class WindowIntegrator:
    """Sums v·i/fs between consecutive falling edges of a digital line, chunk by chunk.

    A falling edge at the first low sample ``k`` starts (or ends) a window at sample ``k``.
    """

    line: str = "gpi[0]"
    energies_j: list[float] = field(default_factory=list)
    edge_ids: list[int] = field(default_factory=list)
    _last_bit: bool | None = None
    _open: bool = False
    _acc: float = 0.0

    def feed(self, chunk: TraceChunk) -> None:
        bits = np.asarray(chunk.digital[self.line])
        prev = np.concatenate(([self._last_bit if self._last_bit is not None else bits[0]], bits))
        falling = np.flatnonzero(prev[:-1] & ~prev[1:])
        power = chunk.power_w() / chunk.sample_rate_hz
        start = 0
        for k in falling:
            if self._open:
                self._acc += float(np.sum(power[start:k]))
                self.energies_j.append(self._acc)
            self._open, self._acc, start = True, 0.0, int(k)
            self.edge_ids.append(chunk.first_sample_id + int(k))
        if self._open:
            self._acc += float(np.sum(power[start:]))
        self._last_bit = bool(bits[-1])

    def window_energies(self) -> list[float]:
        """Energies of windows (every other interval: start→end pairs)."""
        return self.energies_j[0::2]


class BlockSink:
    """A crash-safe test recording: one .npz per chunk, written atomically (tmp + rename)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory)
        self.path.mkdir(parents=True, exist_ok=True)
        self.closed = False

    def append(self, chunk: TraceChunk) -> None:
        target = self.path / f"{chunk.first_sample_id:015d}.npz"
        tmp = target.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            current_a=chunk.current_a,
            voltage_v=chunk.voltage_array(),
            **{name.replace("[", "_").replace("]", ""): b for name, b in chunk.digital.items()},
        )
        os.replace(tmp, target)

    def close(self) -> None:
        self.closed = True


def read_blocks(directory: Path) -> list[tuple[int, int]]:
    """(first_id, n) of every complete block, in id order."""
    out = []
    for f in sorted(Path(directory).glob("*.npz")):
        if f.name.endswith(".tmp.npz"):
            continue
        with np.load(f) as data:
            out.append((int(f.name.split(".")[0]), int(data["current_a"].shape[0])))
    return out
