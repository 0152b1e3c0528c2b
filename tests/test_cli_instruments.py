"""`energybench instruments list|identify` and the instrument profile loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energybench.cli.app import app
from energybench.errors import ConfigError
from energybench.instruments.capabilities import InstrumentInfo
from energybench.instruments.profiles import load_profile, load_profiles, match_profiles
from energybench.sim.instruments.keysight.keysight_n6705c import SimKeysightN6705C
from energybench.sim.physics.timeline import Timeline

PROJECT_ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_list_shows_the_registered_drivers() -> None:
    result = runner.invoke(app, ["instruments", "list"])
    assert result.exit_code == 0, result.output
    assert "keysight_n6705c" in result.output and "supply+meter" in result.output
    rows = json.loads(runner.invoke(app, ["instruments", "list", "--json"]).output)
    row = next(r for r in rows if r["name"] == "keysight_n6705c")
    assert row["available"] is True
    assert row["sync_modes"] == ["hw_trigger_start", "analog_channel"]


def test_identify_names_the_matching_profile() -> None:
    with SimKeysightN6705C(Timeline()) as sim:
        result = runner.invoke(app, ["instruments", "identify", sim.resource])
        assert result.exit_code == 0, result.output
        assert "Keysight Technologies N6705C" in result.output
        assert "profile: keysight_n6705c" in result.output
        data = json.loads(
            runner.invoke(app, ["instruments", "identify", sim.resource, "--json"]).output
        )
    assert data["serial_number"] == "MY56000001"
    assert [p["driver"] for p in data["profiles"]] == ["keysight_n6705c"]


def test_identify_unreachable_is_one_error_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "energybench", "instruments", "identify", "tcp://127.0.0.1:9",
         "--timeout-s", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: tcp://127.0.0.1:9")
    assert len(result.stderr.strip().splitlines()) == 1


def test_shipped_profile_matches_both_generations() -> None:
    profiles = load_profiles()
    n6705 = next(p for p in profiles if p.name == "keysight_n6705c")
    assert n6705.max_sample_rate_hz == pytest.approx(1 / 5.12e-6)
    for idn in ("Agilent Technologies,N6705B,MY50001897,D.01.08",
                "Keysight Technologies,N6705C,MY56000001,D.03.01"):  # fmt: skip
        assert n6705 in match_profiles(InstrumentInfo.from_idn(idn), profiles)
    assert not match_profiles(InstrumentInfo.from_idn("Keysight Technologies,N6700C,X,1"), profiles)
    assert all(a["verified"] is False for a in n6705.data["accuracy"]["current"])


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[instrument]\nname = 'x'\n", "instrument.driver"),
        ("[instrument]\nname='x'\ndriver='d'\nidentity='('\n", "instrument.identity"),
        (
            "[instrument]\nname='x'\ndriver='d'\nidentity='x'\nkind='meter'\n"
            "sync_modes=['telepathy']\nmax_sample_rate_hz=1.0\n",
            "instrument.sync_modes",
        ),
        (
            "[instrument]\nname='x'\ndriver='d'\nidentity='x'\nkind='meter'\nsync_modes=[]\n"
            "max_sample_rate_hz=1.0\n[[accuracy]]\nverified='yes'\n",
            "accuracy[0].verified",
        ),
        ("[instrument\n", "invalid TOML"),
    ],
)
def test_bad_profiles_name_the_file_and_field(tmp_path, text, field) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.toml") as info:
        load_profile(path)
    assert field in str(info.value)


def test_list_shows_the_install_hint_of_an_unavailable_driver() -> None:
    """The extra in brackets survives rich markup (it used to be eaten as a style tag)."""
    import importlib.util

    result = CliRunner().invoke(app, ["instruments", "list"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "joulescope" in line)
    if importlib.util.find_spec("joulescope") is None:
        assert "no (pip install 'energybench[joulescope]')" in row
    else:
        assert "yes" in row
