"""The 2450/2460/2461 trigger models energybench runs, reading them back, and asking the firmware
what it offers (buffer size, the digitize block's name).

``hw_trigger_start_stop``: clear buffer → WAIT edge → acquire INF → WAIT edge → acquire 1. The INF
acquisition runs "in the background until the trigger model reaches another acquisition block"
(docs/instruments/keithley-2400.md#trigger-model), i.e. from the first edge to the second; the final
single reading starts at the second edge, so its RELative timestamp is the window length.
``hw_trigger_start``: WAIT edge → acquire N. Without sync: acquire N at ``:INIT``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from energybench.errors import AcquisitionError, InstrumentError, InstrumentTimeoutError
from energybench.instruments.capabilities import SyncMode
from energybench.instruments.scpi import ScpiDriver
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.02
UNDEFINED_HEADER = "-113"


@dataclass(frozen=True)
class CapturePlan:
    """What a configured capture expects, from the instrument's read-back values."""

    mode: SyncMode | None
    sample_rate_hz: float
    aperture_s: float
    current_range_a: float
    n_points: int  # readings expected (start / immediate) or the most allowed (start_stop)
    capacity: int
    measure_voltage: bool
    line: int


def trigger_model_commands(
    mode: SyncMode | None, line: int, edge: str, acquire: str, buffer: str, n_points: int
) -> list[str]:
    """Digital line set-up, then the blocks of the trigger model for ``mode``."""
    commands = []
    if mode is not None:
        commands += [
            f":DIG:LINE{line}:MODE TRIG, IN",
            f":TRIG:DIG{line}:IN:EDGE {edge}",
            f":TRIG:DIG{line}:IN:CLE",
        ]
    commands += [':TRIG:LOAD "Empty"', f':TRIG:BLOC:BUFF:CLE 1,"{buffer}"']
    if mode == "hw_trigger_start_stop":
        commands += [
            f":TRIG:BLOC:WAIT 2,DIG{line},ENT",
            f'{acquire} 3,"{buffer}",INF',
            f":TRIG:BLOC:WAIT 4,DIG{line},ENT",
            f'{acquire} 5,"{buffer}",1',
        ]
    elif mode == "hw_trigger_start":
        commands += [f":TRIG:BLOC:WAIT 2,DIG{line},ENT", f'{acquire} 3,"{buffer}",{n_points}']
    else:
        commands += [f'{acquire} 2,"{buffer}",{n_points}']
    return commands


def ask_buffer_points(driver: ScpiDriver, documented: int) -> int:
    """``:TRAC:POIN? MAX`` fenced with ``*OPC?``: the 24xx manuals document only
    ``:TRAC:POIN? "<buffer>"``, so an instrument may just queue an error (drained here) and an
    unanswered query must cost no timeout. ``documented`` when there is no numeric answer."""
    transport = driver.transport
    transport.write(":TRAC:POIN? MAX")
    transport.write("*OPC?")
    reply = transport.read_line().strip()
    answer = None
    if reply != "1":  # "1" alone is *OPC?'s (a buffer holds at least 10 readings)
        answer = reply
        transport.read_line()  # then *OPC?'s "1"
    errors = driver.read_errors()
    try:
        return int(float(answer)) if answer is not None else _documented(driver, documented, errors)
    except ValueError:
        return _documented(driver, documented, [*errors, f"unexpected reply {answer!r}"])


def _documented(driver: ScpiDriver, documented: int, errors: list[str]) -> int:
    log.info(
        "%s: no answer to :TRAC:POIN? MAX (%s); buffers hold up to the documented %d readings",
        driver.resource,
        "; ".join(errors) or "no error",
        documented,
    )
    return documented


def find_digitize_block(driver: ScpiDriver, headers: tuple[str, ...], buffer: str) -> str:
    """The first of ``headers`` this firmware knows: each is defined once in an empty trigger
    model until one draws no -113 (undefined header); any other error is raised."""
    refused = []
    for header in headers:
        for command in (':TRIG:LOAD "Empty"', f'{header} 1,"{buffer}",1'):
            driver.transport.write(command)
        errors = driver.read_errors()
        if not errors:
            firmware = driver.info.firmware if driver.info else "not identified"
            log.info("%s: digitize block %s (firmware %s)", driver.resource, header, firmware)
            return header
        if not all(e.strip().startswith(UNDEFINED_HEADER) for e in errors):
            raise InstrumentError(
                f"defining a digitize block with {header} failed: {'; '.join(errors)}",
                context=driver.resource,
                errors=errors,
            )
        refused.append(f"{header}: {'; '.join(errors)}")
    raise InstrumentError(
        f"the instrument knows no digitize block ({' | '.join(refused)})", context=driver.resource
    )


def wait_trigger_idle(transport: BaseTransport, timeout_s: float, line: int) -> None:
    """Poll ``:TRIG:STAT?`` until IDLE (bounded); ABORTED/FAILED end the capture."""
    deadline = time.monotonic() + timeout_s
    while True:
        reply = transport.query(":TRIG:STAT?")
        fields = [f.strip() for f in reply.split(";")]
        state = fields[0].upper()
        if state == "IDLE":
            return
        if state in ("ABORTED", "ABORTING", "FAILED", "EMPTY"):
            raise AcquisitionError(
                f"trigger model ended {state} ({reply})", context=transport.resource
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            block = fields[-1] if len(fields) > 2 else "?"
            raise InstrumentTimeoutError(
                f"trigger model still {state} at block {block} after {timeout_s:g} s "
                f"(no edge on digital line {line}?)",
                context=transport.resource,
            )
        time.sleep(min(POLL_INTERVAL_S, remaining))


def check_start_stop(plan: CapturePlan, n: int, resource: str) -> None:
    """A start/stop buffer holds the window readings plus the stop marker, and is not full."""
    if n >= plan.capacity:
        raise AcquisitionError(
            f"the window outlasted the {plan.capacity}-reading buffer "
            f"({plan.n_points / plan.sample_rate_hz:g} s at {plan.sample_rate_hz:g} S/s)",
            context=resource,
        )
    if n < 2:
        raise AcquisitionError(
            f"buffer holds {n} reading(s), a start/stop capture needs >= 2", context=resource
        )


def stop_edge_position(window: np.ndarray, marker_rel_s: float, plan: CapturePlan, resource: str):
    """The stop edge as a sample position; it must fall in the last window reading."""
    position = marker_rel_s * plan.sample_rate_hz
    m = len(window)
    if not m - 1 - 0.25 < position <= m + 0.25:
        raise AcquisitionError(
            f"stop edge at sample {position:.3f} does not fall in the last of {m} readings",
            context=resource,
        )
    return position
