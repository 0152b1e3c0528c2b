"""Capability protocols every driver implements a subset of, and the values they exchange.

A driver is a plain class that receives its transport in the constructor and implements one or
more of: :class:`PowerSupply`, :class:`TriggeredMeter` (a capture referenced to a hardware
trigger), :class:`StreamingMeter` (continuous chunks with integer sample ids). Each driver
declares the ways it can align the DUT's timestamp pin with its samples (``sync_modes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, get_args, runtime_checkable

from energybench.analysis.edges import Polarity
from energybench.analysis.trace import Trace, TraceChunk
from energybench.errors import InstrumentError

if TYPE_CHECKING:
    from energybench.instruments.shutdown import ShutdownReport
    from energybench.instruments.supply_limits import SafetyLimits

SyncMode = Literal[
    "digital_channel",  # the pin is sampled with the current (Joulescope GPI, PPK2 D0-D7)
    "analog_channel",  # the pin's voltage is digitized on a second channel (N678x VMETer)
    "hw_trigger_start",  # the pin's edge triggers the capture (start only)
    "hw_trigger_start_stop",  # both edges are captured by the trigger system
    "event_marker",  # the instrument inserts markers into its data stream (LPM01A eventsrc)
    "host_timestamp",  # fallback: host-side times only; flagged in results
]
SYNC_MODES: tuple[SyncMode, ...] = get_args(SyncMode)
PIN_POLARITIES: tuple[Polarity, ...] = ("falling", "rising")  # a timestamp pin's active edge


@dataclass(frozen=True)
class InstrumentInfo:
    """Identity of a connected instrument, from ``*IDN?`` or its equivalent."""

    vendor: str
    model: str
    serial_number: str = ""
    firmware: str = ""
    resource: str = ""

    @classmethod
    def from_idn(cls, reply: str, resource: str = "") -> InstrumentInfo:
        """Parse ``vendor,model,serial,firmware`` (fields may be missing)."""
        parts = [p.strip() for p in reply.strip().split(",")]
        if len(parts) < 2 or not parts[1]:
            raise InstrumentError(f"unrecognised identity reply {reply!r}", context=resource)
        parts += [""] * (4 - len(parts))
        return cls(parts[0], parts[1], parts[2], ",".join(parts[3:]).strip(","), resource)

    def matches(self, pattern: str) -> bool:
        """Whether ``"vendor,model"`` matches a profile's identity regex (case-insensitive)."""
        return re.search(pattern, f"{self.vendor},{self.model}", re.IGNORECASE) is not None


@runtime_checkable
class Instrument(Protocol):
    """What every driver offers."""

    def identify(self) -> InstrumentInfo: ...

    def safe_shutdown(self) -> ShutdownReport | None:
        """Abort acquisition, output off, release: idempotent, never raises. Returns what
        each step did (a driver returning None gets its output read back by the runner)."""

    def close(self) -> None: ...


@runtime_checkable
class PowerSupply(Protocol):
    """A source powering the DUT rail. Limits are checked before anything is sent."""

    def set_voltage(self, voltage_v: float) -> None: ...
    def set_current_limit(self, current_a: float) -> None: ...
    def set_output(self, enabled: bool) -> None: ...
    def output_enabled(self) -> bool: ...


@dataclass(frozen=True)
class SyncSpec:
    """How the timestamp pin reaches the instrument (the bench file's ``[sync]``): the mode,
    the driver-specific input, the pin's active edge, and the shortest pulse that counts
    (shorter ones are glitches, dropped by the analysis)."""

    mode: SyncMode
    line: str = ""  # driver-specific input name: "PIN1", "EXT", "DIO1", "gpi[0]", "d7"
    polarity: Polarity = "falling"  # a pin's edge: "falling" or "rising" (the bench checks)
    min_pulse_s: float = 0.0


@dataclass(frozen=True)
class CaptureRequest:
    """A capture of ``duration_s`` after (and ``pretrigger_s`` before) the trigger."""

    duration_s: float
    sample_interval_s: float
    pretrigger_s: float = 0.0
    current_range_a: float | None = None  # None: the widest range, never auto-ranging mid-window
    measure_voltage: bool = True
    sync: SyncSpec | None = None  # None: trigger immediately


@dataclass(frozen=True)
class CaptureSettings:
    """What the instrument actually accepted (queried back, never the request echoed)."""

    sample_interval_s: float
    n_points: int
    pretrigger_points: int
    current_range_a: float | None


@dataclass(frozen=True)
class Capture:
    """A fetched capture. Sample id 0 is the trigger instant (pre-trigger samples are negative);
    ``edge_positions`` are the timestamp edges the trigger system saw, as sample positions."""

    trace: Trace
    settings: CaptureSettings
    edge_positions: tuple[float, ...] = ()
    # further outputs digitized in the same acquisition (a MultiOutputMeter's rails), by
    # output number, on the same sample ids as ``trace``
    rails: dict[int, Trace] = field(default_factory=dict)


@runtime_checkable
class TriggeredMeter(Protocol):
    sync_modes: tuple[SyncMode, ...]

    def configure_capture(self, request: CaptureRequest) -> CaptureSettings: ...
    def arm(self) -> None: ...
    def fetch(self, timeout_s: float) -> Capture: ...
    def abort(self) -> None: ...


@runtime_checkable
class MultiOutputMeter(Protocol):
    """A triggered meter that digitizes further outputs, each sourcing one more DUT rail, in
    the same acquisition as its main output (one trigger, the same sample ids)."""

    max_channel: int

    def set_rail_channels(self, ranges_a: dict[int, float | None]) -> None:
        """Digitize these outputs (output -> current range, None: the widest) too."""
        ...

    def rail_output(self, channel: int, limits: SafetyLimits) -> PowerSupply:
        """The supply of one rail output, over the same connection, within ``limits``."""
        ...


@dataclass(frozen=True)
class StreamRequest:
    sample_rate_hz: float
    current_range_a: float | None = None
    measure_voltage: bool = True
    sync: SyncSpec | None = None


@dataclass(frozen=True)
class StreamSettings:
    sample_rate_hz: float  # as accepted
    sample_kind: Literal["point", "bin"] = "point"
    digital_names: tuple[str, ...] = ()
    voltage_v: float | None = None  # set when voltage is not streamed (a known constant)
    # a meter that reports each sample's range (TraceChunk.current_range): the full scale in A
    # of each range index (empty: the chunks carry no range)
    current_ranges_a: tuple[float, ...] = ()


@dataclass
class StreamStats:
    """Continuity bookkeeping of a stream: what arrived, what was lost, where."""

    samples_received: int = 0
    samples_dropped: int = 0
    dropped_ranges: list[tuple[int, int]] = field(default_factory=list)


@runtime_checkable
class StreamingMeter(Protocol):
    sync_modes: tuple[SyncMode, ...]

    def configure_stream(self, request: StreamRequest) -> StreamSettings: ...
    def start(self) -> None: ...
    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        """Chunks in sample-id order until :meth:`stop`; a gap in ids is a drop (never hidden)."""
        ...

    def stop(self) -> None: ...
