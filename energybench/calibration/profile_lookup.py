"""The shipped instrument profile of a meter, for the uncertainty budget."""

from __future__ import annotations

import logging
import math

from energybench.errors import ConfigError
from energybench.instruments.capabilities import InstrumentInfo
from energybench.instruments.profiles import InstrumentProfile, load_profiles

log = logging.getLogger(__name__)


def find_profile(driver: str, identity: dict[str, str] | None = None) -> InstrumentProfile | None:
    """The shipped profile of ``driver`` (narrowed by the instrument's identity when given)."""
    try:
        profiles = [p for p in load_profiles() if p.driver == driver]
    except ConfigError as exc:
        log.warning("instrument profiles unreadable: %s", exc)
        return None
    if identity and len(profiles) > 1:
        info = InstrumentInfo(identity.get("vendor", ""), identity.get("model", ""))
        profiles = [p for p in profiles if p.matches(info)] or profiles
    return profiles[0] if profiles else None


def widest_current_range_a(profile: InstrumentProfile) -> float:
    """The largest current range the profile lists (inf when its entries cover every range)."""
    entries = profile.data.get("accuracy", {}).get("current", [])
    ranges = [float(e["range_a"]) for e in entries if "range_a" in e]
    return max(ranges) if ranges else math.inf
