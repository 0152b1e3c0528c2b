"""Measurement commands of the simulated N6705 (mixed into ``N6705Instrument``): accepted
intervals, scope-mode array acquisitions (trigger, pre-trigger fill, blocking fetch) and the Elog
(records since the last fetch, FIFO overflow).
See :mod:`energybench.sim.instruments.keysight.keysight_n6705c`."""

from __future__ import annotations

import math
import time

import numpy as np

from energybench.sim.instruments.keysight import keysight_n6705c_acq as acq
from energybench.sim.instruments.keysight.keysight_n6705c_acq import (
    Acquisition,
    Channel,
    ElogSession,
    Trigger,
)
from energybench.sim.wire.scpi_server import Request

DATA_STALE = -230
ELOG_OVERFLOW = 313
# STAT:OPER bits of an N6705B/C output (N6705C Operating and Service Guide p.350): 0 CV, 1 CC,
# 2 OFF, 3 "not used, 0 is returned", 4 WTG-tran, 5 MEAS-active, 6 TRAN-active.
OUTPUT_OFF = 4
MEASUREMENT_ACTIVE = 32
MAX_ELOG_RECORDS = 1_000_000


def scpi_number(value: float) -> str:
    return f"{value:+.6E}"


class MeasurementCommands:
    """Handlers for SENS:SWE/ELOG, TRIG, INIT, ABOR, FETC and STAT:OPER:COND?."""

    # ---- intervals -----------------------------------------------------------------------
    def accepted_tint_s(self, ch: Channel) -> float:
        parameters = sum(c.scope_parameters for c in self.channels.values())
        return acq.quantise_interval(ch.tint_request_s, acq.tint_quantum_s(parameters, ch.module))

    def accepted_elog_period_s(self, channels: list[Channel]) -> float:
        """The common record period: every parameter logged on any output counts."""
        parameters = sum(c.elog_parameters for c in self.channels.values())
        return acq.accepted_elog_period_s(
            max(c.elog_period_request_s for c in channels), parameters
        )

    def _tint_query(self, request: Request) -> str:
        return ",".join(scpi_number(self.accepted_tint_s(ch)) for ch in self._channels(request))

    def _elog_period_query(self, request: Request) -> str:
        channels = self._channels(request)
        return ",".join(scpi_number(self.accepted_elog_period_s([ch])) for ch in channels)

    def _trigger(self, source: str) -> Trigger:
        if source.startswith("PIN"):
            pin = self.pins[int(source[3:])]
            connected = pin["function"] == "TINP" and int(source[3:]) == self.wiring.digital_pin
            return Trigger(source, "rising" if pin["polarity"] == "POS" else "falling", connected)
        if source == "EXT":
            return Trigger(source, "falling", self.wiring.ext_wired)  # low-true input
        return Trigger(source, None)

    # ---- scope-mode arrays ---------------------------------------------------------------
    def _init_acquisition(self, request: Request) -> None:
        now = self.timeline.now_s
        for ch in self._channels(request):
            run = Acquisition(
                [ch.number],
                now,
                self.accepted_tint_s(ch),
                ch.points,
                ch.offset_points,
                self._trigger(ch.trigger_source),
            )
            if run.trigger.source == "IMM":
                run.trigger_s = run.earliest_trigger_s
            self.acquisitions[ch.number] = run

    def _bus_trigger(self, request: Request) -> None:
        for ch in self._channels(request):
            run = self.acquisitions.get(ch.number)
            if run and run.trigger_s is None and run.trigger.source == "BUS":
                run.trigger_s = max(self.timeline.now_s, run.earliest_trigger_s)

    def _abort_acquisition(self, request: Request) -> None:
        for ch in self._channels(request):
            run = self.acquisitions.get(ch.number)
            if run is not None and not run.complete:
                del self.acquisitions[ch.number]

    def _progress(self, run: Acquisition, wait_s: float) -> bool:
        """Find the trigger (waiting up to ``wait_s`` of wall time), then complete the run."""
        deadline = time.monotonic() + wait_s
        while run.trigger_s is None:
            run.trigger_s = acq.find_trigger(
                self.timeline, self.wiring, run.trigger, run.earliest_trigger_s
            )
            remaining = deadline - time.monotonic()
            if run.trigger_s is not None or remaining <= 0:
                break
            self.timeline.wait_until(self.timeline.now_s + 1e-9, timeout_s=min(remaining, 0.05))
        if run.trigger_s is None:
            return False
        if not run.complete:
            if self.timeline.now_s < run.end_s:
                self.timeline.wait_until(run.end_s, timeout_s=self.settle_s)
                # acquisition takes time, the DUT idle meanwhile; at realtime pace it ends
                # when the wall clock gets there (never by running the clock ahead)
                if not self.timeline.idle_until(run.end_s, deadline - time.monotonic()):
                    return False
            for n in run.channels:
                run.data[n] = acq.render_channel(
                    self.timeline,
                    self.channels[n],
                    self.wiring,
                    run.start_s,
                    run.interval_s,
                    run.points,
                    "point",
                )
        return True

    def _fetch_array(self, request: Request, which: int) -> bytes | str:
        ch = self._channels(request)[0]
        run = self.acquisitions.get(ch.number)
        if run is None or not self._progress(run, self.fetch_timeout_s):
            self.push_error(DATA_STALE, "Data corrupt or stale; no completed acquisition")
            return self._block(np.empty(0))
        enabled = ch.func_current if which == 0 else ch.func_voltage
        if not enabled:
            self.push_error(DATA_STALE, "Data corrupt or stale; function not digitized")
            return self._block(np.empty(0))
        return self._block(run.data[ch.number][which])

    def _condition(self, request: Request) -> str:
        values = []
        for ch in self._channels(request):
            bits = 0 if ch.output_on else OUTPUT_OFF
            run = self.acquisitions.get(ch.number)
            if run is not None and not self._progress(run, 0.0):  # waiting, or still acquiring
                bits |= MEASUREMENT_ACTIVE
            values.append(f"{bits:+d}")
        return ",".join(values)

    # ---- Elog ----------------------------------------------------------------------------
    def _init_elog(self, request: Request) -> None:
        channels = self._channels(request)
        period = self.accepted_elog_period_s(channels)
        trigger = self._trigger(channels[0].elog_trigger_source)
        capacity = max(1, math.floor(self.elog_fifo_s / period))
        self.elog = ElogSession(
            [c.number for c in channels], self.timeline.now_s, period, trigger, capacity
        )
        if trigger.source == "IMM":
            self.elog.start_s = self.timeline.now_s

    def _bus_trigger_elog(self, request: Request) -> None:
        if self.elog and self.elog.start_s is None and self.elog.trigger.source == "BUS":
            self.elog.start_s = self.timeline.now_s

    def _abort_elog(self, request: Request) -> None:
        self.elog = None

    def _fetch_elog(self, request: Request) -> bytes | str:
        session = self.elog
        channels = self._channels(request)
        max_records = int(request.float_arg(0, 1, MAX_ELOG_RECORDS))
        if session is None or [c.number for c in channels] != session.channels:
            self.push_error(DATA_STALE, "Data corrupt or stale; no Elog running on these channels")
            return self._block(np.empty(0))
        if session.start_s is None:
            session.start_s = acq.find_trigger(
                self.timeline, self.wiring, session.trigger, session.armed_s
            )
        available = acq.completed_records(session, self.timeline.now_s) - session.consumed
        if available > session.capacity:
            lost = available - session.capacity
            session.consumed += lost
            available = session.capacity
            self.push_error(ELOG_OVERFLOW, f"Elog FIFO overflow; {lost} records lost")
        n = min(available, max_records)
        if n <= 0:
            return self._block(np.empty(0))
        t0 = session.start_s + session.consumed * session.period_s
        session.consumed += n
        columns = []
        for ch in channels:
            current, voltage = acq.render_channel(
                self.timeline, ch, self.wiring, t0, session.period_s, n, "bin"
            )
            if ch.elog_current:
                columns.append(current)
            if ch.elog_voltage:
                columns.append(voltage)
        return self._block(np.column_stack(columns).ravel() if columns else np.empty(0))
