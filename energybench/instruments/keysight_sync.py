"""How a :class:`SyncSpec` maps onto the N6705's trigger system (digital-port pin or trigger
BNC) and its VMETer sync channel; validated before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass

from energybench.errors import ConfigError
from energybench.instruments.capabilities import SyncSpec


@dataclass(frozen=True)
class SyncPlan:
    """How a SyncSpec maps onto the mainframe's trigger system and the VMETer channel."""

    source: str  # TRIG:ACQ:SOUR / TRIG:ELOG:SOUR value: PIN<n>, EXT or BUS
    analog: bool  # digitize the timestamp pin on the sync channel
    polarity: str
    bus_trigger: bool  # trigger by command right after arming (no line trigger)

    @property
    def pin(self) -> int | None:
        return int(self.source[3:]) if self.source.startswith("PIN") else None


def plan_sync(sync: SyncSpec | None, sync_modes: tuple[str, ...]) -> SyncPlan:
    """Validate a SyncSpec (before anything is sent) and map it to trigger settings."""
    if sync is None:
        return SyncPlan("BUS", False, "falling", True)
    if sync.mode not in sync_modes:
        raise ConfigError(
            f"sync mode {sync.mode!r} is not supported by the N6705 "
            f"(supported: {', '.join(sync_modes)})",
            context="sync.mode",
        )
    if sync.polarity not in ("falling", "rising"):
        raise ConfigError(
            f"polarity must be falling|rising, got {sync.polarity!r}", context="sync.polarity"
        )
    line = sync.line.strip().upper()
    analog = sync.mode == "analog_channel"
    if line in ("", "BUS", "IMM") and analog:
        return SyncPlan("BUS", True, sync.polarity, True)
    if line.startswith("PIN") and line[3:].isdigit() and 1 <= int(line[3:]) <= 7:
        return SyncPlan(f"PIN{int(line[3:])}", analog, sync.polarity, False)
    if line == "EXT":
        if sync.polarity != "falling":
            raise ConfigError(
                "the trigger BNC is low-true: use polarity 'falling'", context="sync.polarity"
            )
        return SyncPlan("EXT", analog, "falling", False)
    raise ConfigError(
        f"sync line must be PIN1..PIN7 or EXT, got {sync.line!r}", context="sync.line"
    )
