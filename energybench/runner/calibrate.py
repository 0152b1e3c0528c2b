"""``energybench calibrate``: run a calibration procedure on the bench and write its record.

Every step measures in one fixed current range, said before the first step
(:func:`~energybench.runner.reference_session.reference_range`); the record is for that range.
Each step first says what the user must connect (``say``) and waits for the go-ahead
(``confirm``), then measures and says what it found. Refused with a one-line reason
(:class:`CalibrationRefused`): an expired reference certificate, an instrument that does not
answer, a fit whose residuals exceed the reference's tolerance. Outputs are off on every exit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from energybench import __version__
from energybench.calibration import fit
from energybench.calibration.procedure import (
    CalibrationRefused,
    Procedure,
    Reference,
    Step,
    load_procedure,
    parse_reference,
)
from energybench.calibration.records import CalibrationRecord, finish, record_id, write_record
from energybench.errors import SafetyLimitError
from energybench.runner.bench import Bench
from energybench.runner.calibration_use import bench_store
from energybench.runner.instruments import BenchInstruments
from energybench.runner.reference_session import (
    Stream,
    open_reference_bench,
    pulses,
    reference_range,
    toggle_pattern,
)

log = logging.getLogger(__name__)

Say = Callable[[str], None]
Confirm = Callable[[Step], None]
VOLTAGE_TOLERANCE = 0.02  # of the bench voltage: the rail has reached a step's level
GAIN_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # a gain step's default voltage fractions


@dataclass
class Findings:
    """What the steps found, for the record."""

    self_calibration: str = "not run"
    temperature_c: float | None = None
    zero: fit.ZeroResult | None = None
    gain: fit.LinearFit | None = None
    skew: fit.SkewResult | None = None
    points: list[tuple[float, float, float]] = field(default_factory=list)  # ref, meas, u
    range_a: float | None = None  # the fixed current range every step measured in


def run_calibration(
    bench: Bench,
    procedure: str | Path | None = None,
    *,
    say: Say = lambda _text: None,
    confirm: Confirm = lambda _step: None,
    now: dt.datetime | None = None,
    range_a: float | None = None,
) -> tuple[CalibrationRecord, Path]:
    """Run the procedure (bench ``[calibration] procedure``, else the reference resistor) in
    the current range ``range_a`` (``--range``; None: the bench's, else the one that holds the
    reference's currents) and write the record into the bench's store; returns the record and
    its path."""
    now = now or dt.datetime.now(dt.UTC)
    proc = load_procedure(procedure or bench.calibration.get("procedure") or "reference-resistor")
    reference = parse_reference(bench.calibration.get("reference"))
    reference.check_valid(now.date())
    say(f"procedure {proc.name}: {proc.description}")
    say(
        f"reference {reference.reference_id}: {reference.resistance_ohm:g} Ω "
        f"± {reference.uncertainty_rel * 1e6:g} ppm (k=2), tolerance "
        f"{reference.tolerance_rel * 100:g} %, certificate of {reference.certificate_date} "
        f"(valid until {reference.expires()})"
    )
    instruments = open_reference_bench(bench)
    try:
        found = _run_steps(proc, bench, instruments, reference, say, confirm, range_a)
    finally:
        instruments.close()
    record = _record(bench, instruments, proc, reference, found, now)
    path = write_record(bench_store(bench), record)
    say(f"record {record.record_id} written: {path}")
    return CalibrationRecord(record.data, path), path


def _run_steps(
    proc: Procedure,
    bench: Bench,
    instruments: BenchInstruments,
    reference: Reference,
    say: Say,
    confirm: Confirm,
    asked_range_a: float | None,
) -> Findings:
    found = Findings()
    supply = instruments.supply
    supply_cfg = bench.supply
    if supply_cfg is None:  # open_reference_bench refused it already
        raise CalibrationRefused("no [supply]", context="supply")
    volts = supply_cfg.voltage_v
    largest = largest_reference_a(proc, volts, reference)
    picked = reference_range(instruments, asked_range_a, largest)
    found.range_a = rng = picked.range_a
    say(picked.text)
    supply.set_output(False)
    supply.set_current_limit(supply_cfg.current_limit_a)
    Stream(instruments, bench, rng)  # a meter the procedure cannot use is refused before step 1
    for number, step in enumerate(proc.steps, start=1):
        say(f"step {number}/{len(proc.steps)} ({step.kind}): connect: {step.connect}")
        confirm(step)
        if step.kind == "self_calibration":
            _self_calibration(instruments.meter, found, say)
            continue
        with Stream(instruments, bench, rng) as stream:
            if step.kind == "zero":
                _zero(step, stream, supply, volts, found, say)
            elif step.kind == "gain":
                _gain(step, stream, supply, volts, reference, found, say)
            elif step.kind == "skew":
                _skew(step, stream, supply, volts, found, say)
            supply.set_output(False)
    if found.gain is None:
        raise CalibrationRefused(
            "the procedure has no gain step: nothing to record", context=proc.name
        )
    return found


def largest_reference_a(proc: Procedure, volts: float, reference: Reference) -> float:
    """The largest current the procedure drives through the reference: its largest voltage
    fraction × the bench voltage / the certificate resistance."""
    fractions = [0.0]
    for step in proc.steps:
        if step.kind == "gain":
            fractions += [float(f) for f in step.get("voltage_fractions", GAIN_FRACTIONS)]
        elif step.kind == "skew":
            fractions.append(float(step.get("voltage_fraction", 1.0)))
    return max(fractions) * volts / reference.resistance_ohm


def _self_calibration(meter: Any, found: Findings, say: Say) -> None:
    calibrate = getattr(meter, "calibrate", None)
    if callable(calibrate):
        calibrate()
        found.self_calibration = "done"
    else:
        found.self_calibration = "not available (the driver has none)"
    temperature = getattr(meter, "temperature_c", None)
    if callable(temperature):
        found.temperature_c = float(temperature())
    shown = "unknown" if found.temperature_c is None else f"{found.temperature_c:g} °C"
    say(f"  self-calibration: {found.self_calibration}; temperature {shown}")


def _zero(step: Step, stream: Stream, supply: Any, volts: float, found: Findings, say: Say):
    supply.set_output(False)
    stream.wait_voltage(0.0, VOLTAGE_TOLERANCE * volts)
    stream.take(stream.samples(float(step.get("settle_s", 0.05))))
    block = stream.take(int(step.get("samples", 20000)))
    found.zero = fit.zero(block.current_a)
    found.points.append((0.0, found.zero.offset, found.zero.offset_std))
    z = found.zero
    say(
        f"  zero: offset {z.offset * 1e6:+.3f} µA, scatter {z.scatter * 1e6:.3f} µA rms "
        f"({z.samples} samples)"
    )


def _gain(
    step: Step,
    stream: Stream,
    supply: Any,
    volts: float,
    reference: Reference,
    found: Findings,
    say: Say,
) -> None:
    for fraction in step.get("voltage_fractions", GAIN_FRACTIONS):
        target = round(float(fraction) * volts, 3)  # whole millivolts (LPM01A, Otii)
        try:
            supply.set_voltage(target)
        except SafetyLimitError as exc:  # outside the supply's range: nothing was sent
            say(f"  {target:.3f} V: skipped ({exc.message.split(';')[0]})")
            continue
        supply.set_output(True)
        stream.wait_voltage(target, VOLTAGE_TOLERANCE * volts)
        stream.take(stream.samples(float(step.get("settle_s", 0.05))))
        block = stream.take(int(step.get("samples", 20000)))
        ref_a = float(np.mean(block.voltage_v)) / reference.resistance_ohm
        mean_a = float(np.mean(block.current_a))
        u_a = float(np.std(block.current_a, ddof=1)) / np.sqrt(block.current_a.size)
        found.points.append((ref_a, mean_a, u_a))
        say(f"  {target:.3f} V: reference {ref_a * 1e3:.6f} mA, measured {mean_a * 1e3:.6f} mA")
    supply.set_voltage(volts)
    ref, meas, u = (np.array(col) for col in zip(*found.points, strict=True))
    g = fit.linear_fit(ref, meas, u, reference.standard_rel)
    found.gain = g
    worst = g.worst_relative_residual()
    say(
        f"  fit: gain {g.gain:.6f} ± {g.gain_std:.6f}, offset {g.offset * 1e6:+.3f} ± "
        f"{g.offset_std * 1e6:.3f} µA (standard uncertainties); worst residual "
        f"{worst * 100:.4f} % of the reference current"
    )
    if worst > reference.tolerance_rel:
        raise CalibrationRefused(
            f"fit residual {worst * 100:.3g} % exceeds the reference tolerance "
            f"{reference.tolerance_rel * 100:g} %: check the connections and the range",
            context="gain fit",
        )


def _skew(step: Step, stream: Stream, supply: Any, volts: float, found: Findings, say: Say):
    supply.set_voltage(round(float(step.get("voltage_fraction", 1.0)) * volts, 3))
    block = toggle_pattern(
        stream,
        supply,
        int(step.get("repeats", 200)),
        float(step.get("on_s", 0.01)),
        float(step.get("off_s", 0.01)),
    )
    supply.set_voltage(volts)
    lags = []
    for fall, rise in pulses(block):
        half = max(4, (rise - fall) // 2)
        position = fit.step_position(block.current_a, max(0, fall - half), fall + half)
        if position is not None:
            lags.append(position - (fall - 0.5))
    found.skew = fit.skew_from_steps(lags, block.sample_rate_hz)
    s = found.skew
    say(
        f"  skew: the current lags the sync line by {s.skew_s * 1e6:.2f} ± "
        f"{s.skew_std_s * 1e6:.2f} µs ({s.steps} steps)"
    )


def _record(
    bench: Bench,
    instruments: BenchInstruments,
    proc: Procedure,
    reference: Reference,
    found: Findings,
    now: dt.datetime,
) -> CalibrationRecord:
    g = found.gain
    if g is None:
        raise CalibrationRefused("no gain fit to record", context=proc.name)
    identity = instruments.meter_info
    range_a = found.range_a
    days = int(bench.calibration.get("validity_days", 365))
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    z = found.zero
    document = {
        "record_id": record_id(identity, bench.meter.channel, range_a, stamp),
        "created_utc": now.isoformat(),
        "procedure": proc.name,
        "energybench_version": __version__,
        "instrument": {**identity, "driver": bench.meter.driver},
        "channel": bench.meter.channel,
        "quantity": "current",
        "range_a": range_a,
        "temperature_c": found.temperature_c,
        "self_calibration": found.self_calibration,
        "reference": reference.to_dict(),
        "coefficients": {
            "gain": g.gain,
            "gain_std": g.gain_std,
            "offset_a": g.offset,
            "offset_std_a": g.offset_std,
        },
        "zero": None
        if z is None
        else {
            "offset_a": z.offset,
            "scatter_a": z.scatter,
            "offset_std_a": z.offset_std,
            "samples": z.samples,
        },
        "fit": {
            "points": [
                {"reference_a": x, "measured_a": y, "residual_a": r}
                for x, y, r in zip(g.reference, g.measured, g.residuals, strict=True)
            ],
            "worst_relative_residual": g.worst_relative_residual(),
            "tolerance_rel": reference.tolerance_rel,
        },
        "skew": None
        if found.skew is None
        else {
            "skew_s": found.skew.skew_s,
            "skew_std_s": found.skew.skew_std_s,
            "steps": found.skew.steps,
        },
        "validity": {"days": days, "expires_utc": (now + dt.timedelta(days=days)).isoformat()},
    }
    return finish(document)
