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
