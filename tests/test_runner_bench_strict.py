"""Bench files are strict: a misspelling of any section or key (nested tables and meter options
included) of every example bench file and of every bench file the virtual lab generates is one
error naming it with the closest valid name; values out of range are refused; the CLI shows one
line, exit 1."""

from __future__ import annotations

import copy
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from energybench.cli.app import main
from energybench.errors import ConfigError
from energybench.runner.bench import load_bench, parse_bench
from energybench.runner.devices_yaml import devices_to_bench_table
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, available_meters, bench_toml

EXAMPLES = sorted((PROJECT_ROOT / "instruments" / "examples").glob("*.bench.toml"))


def _lab_bench_files() -> dict[str, str]:
    """The bench file `energybench lab up` prints for each simulated meter, and without one."""
    files = {}
    for meter in available_meters():
        with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
            attach_meter(lab, meter)
            files[f"lab-{meter}"] = bench_toml(lab, meter)
    with VirtualLab("fast-m33", mode="performance", workload="kws01") as lab:
        files["lab-no-meter"] = 'meter = { driver = "sim_stream", resource = "tcp://x:1" }\n' + (
            lab.bench_toml()
        )
    return files


@pytest.fixture(scope="module")
def bench_files() -> dict[str, dict]:
    files = {path.name: path.read_text() for path in EXAMPLES}
    files.update(_lab_bench_files())
    assert len(EXAMPLES) >= 8 and len(files) >= len(EXAMPLES) + 7
    return {name: tomllib.loads(text) for name, text in files.items()}


def misspell(name: str) -> str:
    """Two neighbouring letters swapped in the middle (a typo that stays recognisable)."""
    k = max(1, len(name) // 2 - 1)
    typo = name[:k] + name[k + 1] + name[k] + name[k + 2 :]
    return typo if typo != name else name + name[-1]


def key_paths(table: dict, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a parsed bench file, nested tables included (a section is a path of
    one name, ``("meter", "options", "sample_rate_hz")`` a meter option)."""
    for key, value in table.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from key_paths(value, (*prefix, key))


def _renamed(table: dict, path: tuple[str, ...], new: str) -> dict:
    out = copy.deepcopy(table)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[new] = parent.pop(path[-1])
    return out


def test_every_bench_file_loads_as_it_is(bench_files) -> None:
    for name, table in bench_files.items():
        bench = parse_bench(table, name)
        assert bench.meter.driver and bench.dut.port, name


def test_a_misspelling_of_every_section_and_key_is_one_error_with_the_suggestion(
    bench_files,
) -> None:
    checked = 0
    for name, table in bench_files.items():
        for path in key_paths(table):
            if path[0] == "rails" and len(path) == 2:
                continue  # a rail's name is the user's choice ([rails.<name>]), not a key
            typo = misspell(path[-1])
            with pytest.raises(ConfigError) as info:
                parse_bench(_renamed(table, path, typo), name)
            problems = info.value.details["problems"]
            where = f"{name} {'.'.join(path)} -> {typo}: {problems}"
            assert len(problems) == 1, where
            if len(path) == 1:
                assert problems[0].startswith(f"[{typo}]: unknown"), where
                assert f"(did you mean [{path[0]}]?)" in problems[0], where
            else:
                assert problems[0].startswith(".".join((*path[:-1], typo)) + ": "), where
                assert f"(did you mean `{path[-1]}`?)" in problems[0], where
            assert name in str(info.value)
            checked += 1
    assert checked > 200  # every key of 8 example files and 8 lab files


def test_the_issue_typos_are_refused(bench_files) -> None:
    base = bench_files["sim_stream.bench.toml"]

    def problem(edit) -> str:
        table = copy.deepcopy(base)
        edit(table)
        with pytest.raises(ConfigError) as info:
            parse_bench(table, "bench.toml")
        return "; ".join(info.value.details["problems"])

    assert "meter.chanel: unknown key (did you mean `channel`?)" in problem(
        lambda t: t["meter"].update(chanel=2)
    )
    assert "sync.polartiy: unknown key (did you mean `polarity`?)" in problem(
        lambda t: t["sync"].update(polartiy="rising")
    )
    assert "[benchh]: unknown section (did you mean [bench]?)" in problem(
        lambda t: t.update(benchh=t.pop("bench"))
    )
    assert "supply.voltage_limit_v: unknown key" in problem(
        lambda t: t["supply"].update(voltage_limit_v=3.0)
    )
    assert "[interfce]: unknown section (did you mean [interface]?)" in problem(
        lambda t: t.update(interfce={"port": "/dev/x"})
    )
    assert "[suply]: unknown section (did you mean [supply]?)" in problem(
        lambda t: t.update(suply=t.pop("supply"))
    )
    assert "meter.channel: must be >= 1, got 0" in problem(lambda t: t["meter"].update(channel=0))
    assert "sync.polarity: 'fallling' is not a polarity (did you mean `falling`?)" in problem(
        lambda t: t["sync"].update(polarity="fallling")
    )
    assert "meter.driver: no driver named 'sim_strem' (did you mean `sim_stream`?)" in problem(
        lambda t: t["meter"].update(driver="sim_strem")
    )
    assert "meter.options.sample_rate: unknown option of driver SimStreamMeter" in problem(
        lambda t: t["meter"].update(options={"sample_rate": 1000})
    )
    assert "meter.options.packed_gpi: must be bool, got 'yes'" in problem(
        lambda t: t["meter"].update(options={"packed_gpi": "yes"})
    )
    assert "meter.options.sample_rate_hz: must be a number > 0, got -5" in problem(
        lambda t: t["meter"].update(options={"sample_rate_hz": -5})
    )
    assert "meter.options.channel: not an option" in problem(
        lambda t: t["meter"].update(options={"channel": 2})
    )
    assert "dut.baud.energy: must be int, got True" in problem(
        lambda t: t["dut"]["baud"].update(energy=True)
    )
    assert "sync.min_pulse_s: must be >= 0" in problem(
        lambda t: t["sync"].update(min_pulse_s=-1e-6)
    )


def test_channel_beyond_the_instrument_and_a_driver_option_outside_options(bench_files) -> None:
    table = copy.deepcopy(bench_files["keysight_b2900.bench.toml"])
    table["meter"]["channel"] = 3
    with pytest.raises(ConfigError, match=r"meter.channel: the KeysightB2900 driver has channels"):
        parse_bench(table)
    table = copy.deepcopy(bench_files["keysight_n6705c.bench.toml"])
    table["meter"]["io_voltage_v"] = table["meter"]["options"].pop("io_voltage_v")
    with pytest.raises(ConfigError, match=r"meter.io_voltage_v: an option of driver Keysight"):
        parse_bench(table)


def test_the_supply_is_the_meter_or_its_own_instrument(bench_files) -> None:
    otii = bench_files["otii_arc.bench.toml"]
    assert parse_bench(otii).supply.instrument is None  # no driver: the meter powers the DUT
    otii = copy.deepcopy(otii)
    otii["supply"].update(driver="otii", resource=otii["meter"]["resource"])
    assert parse_bench(otii).supply.instrument is None  # the same instrument: one connection
    js = parse_bench(bench_files["joulescope.bench.toml"])
    assert js.supply.instrument.driver == "keysight_n6705c"
    table = copy.deepcopy(bench_files["lpm01a.bench.toml"])
    table["supply"]["channel"] = 2  # a channel of its own needs its own driver entry
    table["supply"].pop("driver", None)
    with pytest.raises(ConfigError, match=r"supply.driver: missing"):
        parse_bench(table)
    table = copy.deepcopy(bench_files["joulescope.bench.toml"])
    table["supply"]["options"] = {"io_voltag_v": 1.8}
    with pytest.raises(ConfigError, match=r"did you mean `io_voltage_v`"):
        parse_bench(table)


def test_devices_yaml_keys_are_checked() -> None:
    devices = [
        {"name": "lpm01a", "type": "power", "voltage": 1.8, "usb": {0x0483: 0x5740}},
        {"name": "l4r5zi", "type": "dut", "baud": 115200, "usb": {0x0483: 0x374B}},
    ]
    ports = {"lpm01a": "/dev/ttyACM1", "l4r5zi": "/dev/ttyACM2"}
    assert parse_bench(devices_to_bench_table(devices, "devices.yaml", ports)).supply
    devices[0]["voltge"] = devices[0].pop("voltage")
    devices[1]["type"] = "dutt"
    with pytest.raises(ConfigError) as info:
        devices_to_bench_table(devices, "devices.yaml", ports)
    problems = info.value.details["problems"]
    assert problems == [
        "devices[0] (lpm01a).voltge: unknown key (did you mean `voltage`?)",
        "devices[1] (l4r5zi).type: 'dutt' is not a device type (did you mean `dut`?)",
    ]


def test_cli_shows_one_line_and_exit_1(tmp_path, monkeypatch, capsys) -> None:
    text = (PROJECT_ROOT / "instruments" / "examples" / "keysight_n6705c.bench.toml").read_text()
    bench = tmp_path / "bench.toml"
    bench.write_text(text.replace("io_voltage_v = 1.8", "io_voltag_v = 1.8"))
    with pytest.raises(ConfigError):
        load_bench(bench)
    monkeypatch.setattr(
        sys, "argv", ["energybench", "run", "kws01", "--bench", str(bench), "--dataset", "x"]
    )
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {bench}: 1 problem(s): meter.options.io_voltag_v: unknown option" in err
    assert "(did you mean `io_voltage_v`?)" in err


def test_file_name_is_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('[meter]\ndriver = "sim_stream"\nresource = "x"\n[sync]\nmode = "x"\n')
    with pytest.raises(ConfigError, match=str(path)):
        load_bench(path)


def test_driver_options_come_from_the_driver_signature() -> None:
    from energybench.instruments.registry import driver_options, load_driver
    from energybench.runner.bench_schema import Problems, check_options

    n6705c = driver_options(load_driver("keysight_n6705c"))
    assert n6705c["sync_channel"] is int and n6705c["io_voltage_v"] is float
    assert n6705c["timeout_s"] is float and "channel" not in n6705c  # declared transport option

    class AnyKeyword:  # a third-party driver whose constructor takes any keyword
        def __init__(self, transport, limits=None, channel=1, **kw) -> None: ...

        @classmethod
        def open(cls, resource, limits=None, **kw): ...

    assert driver_options(AnyKeyword) is None
    p = Problems("bench.toml")
    check_options(p, {"whatever": 1, "sample_rate_hz": 0}, AnyKeyword, "meter", True)
    assert p.items == ["meter.options.sample_rate_hz: must be a number > 0, got 0"]
