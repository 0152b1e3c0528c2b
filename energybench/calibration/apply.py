"""Applying a :class:`~energybench.calibration.correction.Correction` at analysis time.

The recording stays raw: a corrected trace is a view whose reader corrects each chunk as it is
read (``true = (raw - offset)/gain`` with the coefficients of the range in use), and a window's
edges (found on the sync line) move by the current channel's skew onto the current samples they
belong to (a current channel lagging by ``skew_s`` shows an instant ``skew_s`` late).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from energybench.analysis.integrate import WindowResult, integrate_windows
from energybench.analysis.trace import Trace, TraceChunk
from energybench.analysis.windows import Window
from energybench.calibration.correction import Correction


def corrected_trace(trace: Trace, correction: Correction, current_range_a: float | None) -> Trace:
    """``trace`` with the correction's current (and voltage) coefficients applied on read."""
    current = correction.for_range("current", current_range_a)
    voltage = correction.for_range("voltage", None)
    if current is None and voltage is None:
        return trace

    def reader(start_id: int, stop_id: int) -> TraceChunk:
        chunk = trace.read(start_id, stop_id)
        amps = current.apply(chunk.current_a) if current is not None else chunk.current_a
        volts = chunk.voltage_v
        if voltage is not None:
            volts = voltage.apply(np.asarray(volts))
            volts = volts if isinstance(chunk.voltage_v, np.ndarray) else float(volts)
        return TraceChunk(
            chunk.first_sample_id,
            chunk.sample_rate_hz,
            amps,
            volts,
            chunk.digital,
            chunk.current_range,
        )

    ids = ",".join(correction.record_ids) or None
    return dataclasses.replace(trace, reader=reader, calibration_id=ids)


def shifted_window(window: Window, correction: Correction, sample_rate_hz: float) -> Window:
    """The window's edges moved by the current channel's skew (in samples)."""
    shift = correction.skew_s * sample_rate_hz
    if shift == 0.0:
        return window
    return dataclasses.replace(
        window,
        start_position=window.start_position + shift,
        stop_position=window.stop_position + shift,
    )


def integrate_corrected(
    trace: Trace,
    start_position: float,
    stop_position: float,
    inferences: int,
    correction: Correction,
    current_range_a: float | None,
    *,
    allow_missing: bool = False,
) -> WindowResult:
    """∫V·I of the window between two sync-edge positions, the correction applied."""
    window = Window(0, start_position, stop_position, inferences)
    window = shifted_window(window, correction, trace.sample_rate_hz)
    limit = float(trace.stop_sample_id)  # a skew never pushes the end past the samples
    if window.stop_position > limit:
        window = dataclasses.replace(window, stop_position=limit)
    fixed = corrected_trace(trace, correction, current_range_a)
    (result,) = integrate_windows(fixed, [window], allow_missing=allow_missing)
    return result


def apply_correction(
    trace: Trace, result: WindowResult, correction: Correction, current_range_a: float | None
) -> tuple[Trace, WindowResult]:
    """A measured window re-integrated with the correction: the corrected trace view and the
    corrected result (its edges moved by the skew)."""
    fixed = integrate_corrected(
        trace,
        result.start_position,
        result.stop_position,
        result.inferences,
        correction,
        current_range_a,
        allow_missing=result.incomplete,
    )
    return corrected_trace(trace, correction, current_range_a), fixed
