"""A streaming session on a reference load, shared by ``calibrate`` and ``verify``: the bench's
meter streams while the bench's supply sets voltages and switches its output; blocks of samples
are taken in order (every wait bounded) and the on/off pulses of the reference fixture found.

Every step measures in one fixed current range (:func:`reference_range`): ``--range``, else the
bench file's, else on a meter with fixed ranges the smallest that holds the reference's largest
current × the ranging pass' margin; a calibration record is for that range.

The reference fixture holds the sync line low while the supply output is on, so each pulse is a
falling edge where the current steps up and a rising edge where it steps down.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from energybench.analysis.trace import Trace, TraceChunk
from energybench.calibration.procedure import CalibrationRefused
from energybench.errors import EnergybenchError
from energybench.instruments.capabilities import StreamRequest
from energybench.runner.bench import Bench
from energybench.runner.instruments import BenchInstruments, open_instruments
from energybench.runner.meter_setup import fixed_range_a, meter_ranges_a
from energybench.runner.ranging import MARGIN, pick_range

log = logging.getLogger(__name__)

DEFAULT_RATE_HZ = 10_000.0
CHUNK_TIMEOUT_S = 10.0
MAX_WAIT_S = 10.0  # of samples: a level that never comes is refused after this much data


@dataclass
class Block:
    """Contiguous samples taken from the stream."""

    first_sample_id: int
    sample_rate_hz: float
    current_a: np.ndarray
    voltage_v: np.ndarray
    sync: np.ndarray  # bool

    def trace(self) -> Trace:
        return Trace.from_arrays(
            self.current_a,
            self.voltage_v,
            self.sample_rate_hz,
            digital={"sync": self.sync},
            first_sample_id=self.first_sample_id,
        )


def open_reference_bench(bench: Bench) -> BenchInstruments:
    """The bench's meter and supply, or a one-line refusal (instrument not answering, no
    streaming meter, no controllable supply)."""
    try:
        instruments = open_instruments(bench)
    except EnergybenchError as exc:
        raise CalibrationRefused(
            f"the instrument does not answer: {exc}", context=bench.meter.resource
        ) from exc
    if not instruments.streaming:
        instruments.close()
        raise CalibrationRefused(
            f"{bench.meter.driver} is not a streaming meter: the procedures need one "
            "(triggered meters are not supported yet)",
            context="meter.driver",
        )
    if instruments.supply is None or bench.supply is None:
        instruments.close()
        raise CalibrationRefused(
            "the procedure steps the supply voltage: the bench needs a controllable "
            "[supply] (a driver and resource)",
            context="supply",
        )
    return instruments


@dataclass(frozen=True)
class ReferenceRange:
    """The fixed current range a reference session measures in (None: the meter lists no
    ranges to pick, it measures in its own) and the line that says why."""

    range_a: float | None
    text: str


def reference_range(
    instruments: BenchInstruments, asked_a: float | None, largest_a: float
) -> ReferenceRange:
    """``asked_a`` (``--range``; refused when the meter has no such range), else the bench
    file's numeric ``current_range_a``, else on a meter with fixed ranges the smallest holding
    ``largest_a`` (the reference's largest current) × :data:`MARGIN`. Refused when the
    reference's current does not fit the range."""
    ranges = meter_ranges_a(instruments)
    driver = instruments.bench.meter.driver
    context = "--range"
    if asked_a is not None:
        listed = ", ".join(f"{r:g}" for r in ranges)
        if not ranges:
            raise CalibrationRefused(
                f"{driver} lists no fixed current ranges: leave --range out", context=context
            )
        if not any(math.isclose(r, asked_a, rel_tol=1e-6) for r in ranges):
            raise CalibrationRefused(
                f"{asked_a:g} A is not a current range of {driver} ({listed} A)", context=context
            )
        chosen, text = asked_a, f"range {asked_a:g} A: --range"
    elif (bench_a := fixed_range_a(instruments)) is not None:
        chosen, text = bench_a, f"range {bench_a:g} A: the bench file's current_range_a"
        context = "meter.options.current_range_a"
    elif ranges:
        chosen = pick_range(ranges, largest_a)
        text = f"range {chosen:g} A: holds the reference's {largest_a * 1e3:.1f} mA × {MARGIN:g}"
    else:
        return ReferenceRange(None, f"range: the meter's own ({driver} lists no fixed ranges)")
    if largest_a > chosen:
        raise CalibrationRefused(
            f"the reference draws up to {largest_a * 1e3:.3g} mA, beyond the {chosen:g} A "
            "range: use a reference of higher resistance for that range, or a wider range",
            context=context,
        )
    return ReferenceRange(chosen, text)


class Stream:
    """The meter's stream in the session's fixed range (None: the meter's own), read block
    by block."""

    def __init__(
        self, instruments: BenchInstruments, bench: Bench, current_range_a: float | None
    ) -> None:
        self.meter = instruments.meter
        self.line = bench.sync.line
        rate = float(instruments.option("sample_rate_hz", DEFAULT_RATE_HZ))
        self.current_range_a = current_range_a
        request = StreamRequest(rate, self.current_range_a, sync=bench.sync)
        settings = self.meter.configure_stream(request)
        if settings.voltage_v is not None:
            raise CalibrationRefused(
                f"{bench.meter.driver} reports a constant voltage, not the rail's: the "
                "reference procedures need the voltage across the reference measured",
                context="meter.driver",
            )
        self.rate_hz = settings.sample_rate_hz
        self._chunks: Iterator[TraceChunk] | None = None
        self._pending: list[TraceChunk] = []

    def __enter__(self) -> Stream:
        self.meter.start()
        self._chunks = iter(self.meter.chunks(CHUNK_TIMEOUT_S))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._chunks is not None:  # a paused reader: stop() drains the stream itself
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        try:
            self.meter.stop()
        except EnergybenchError as e:
            log.warning("stopping the stream: %s", e)

    def take(self, n: int) -> Block:
        """The next ``n`` samples (a drop in between is refused: the block must be contiguous)."""
        chunks, have = [], 0
        while have < n:
            chunk = self._pending.pop(0) if self._pending else next(self._chunks)  # type: ignore[arg-type]
            if chunks and chunk.first_sample_id != chunks[-1].stop_sample_id:
                raise CalibrationRefused(
                    "the meter dropped samples during the procedure", context="meter"
                )
            if have + chunk.n_samples > n:
                cut = chunk.first_sample_id + n - have
                self._pending.insert(0, chunk.slice(cut, chunk.stop_sample_id))
                chunk = chunk.slice(chunk.first_sample_id, cut)
            chunks.append(chunk)
            have += chunk.n_samples
        line = self.line if self.line in chunks[0].digital else next(iter(chunks[0].digital), "")
        return Block(
            chunks[0].first_sample_id,
            self.rate_hz,
            np.concatenate([np.asarray(c.current_a, dtype=np.float64) for c in chunks]),
            np.concatenate([np.asarray(c.voltage_array(), dtype=np.float64) for c in chunks]),
            np.concatenate([c.digital[line] for c in chunks]) if line else np.ones(n, bool),
        )

    def samples(self, seconds: float) -> int:
        return max(1, round(seconds * self.rate_hz))

    def until_sync(self, low: bool) -> list[Block]:
        """The blocks read until the sync line is ``low`` (the fixture saw the output switch);
        refused after :data:`MAX_WAIT_S` of samples."""
        step = self.samples(0.02)
        blocks = []
        for _ in range(int(MAX_WAIT_S / 0.02)):
            blocks.append(self.take(step))
            if np.any(blocks[-1].sync == (not low)) and blocks[-1].sync[-1] == (not low):
                return blocks
        raise CalibrationRefused(
            "the sync line never followed the supply output: is the reference fixture's sync "
            "output connected to the meter's sync input?",
            context="sync.line",
        )

    def wait_voltage(self, target_v: float, tolerance_v: float) -> None:
        """Read (and discard) samples until the measured voltage is ``target_v`` ± tolerance
        over a whole block; refused after :data:`MAX_WAIT_S` of samples."""
        step = self.samples(0.01)
        for _ in range(int(MAX_WAIT_S / 0.01)):
            block = self.take(step)
            if np.all(np.abs(block.voltage_v - target_v) <= tolerance_v):
                return
        raise CalibrationRefused(
            f"the rail never reached {target_v:g} V (±{tolerance_v:g} V) within {MAX_WAIT_S:g} s: "
            "is the reference connected and the supply on?",
            context="supply",
        )


def pulses(block: Block) -> list[tuple[int, int]]:
    """(falling, rising) sample indices of the block's complete low pulses: the first low
    sample and the first high sample after it."""
    bits = block.sync.astype(np.int8)
    change = np.diff(bits)
    falls = np.flatnonzero(change < 0) + 1
    rises = np.flatnonzero(change > 0) + 1
    out = []
    for f in falls:
        after = rises[rises > f]
        if after.size:
            out.append((int(f), int(after[0])))
    return out


def toggle_pattern(stream: Stream, supply, repeats: int, on_s: float, off_s: float) -> Block:
    """Switch the supply output on and off ``repeats`` times, recording throughout."""
    blocks = [stream.take(stream.samples(off_s))]
    for _ in range(repeats):
        supply.set_output(True)
        blocks += stream.until_sync(low=True)
        blocks.append(stream.take(stream.samples(on_s)))
        supply.set_output(False)
        blocks += stream.until_sync(low=False)
        blocks.append(stream.take(stream.samples(off_s)))
    return Block(
        blocks[0].first_sample_id,
        stream.rate_hz,
        np.concatenate([b.current_a for b in blocks]),
        np.concatenate([b.voltage_v for b in blocks]),
        np.concatenate([b.sync for b in blocks]),
    )
