"""The driver catalogue and every list derived from it agree: the entry points, the profiles,
the example bench files, the lab's simulators (or a stated reason for none), the contract-test
cases, ``energybench instruments list``, the lab's ``--meter`` names and the README's table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import test_driver_contract
from typer.testing import CliRunner

from energybench.cli.app import app
from energybench.errors import ConfigError
from energybench.instruments import catalogue
from energybench.instruments.registry import GROUP, load_driver
from energybench.runner.bench import parse_bench
from energybench.sim.meters import SIM_METERS, SIMULATORS, available_meters, sim_meter

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAMES = catalogue.names()


def test_every_entry_point_of_ours_is_catalogued_once_and_nothing_else() -> None:
    ours = [ep.name for ep in entry_points(group=GROUP) if ep.value.startswith("energybench.")]
    assert sorted(ours) == sorted(NAMES)
    assert len(set(NAMES)) == len(NAMES)


def test_aliases_resolve_in_one_place_and_never_shadow_a_name() -> None:
    aliases = [a for e in catalogue.CATALOGUE for a in e.aliases]
    assert len(set(aliases)) == len(aliases) and not set(aliases) & set(NAMES)
    assert catalogue.resolve("n6705c") == "keysight_n6705c"
    assert catalogue.resolve("stream") == "sim_stream"
    assert catalogue.resolve("keithley_2461") == "keithley_2461"
    with pytest.raises(ConfigError, match=r"no driver 'n6705' in the catalogue.*n6705c"):
        catalogue.resolve("n6705")


@pytest.mark.parametrize("entry", catalogue.CATALOGUE, ids=lambda e: e.name)
def test_entry_has_a_profile_naming_its_driver(entry) -> None:
    assert entry.profile_path.is_file()
    profile = catalogue.profile(entry.name)
    assert profile.driver == entry.name
    assert set(entry.capabilities) <= set(catalogue.CAPABILITIES) and entry.capabilities
    assert entry.title


@pytest.mark.parametrize("entry", catalogue.CATALOGUE, ids=lambda e: e.name)
def test_entry_has_an_example_bench_that_parses_and_uses_it(entry) -> None:
    with entry.example_path.open("rb") as handle:
        bench = parse_bench(tomllib.load(handle), entry.example)
    supply = bench.supply.instrument if bench.supply else None
    assert entry.name in (bench.meter.driver, supply and supply.driver)
    if bench.meter.driver == entry.name:
        assert bench.sync.mode in load_driver(entry.name).sync_modes
    if entry.sources_power and bench.meter.driver == entry.name:
        assert bench.supply is not None and supply is None  # the meter powers the DUT itself
        check = catalogue.supply_check(entry.name, None)  # the example is within the rating
        check.voltage(bench.supply.max_voltage_v)
        check.current_limit(bench.supply.max_current_a)


def test_every_entry_has_a_simulator_or_a_reason_and_the_lab_maps_nothing_else() -> None:
    simulated = {e.name for e in catalogue.CATALOGUE if e.simulated}
    assert set(SIMULATORS) == simulated
    for entry in catalogue.CATALOGUE:
        if not entry.simulated:
            assert len(entry.no_simulator) > 20, entry.name
            with pytest.raises(ConfigError, match="no simulator"):
                sim_meter(entry.name)
    assert list(SIM_METERS) == [n for n in NAMES if n in simulated]  # catalogue order
    assert list(available_meters()) == list(SIM_METERS)  # every simulator ships here


def test_every_entry_has_contract_test_cases() -> None:
    assert [e.name for e in test_driver_contract.CLASS_CASES] == NAMES
    wire = [e.name for e in test_driver_contract.WIRE_CASES]
    assert wire == [e.name for e in catalogue.CATALOGUE if e.simulated]


def test_the_simulators_name_their_driver_and_aliases_reach_them() -> None:
    from energybench.sim.physics.timeline import Timeline

    for name, meter in SIMULATORS.items():
        sim = meter.build(Timeline())
        try:
            assert sim.driver == name
        finally:
            sim.stop()
    for entry in catalogue.CATALOGUE:
        for alias in entry.aliases:
            assert sim_meter(alias) is SIM_METERS[entry.name]


def test_instruments_list_is_the_catalogue() -> None:
    result = CliRunner().invoke(app, ["instruments", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == NAMES
    for entry in catalogue.CATALOGUE:
        row = rows[entry.name]
        assert row["capabilities"] == list(entry.capabilities)
        assert row["profile"] == entry.profile and row["example"] == entry.example
        assert row["aliases"] == list(entry.aliases)
        assert row["lab"] == entry.simulated
        assert row["no_simulator"] == entry.no_simulator
        assert row["catalogued"] is True
    table = CliRunner().invoke(app, ["instruments", "list"])
    assert table.exit_code == 0
    for name in NAMES:
        assert name in table.output


def test_the_readme_table_has_a_row_per_driver() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    table = readme[readme.index("| instrument | driver |") :].split("\n\n")[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    named = {m for row in rows for m in re.findall(r"`([a-z0-9_]+)`", row.split("|")[2])}
    assert named == set(NAMES)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["lab", "up", "--meter", "n6705"], "no simulated meter 'n6705' (the lab has: sim_stream"),
        (["demo", "--meter", "joulescope"], "the virtual lab has no simulator for joulescope"),
    ],
)
def test_an_unknown_lab_meter_is_one_usage_error_line(command, message) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "energybench", *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --meter: ") and message in line
