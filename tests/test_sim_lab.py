"""VirtualLab composition, its bench file, and `energybench lab up`."""

from __future__ import annotations

import signal
import tomllib

import pytest
import serial
from lab_support import lab_up
from sim_helpers import command

from energybench.errors import ConfigError
from energybench.sim.lab import VirtualLab


class FakeMeterSim:
    """A stand-in instrument simulator recording its lifecycle."""

    driver = "fake_meter"
    resource = "TCPIP::127.0.0.1::5025::SOCKET"
    sync_mode = "digital_channel"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


def test_fixture_lab_serves_the_dut_and_the_board(virtual_lab: VirtualLab) -> None:
    with serial.Serial(virtual_lab.dut.port, 9600, timeout=0.05) as port:
        assert command(port, "name") == b"m-name-dut-[unspecified]\r\nm-ready\r\n"
    with serial.Serial(virtual_lab.interface.port, 115200, timeout=0.05) as port:
        assert command(port, "name") == b"tinyML Enhanced Interface Board\r\nm-ready\r\n"
    assert virtual_lab.timeline.supply_state(0.0) == (1.8, True)


def test_bench_toml_without_instruments(virtual_lab: VirtualLab) -> None:
    text = virtual_lab.bench_toml()
    bench = tomllib.loads(text)
    assert "meter" not in bench
    assert bench["supply"] == {
        "voltage_v": 1.8,
        "current_limit_a": 0.039,  # 2 x the largest active + UART current: the bench needs one
        "max_voltage_v": 1.98,
        "max_current_a": 0.1,
    }
    assert bench["sync"] == {"mode": "host_timestamp", "line": "timestamp", "polarity": "falling"}
    assert bench["dut"] == {
        "port": virtual_lab.dut.port,
        "baud": {"energy": 9600, "performance": 115200, "accuracy": 115200},
    }
    assert "# the simulated DUT runs its energy build" in text  # a comment: no bench key
    assert bench["interface"] == {"port": virtual_lab.interface.port, "baud": 115200}


def test_add_instrument_lifecycle_and_bench_file() -> None:
    meter = FakeMeterSim()
    lab = VirtualLab("fast-m33", mode="performance", workload="ad01")
    lab.add_instrument("meter", meter)
    assert meter.calls == []
    with lab:
        assert meter.calls == ["start"]
        text = lab.bench_toml()
        bench = tomllib.loads(text)
        assert bench["meter"] == {"driver": "fake_meter", "resource": meter.resource}
        assert bench["sync"]["mode"] == "digital_channel"
        assert "# the simulated DUT runs its performance build" in text
        assert lab.resources()["meter"] == meter.resource
        with pytest.raises(ConfigError, match="already attached"):
            lab.add_instrument("meter", FakeMeterSim())
    assert meter.calls == ["start", "stop"]


def test_ad01_bench_uses_the_workload_baud_override() -> None:
    with VirtualLab("stm32l4r5-reference", workload="ad01") as lab:
        bench = tomllib.loads(lab.bench_toml())
    assert bench["dut"]["baud"] == {"energy": 9600, "performance": 921600, "accuracy": 921600}


def test_bad_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="mode"):
        VirtualLab(mode="turbo")


def test_lab_up_cli_prints_bench_file_and_stops_on_sigint() -> None:
    with lab_up("--profile", "fast-m33") as (proc, text):
        bench = tomllib.loads(text.split("# bench file:\n", 1)[1])
        assert bench["dut"]["baud"]["energy"] == 115200
        with serial.Serial(bench["dut"]["port"], 115200, timeout=0.05) as port:
            assert command(port, "name") == b"m-name-dut-[unspecified]\r\nm-ready\r\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopping" in err
