"""The 2450/2460/2461 trigger model of the simulator, run lazily in virtual time.

Blocks (2461 Reference Manual section 6 "Trigger model",
docs/instruments/keithley-2400.md#trigger-model): BUFFer:CLEar, WAIT on DIGio<n> (ENTer/NEVer),
DIGitize/MDIGitize and MEASure with a count, INF (continue in the background until the model
reaches the next acquisition block or ends) or 0 (just stop the background acquisition),
DELay:CONStant, NOTify, BRANch:COUNter.

The model is advanced whenever the client looks at it (``:TRIG:STAT?``, ``:TRAC:ACT?``, ...):
a WAIT block consumes the first edge of its line in the timeline after it was entered; a finite
acquisition needs the timeline up to its end and advances it if the DUT is idle (acquisition
takes time). Acquisition blocks start their first reading at the model's time, so a reading
stream started by an edge is referenced to that edge exactly (plus ``trigger_latency_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from energybench.sim.instruments.keithley.keithley_common import readings_before
from energybench.sim.wire.scpi_server import SETTINGS_CONFLICT, ScpiError

if TYPE_CHECKING:
    from energybench.sim.instruments.keithley.keithley_2461 import SimKeithley2461

INF = -1  # count meaning "until the next acquisition block"
MAX_STEPS = 100_000


@dataclass(frozen=True)
class Block:
    number: int
    kind: str  # BUFFER_CLEAR, WAIT, DIGITIZE, MEASURE, DELAY, NOTIFY, BRANCH_COUNTER
    buffer: str = ""
    count: int = 0
    line: int = 0
    clear_on_entry: bool = True
    delay_s: float = 0.0
    target: int = 0

    def describe(self) -> str:
        if self.kind == "WAIT":
            return f"{self.number}) WAIT DIGIO{self.line} {'ENT' if self.clear_on_entry else 'NEV'}"
        if self.kind in ("DIGITIZE", "MEASURE"):
            count = "INF" if self.count == INF else str(self.count)
            return f'{self.number}) {self.kind} "{self.buffer}" COUNT {count}'
        if self.kind == "BRANCH_COUNTER":
            return f"{self.number}) BRANCH COUNTER {self.count} TO {self.target}"
        return f"{self.number}) {self.kind}"


@dataclass
class _Background:
    block: Block
    t0_s: float
    sample_rate_hz: float
    stored: int = 0


@dataclass
class TriggerRun:
    blocks: list[Block]
    t_s: float
    pc: int = 1
    state: str = "RUNNING"  # RUNNING, WAITING, IDLE, ABORTED
    background: _Background | None = None
    counters: dict[int, int] = field(default_factory=dict)


class TriggerModel:
    """Block table, digital-line detectors and the lazily-run execution of one SMU."""

    def __init__(self, sim: SimKeithley2461) -> None:
        self.sim = sim
        self.blocks: dict[int, Block] = {}
        self.run: TriggerRun | None = None
        self.detect_from_s: dict[int, float] = {}

    def clear(self) -> None:
        self.abort()
        self.blocks.clear()
        self.run = None

    def define(self, block: Block) -> None:
        if self.run is not None and self.run.state in ("RUNNING", "WAITING"):
            raise ScpiError(SETTINGS_CONFLICT, "Trigger model is running")
        self.blocks[block.number] = block

    def listing(self) -> str:
        return ";".join(self.blocks[n].describe() for n in sorted(self.blocks)) or "EMPTY"

    # ---- start / stop ------------------------------------------------------------------
    def initiate(self) -> None:
        self.step()
        if self.run is not None and self.run.state in ("RUNNING", "WAITING"):
            raise ScpiError(SETTINGS_CONFLICT, "Trigger model is already running")
        numbers = sorted(self.blocks)
        if not numbers or numbers != list(range(1, len(numbers) + 1)):
            raise ScpiError(SETTINGS_CONFLICT, "Trigger model blocks must be numbered 1..N")
        blocks = [self.blocks[n] for n in numbers]
        kinds = {b.kind for b in blocks}
        if {"DIGITIZE", "MEASURE"} <= kinds:
            raise ScpiError(SETTINGS_CONFLICT, "Measure and digitize blocks cannot be mixed")
        for b in blocks:
            self.sim.check_acquisition_block(b)
        self.run = TriggerRun(blocks, self.sim.timeline.now_s)
        self.step()

    def abort(self) -> None:
        run = self.run
        if run is None or run.state not in ("RUNNING", "WAITING"):
            return
        self._stop_background(run, max(run.t_s, self.sim.timeline.now_s))
        run.state = "ABORTED"

    def state_text(self) -> str:
        self.step()
        if self.run is None:
            return "IDLE;IDLE;0"
        state = self.run.state
        block = min(self.run.pc, len(self.run.blocks))
        return f"{state};{state};{block}"

    def clear_detector(self, line: int) -> None:
        self.detect_from_s[line] = self.sim.timeline.now_s

    # ---- execution ---------------------------------------------------------------------
    def step(self) -> None:
        """Run the model as far as the timeline allows."""
        run = self.run
        if run is None or run.state not in ("RUNNING", "WAITING"):
            return
        for _ in range(MAX_STEPS):
            if run.pc > len(run.blocks):
                if not self._stop_background(run, run.t_s):
                    run.state = "WAITING"
                    return
                run.state = "IDLE"
                return
            block = run.blocks[run.pc - 1]
            if not self._execute(run, block):
                run.state = "WAITING"
                self._store_background(run, self.sim.timeline.now_s)
                return
            run.state = "RUNNING"
        run.state = "IDLE"  # a runaway branch loop ends the model

    def _execute(self, run: TriggerRun, block: Block) -> bool:
        """Execute one block; False if it must wait for the timeline."""
        if block.kind == "BUFFER_CLEAR":
            self.sim.buffer(block.buffer).clear()
        elif block.kind == "WAIT":
            edge = self._next_edge(run, block)
            if edge is None:
                return False
            run.t_s = edge + self.sim.trigger_latency_s
        elif block.kind in ("DIGITIZE", "MEASURE"):
            if not self._stop_background(run, run.t_s):
                return False
            rate = self.sim.acquisition_rate_hz(block)
            if block.count == INF:
                run.background = _Background(block, run.t_s, rate)
            elif block.count > 0:
                end = run.t_s + block.count / rate
                if not self._need(end):
                    return False
                self.sim.acquire(block, run.t_s, rate, block.count)
                run.t_s = end
        elif block.kind == "DELAY":
            if not self._need(run.t_s + block.delay_s):
                return False
            run.t_s += block.delay_s
        elif block.kind == "BRANCH_COUNTER":
            done = run.counters.get(block.number, 0) + 1
            if done < block.count:
                run.counters[block.number] = done
                run.pc = block.target
                return True
            run.counters[block.number] = 0
        run.pc += 1
        return True

    def _next_edge(self, run: TriggerRun, block: Block) -> float | None:
        line = block.line
        if not self.sim.line_is_trigger_input(line):
            return None  # a line not in TRIG,IN mode never produces events
        start = run.t_s if block.clear_on_entry else self.detect_from_s.get(line, 0.0)
        start = max(start, self.detect_from_s.get(line, 0.0))
        edges = self.sim.line_edges(line, start, self.sim.timeline.now_s)
        if not len(edges):
            return None
        edge = float(edges[0])
        self.detect_from_s[line] = math.nextafter(edge, math.inf)
        return edge

    def _need(self, t_s: float) -> bool:
        """Acquisition takes time (the DUT idle meanwhile): the timeline must be final up to
        ``t_s``; False while it is not (at realtime pace: until the wall clock gets there)."""
        return self.sim.timeline.idle_until(t_s, 0.0)

    def _store_background(self, run: TriggerRun, t_s: float) -> None:
        bg = run.background
        if bg is None:
            return
        done = int(np.floor((t_s - bg.t0_s) * bg.sample_rate_hz + 1e-9))
        if done > bg.stored:
            self._acquire_background(bg, done)

    def _stop_background(self, run: TriggerRun, t_stop_s: float) -> bool:
        """End the background acquisition at ``t_stop_s``; False while the timeline is not
        final there yet."""
        bg = run.background
        if bg is None:
            return True
        total = readings_before(bg.t0_s, t_stop_s, bg.sample_rate_hz)
        if not self._need(bg.t0_s + total / bg.sample_rate_hz):
            return False
        if total > bg.stored:
            self._acquire_background(bg, total)
        run.background = None
        return True

    def _acquire_background(self, bg: _Background, total: int) -> None:
        t0 = bg.t0_s + bg.stored / bg.sample_rate_hz
        self.sim.acquire(bg.block, t0, bg.sample_rate_hz, total - bg.stored)
        bg.stored = total
