"""Every shipped instrument profile loads, and its accuracy feeds the uncertainty budget."""

from __future__ import annotations

import pytest

from energybench.errors import ConfigError
from energybench.instruments.profiles import load_profile, load_profiles
from energybench.instruments.registry import list_drivers


def test_every_shipped_profile_loads_and_names_a_registered_driver() -> None:
    profiles = load_profiles()
    drivers = {d.name for d in list_drivers()}
    assert len(profiles) >= 5
    for profile in profiles:
        assert profile.driver in drivers, f"{profile.path}: driver {profile.driver!r}"


def test_accuracy_picks_the_smallest_range_that_holds_the_reading() -> None:
    b2900 = next(p for p in load_profiles() if p.name == "keysight_b2900")
    spec = b2900.accuracy("current", 5e-3)
    assert spec.range_max == pytest.approx(0.01)
    assert spec.limit(5e-3) == pytest.approx(0.0002 * 5e-3 + 2.5e-6)
    assert b2900.accuracy("current", 50.0) is None
    assert b2900.timebase_ppm() == (50.0, True)


def test_malformed_accuracy_names_the_field(tmp_path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[instrument]\nname="x"\ndriver="x"\nidentity="x"\nkind="meter"\n'
        'sync_modes=["digital_channel"]\nmax_sample_rate_hz=1.0\n'
        "[[accuracy.current]]\ngain=0.01\nverified=true\n"
    )
    with pytest.raises(ConfigError, match=r"accuracy\.current\[0\]\.offset_a"):
        load_profile(path)
