"""The trace data model: sampled current, voltage and digital lines with integer sample ids.

A :class:`Trace` describes a recording of any length; its samples are read chunk by chunk
(:meth:`Trace.chunks`), so analysis memory stays O(chunk) whether the samples live in memory,
in a JLS file on disk or are generated on demand. A :class:`TraceChunk` is one contiguous,
read-only block of samples.

Conventions
- Sample ids are integers. The time of sample ``k`` is ``(k - first_sample_id) / sample_rate_hz``
  seconds after ``t0_utc_ns``.
- ``sample_kind`` says what a sample value means: ``"point"`` samples are instantaneous values at
  their sample time (digitizers, Joulescope); ``"bin"`` samples are averages over
  ``[t_k, t_k + 1/fs)`` (energy-per-bin monitors such as the LPM01A energy output, and the
  MLPerf Tiny runners' 1 ms energy bins). Integration honours the difference.
- Samples the instrument or host dropped are NaN in ``current_a`` and listed in ``missing`` as
  half-open sample-id ranges; they are never interpolated over.
- A meter that switches current ranges by itself (the PPK2 does, every sample) reports the range
  of each sample in ``current_range``: the index into the meter's own range table (its stream
  settings give the full scale of each index), so a range switch inside a window stays visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from energybench.errors import AnalysisError

SampleKind = Literal["point", "bin"]
DEFAULT_CHUNK_SAMPLES = 1 << 20
UNKNOWN_RANGE = 255  # current_range of a sample whose range is not known (it never arrived)


@dataclass(frozen=True)
class SampleRange:
    """A half-open range of sample ids ``[start_id, stop_id)``."""

    start_id: int
    stop_id: int

    def __post_init__(self) -> None:
        if self.stop_id < self.start_id:
            raise AnalysisError(
                f"sample range stops ({self.stop_id}) before it starts ({self.start_id})"
            )

    @property
    def count(self) -> int:
        return self.stop_id - self.start_id

    def overlaps(self, start_id: float, stop_id: float) -> bool:
        return self.start_id < stop_id and start_id < self.stop_id


@dataclass(frozen=True)
class SourceInfo:
    """Where a trace came from: instrument identity and how it was recorded."""

    instrument: str = ""
    serial_number: str = ""
    resource: str = ""
    description: str = ""


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class TraceChunk:
    """One contiguous block of samples; arrays are read-only views.

    ``voltage_v`` is an array of the same length or one constant (a supply whose voltage was
    not measured). ``digital`` maps line names to boolean arrays of the same length.
    ``current_range`` (None: the meter does not report it) holds the meter's range index of
    every sample (uint8).
    """

    first_sample_id: int
    sample_rate_hz: float
    current_a: np.ndarray
    voltage_v: np.ndarray | float
    digital: Mapping[str, np.ndarray] = field(default_factory=dict)
    current_range: np.ndarray | None = None

    def __post_init__(self) -> None:
        current = np.asarray(self.current_a)
        if current.ndim != 1:
            raise AnalysisError(f"current_a must be one-dimensional, got shape {current.shape}")
        if current.dtype not in (np.float32, np.float64):
            current = current.astype(np.float64)
        object.__setattr__(self, "current_a", _readonly(current))
        n = current.shape[0]
        if isinstance(self.voltage_v, np.ndarray):
            voltage = self.voltage_v
            if voltage.shape != (n,):
                raise AnalysisError(f"voltage_v has {voltage.shape} samples, current_a has {n}")
            if voltage.dtype not in (np.float32, np.float64):
                voltage = voltage.astype(np.float64)
            object.__setattr__(self, "voltage_v", _readonly(voltage))
        else:
            object.__setattr__(self, "voltage_v", float(self.voltage_v))
        digital = {}
        for name, bits in self.digital.items():
            bits = np.asarray(bits)
            if bits.shape != (n,):
                raise AnalysisError(f"digital line {name!r} has {bits.shape} samples, expected {n}")
            digital[name] = _readonly(bits.astype(bool, copy=False))
        object.__setattr__(self, "digital", digital)
        if self.current_range is not None:
            ranges = np.asarray(self.current_range)
            if ranges.shape != (n,):
                raise AnalysisError(f"current_range has {ranges.shape} samples, expected {n}")
            ranges = ranges.astype(np.uint8, copy=False)
            object.__setattr__(self, "current_range", _readonly(ranges))
        if not self.sample_rate_hz > 0:
            raise AnalysisError(f"sample_rate_hz must be > 0, got {self.sample_rate_hz}")

    @property
    def n_samples(self) -> int:
        return int(self.current_a.shape[0])

    @property
    def stop_sample_id(self) -> int:
        return self.first_sample_id + self.n_samples

    def voltage_array(self) -> np.ndarray:
        """Voltage as an array (a constant is broadcast without copying)."""
        if isinstance(self.voltage_v, np.ndarray):
            return self.voltage_v
        return np.broadcast_to(np.float64(self.voltage_v), self.current_a.shape)

    def power_w(self) -> np.ndarray:
        """Instantaneous power v·i in float64."""
        return np.multiply(self.current_a, self.voltage_v, dtype=np.float64)

    def slice(self, start_id: int, stop_id: int) -> TraceChunk:
        """The samples ``[start_id, stop_id)`` of this chunk (views, no copy)."""
        if not (self.first_sample_id <= start_id <= stop_id <= self.stop_sample_id):
            raise AnalysisError(
                f"slice [{start_id}, {stop_id}) is outside chunk "
                f"[{self.first_sample_id}, {self.stop_sample_id})"
            )
        a, b = start_id - self.first_sample_id, stop_id - self.first_sample_id
        voltage = self.voltage_v[a:b] if isinstance(self.voltage_v, np.ndarray) else self.voltage_v
        return TraceChunk(
            first_sample_id=start_id,
            sample_rate_hz=self.sample_rate_hz,
            current_a=self.current_a[a:b],
            voltage_v=voltage,
            digital={name: bits[a:b] for name, bits in self.digital.items()},
            current_range=None if self.current_range is None else self.current_range[a:b],
        )


ChunkReader = Callable[[int, int], TraceChunk]
"""Reads the samples ``[start_id, stop_id)`` of a trace as one chunk."""


@dataclass(frozen=True, eq=False)
class Trace:
    """A recording of any length, read chunk by chunk through ``reader``.

    Use :meth:`from_arrays` for samples in memory; file readers (JLS, CSV) and synthetic
    generators construct a Trace with their own ``reader``.
    """

    sample_rate_hz: float
    first_sample_id: int
    n_samples: int
    reader: ChunkReader = field(repr=False)
    digital_names: tuple[str, ...] = ()
    sample_kind: SampleKind = "point"
    t0_utc_ns: int = 0
    source: SourceInfo = field(default_factory=SourceInfo)
    missing: tuple[SampleRange, ...] = ()
    calibration_id: str | None = None
    # what the recording says about itself (energybench files: the run's plan, a capture's
    # trigger edges, whether the writer finished); empty for other files
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.sample_rate_hz > 0:
            raise AnalysisError(f"sample_rate_hz must be > 0, got {self.sample_rate_hz}")
        if self.n_samples < 0:
            raise AnalysisError(f"n_samples must be >= 0, got {self.n_samples}")
        if self.sample_kind not in ("point", "bin"):
            raise AnalysisError(f"sample_kind must be 'point' or 'bin', got {self.sample_kind!r}")
        object.__setattr__(self, "first_sample_id", int(self.first_sample_id))
        object.__setattr__(self, "missing", tuple(sorted(self.missing, key=lambda r: r.start_id)))

    @classmethod
    def from_arrays(
        cls,
        current_a: np.ndarray,
        voltage_v: np.ndarray | float,
        sample_rate_hz: float,
        *,
        digital: Mapping[str, np.ndarray] | None = None,
        first_sample_id: int = 0,
        sample_kind: SampleKind = "point",
        t0_utc_ns: int = 0,
        source: SourceInfo | None = None,
        missing: tuple[SampleRange, ...] | None = None,
        calibration_id: str | None = None,
        current_range: np.ndarray | None = None,
    ) -> Trace:
        """A trace over arrays in memory. ``missing`` defaults to the NaN runs of current."""
        whole = TraceChunk(
            first_sample_id, sample_rate_hz, current_a, voltage_v, digital or {}, current_range
        )
        if missing is None:
            missing = nan_ranges(whole.current_a, first_sample_id)
        return cls(
            sample_rate_hz=sample_rate_hz,
            first_sample_id=first_sample_id,
            n_samples=whole.n_samples,
            reader=whole.slice,
            digital_names=tuple(whole.digital),
            sample_kind=sample_kind,
            t0_utc_ns=t0_utc_ns,
            source=source or SourceInfo(),
            missing=missing,
            calibration_id=calibration_id,
        )

    @property
    def stop_sample_id(self) -> int:
        return self.first_sample_id + self.n_samples

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate_hz

    def time_s(self, sample_position: float) -> float:
        """Seconds after the first sample of a (possibly fractional) sample position."""
        return (sample_position - self.first_sample_id) / self.sample_rate_hz

    def sample_position(self, time_s: float) -> float:
        """The (fractional) sample position of a time in seconds after the first sample."""
        return self.first_sample_id + time_s * self.sample_rate_hz

    def utc_ns(self, sample_position: float) -> int:
        return self.t0_utc_ns + round(self.time_s(sample_position) * 1e9)

    def read(self, start_id: int, stop_id: int) -> TraceChunk:
        """The samples ``[start_id, stop_id)`` as one chunk (keep it small on long traces)."""
        if not (self.first_sample_id <= start_id <= stop_id <= self.stop_sample_id):
            raise AnalysisError(
                f"read [{start_id}, {stop_id}) is outside trace "
                f"[{self.first_sample_id}, {self.stop_sample_id})"
            )
        chunk = self.reader(start_id, stop_id)
        if chunk.first_sample_id != start_id or chunk.n_samples != stop_id - start_id:
            raise AnalysisError(
                f"trace reader returned [{chunk.first_sample_id}, {chunk.stop_sample_id}) "
                f"for a request of [{start_id}, {stop_id})"
            )
        return chunk

    def chunks(
        self,
        chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
        start_id: int | None = None,
        stop_id: int | None = None,
    ) -> Iterator[TraceChunk]:
        """Consecutive chunks of at most ``chunk_samples`` covering ``[start_id, stop_id)``."""
        if chunk_samples <= 0:
            raise AnalysisError(f"chunk_samples must be > 0, got {chunk_samples}")
        start = self.first_sample_id if start_id is None else max(start_id, self.first_sample_id)
        stop = self.stop_sample_id if stop_id is None else min(stop_id, self.stop_sample_id)
        for a in range(start, stop, chunk_samples):
            yield self.read(a, min(a + chunk_samples, stop))

    def missing_in(self, start_position: float, stop_position: float) -> tuple[SampleRange, ...]:
        """The missing-sample ranges that touch the interval of sample positions given."""
        return tuple(r for r in self.missing if r.overlaps(start_position, stop_position))

    @property
    def missing_count(self) -> int:
        return sum(r.count for r in self.missing)


def nan_ranges(values: np.ndarray, first_sample_id: int = 0) -> tuple[SampleRange, ...]:
    """The runs of NaN in ``values`` as sample-id ranges."""
    return true_ranges(np.isnan(values), first_sample_id)


def true_ranges(mask: np.ndarray, first_sample_id: int = 0) -> tuple[SampleRange, ...]:
    """The runs of True in a boolean ``mask`` as sample-id ranges."""
    if not mask.any():
        return ()
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    steps = np.flatnonzero(np.diff(padded))
    return tuple(
        SampleRange(first_sample_id + int(a), first_sample_id + int(b))
        for a, b in zip(steps[::2], steps[1::2], strict=True)
    )
