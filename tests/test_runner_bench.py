"""Bench files: valid ones load, every problem of a bad one is named, devices.yaml maps over."""

from __future__ import annotations

import pytest

from energybench.errors import ConfigError
from energybench.runner.bench import load_bench, parse_bench
from energybench.runner.devices_yaml import devices_to_bench_table

GOOD = """
[bench]
name = "lab"
[meter]
driver = "keysight_n6705c"
resource = "TCPIP::127.0.0.1::5025::SOCKET"
[supply]
voltage_v = 1.8
current_limit_a = 0.05
max_voltage_v = 3.6
max_current_a = 0.2
[sync]
mode = "hardware_trigger"
line = "PIN1"
[dut]
port = "/dev/pts/5"
baud = { energy = 9600, performance = 115200, accuracy = 115200 }
[interface]
port = "/dev/pts/6"
"""


def test_good_bench_loads(tmp_path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(GOOD)
    bench = load_bench(path)
    assert bench.meter.driver == "keysight_n6705c" and bench.meter.channel == 1
    assert bench.sync.mode == "hw_trigger_start"
    assert bench.dut.baud_for("energy") == 9600
    assert bench.interface is not None and bench.interface.baud_for("energy") == 115200
    assert bench.source == path


def test_every_problem_is_named(tmp_path) -> None:
    bad = (
        GOOD.replace("voltage_v = 1.8", "voltage_v = 5.0")
        .replace('mode = "hardware_trigger"', 'mode = "telepathy"')
        .replace("energy = 9600, ", "")
    )
    path = tmp_path / "bench.toml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    problems = info.value.details["problems"]
    assert any(p.startswith("supply.voltage_v") for p in problems)
    assert any(p.startswith("sync.mode") for p in problems)
    assert any(p == "dut.baud.energy: missing" for p in problems)
    assert str(path) in str(info.value)


def test_missing_sections_and_bad_toml(tmp_path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[bench]\nname='x'\n")
    with pytest.raises(ConfigError, match=r"\[meter\]: missing section"):
        load_bench(path)
    path.write_text("[bench\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_bench(path)


def test_devices_yaml_maps_to_a_bench() -> None:
    devices = [
        {"name": "stm32h573i-dk", "type": "interface", "baud": 115200, "usb": {0x0483: 0x374E}},
        {
            "name": "lpm01a",
            "type": "power",
            "baud": 3686400,
            "voltage": 1.8,
            "usb": {0x0483: 0x5740},
        },
        {
            "name": "l4r5zi",
            "type": "dut",
            "baud": {"energy": 9600, "performance": 115200, "accuracy": 115200},
            "usb": {0x0483: 0x374B},
        },
    ]
    ports = {"stm32h573i-dk": "/dev/ttyACM0", "lpm01a": "/dev/ttyACM1", "l4r5zi": "/dev/ttyACM2"}
    bench = parse_bench(devices_to_bench_table(devices, "devices.yaml", ports))
    assert bench.meter.driver == "lpm01a" and bench.meter.resource == "/dev/ttyACM1"
    assert bench.sync.mode == "event_marker" and bench.supply.voltage_v == 1.8
    assert bench.dut.baud_for("energy") == 9600 and bench.interface.port == "/dev/ttyACM0"
    with pytest.raises(ConfigError, match="no serial port with USB id 0483:5740"):
        devices_to_bench_table(devices, "devices.yaml", {})
