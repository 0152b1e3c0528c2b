"""The streaming instruments' profiles agree with their drivers."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from energybench.instruments.joulescope import Joulescope
from energybench.instruments.sim_stream import SimStreamMeter
from energybench.instruments.stream_framing import SUPPORTED_RATES_HZ

INSTRUMENTS = Path(__file__).resolve().parent.parent / "instruments"


@pytest.mark.parametrize(
    ("profile", "cls"), [("sim_stream.toml", SimStreamMeter), ("joulescope_js220.toml", Joulescope)]
)
def test_profile_matches_driver(profile: str, cls: type) -> None:
    data = tomllib.loads((INSTRUMENTS / profile).read_text())
    inst = data["instrument"]
    assert tuple(inst["sync_modes"]) == cls.sync_modes and inst["kind"] == cls.kind
    assert inst["max_sample_rate_hz"] == max(inst["sample_rates_hz"])
    bench = tomllib.loads((INSTRUMENTS / "examples" / f"{inst['driver']}.bench.toml").read_text())
    assert bench["meter"]["driver"] == inst["driver"]
    assert (
        bench["sync"]["mode"] in inst["sync_modes"] and bench["sync"]["line"] in inst["sync_lines"]
    )


def test_sim_profile_rates_are_the_simulators() -> None:
    data = tomllib.loads((INSTRUMENTS / "sim_stream.toml").read_text())
    assert tuple(data["instrument"]["sample_rates_hz"]) == SUPPORTED_RATES_HZ


def test_joulescope_profile_ranges_are_the_js220_drivers() -> None:
    """The JS220 has no 2 A range and no 5 V range (both are the JS110's): the profile lists
    what the driver accepts on a JS220, and the JS110 keeps its 2 A range."""
    data = tomllib.loads((INSTRUMENTS / "joulescope_js220.toml").read_text())
    js220 = Joulescope(_Model("js220"))
    ranges = tuple(sorted(r["max_current_a"] for r in data["ranges"]))
    assert ranges == js220.current_ranges_a and 2.0 not in ranges
    assert [r["name"] for r in data["ranges"]] == [js220.current_ranges[a] for a in ranges[::-1]]
    assert data["instrument"]["voltage_ranges_v"] == [15.0, 2.0]
    assert 2.0 in Joulescope(_Model("js110")).current_ranges_a


class _Model:
    def __init__(self, model: str) -> None:
        self.model = model
