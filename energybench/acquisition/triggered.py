"""Run one capture on a :class:`TriggeredMeter` and record it: configure → arm → fetch, with the
acquisition aborted on every failure path (Ctrl-C included)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from energybench.acquisition.result import AcquisitionResult, DroppedRange, peak_abs
from energybench.acquisition.sinks import ChunkSink
from energybench.analysis.trace import Trace
from energybench.errors import AcquisitionError
from energybench.instruments.capabilities import Capture, CaptureRequest, TriggeredMeter

log = logging.getLogger(__name__)

NEIGHBOUR_SAMPLES = 1 << 16


def _bounded_drop(trace: Trace, start_id: int, stop_id: int) -> DroppedRange:
    lo = max(trace.first_sample_id, start_id - NEIGHBOUR_SAMPLES)
    hi = min(trace.stop_sample_id, stop_id + NEIGHBOUR_SAMPLES)
    energy = (stop_id - start_id) / trace.sample_rate_hz * peak_abs(trace.read(lo, hi).power_w())
    return DroppedRange(start_id, stop_id, "instrument", energy)


def capture_triggered(
    meter: TriggeredMeter,
    request: CaptureRequest,
    sink: ChunkSink | None,
    *,
    timeout_s: float,
    chunk_samples: int = 1 << 20,
) -> tuple[Capture, AcquisitionResult]:
    """One triggered capture, written chunk by chunk to ``sink`` (if any), and its result.

    Samples the instrument marks missing (NaN, listed in ``trace.missing``) are reported as
    dropped ranges, bounded by the peak power of up to ``NEIGHBOUR_SAMPLES`` samples on each
    side, and flag the result.
    """
    meter.configure_capture(request)
    try:
        meter.arm()
        capture = meter.fetch(timeout_s)
    except BaseException:
        with contextlib.suppress(Exception):
            meter.abort()
        raise
    trace = capture.trace
    try:
        if sink is not None:
            for chunk in trace.chunks(chunk_samples):
                sink.append(chunk)
    except Exception as exc:
        raise AcquisitionError(f"recording the capture failed: {exc}", context="sink") from exc
    finally:
        if sink is not None:
            sink.close()
    dropped = tuple(_bounded_drop(trace, r.start_id, r.stop_id) for r in trace.missing)
    reasons = (f"{trace.missing_count} samples missing",) if dropped else ()
    path = getattr(sink, "path", None)
    result = AcquisitionResult(
        path=Path(path) if path is not None else None,
        sample_rate_hz=trace.sample_rate_hz,
        first_sample_id=trace.first_sample_id,
        stop_sample_id=trace.stop_sample_id,
        samples=trace.n_samples,
        dropped=dropped,
        edges=len(capture.edge_positions),
        reasons=reasons,
    )
    return capture, result
