"""What the virtual lab and the interface board need of a DUT (SimDut or FirmwareDut)."""

from __future__ import annotations

from typing import Protocol

from energybench.sim.dut.sim_dut import InferWindow, Sink

DUT_KINDS = ("sim", "firmware")


class LabDut(Protocol):
    """A DUT on the lab's timeline: a pty for the host, a byte feed for the interface board."""

    mode: str
    workload: str
    energy_build: bool  # timestamps on the pin (True) or as m-lap-us lines
    baud: int  # its UART rate (the interface board must match it)
    label: str  # one line saying what runs (model or binary)

    @property
    def port(self) -> str: ...  # the pty path a host opens

    @property
    def windows(self) -> list[InferWindow]: ...  # ground truth of each infer

    def start(self) -> object: ...

    def stop(self) -> None: ...

    def feed(self, data: bytes, sink: Sink | None = None) -> None: ...  # UART RX; replies to sink

    def pass_time(self, duration_s: float) -> None: ...  # another device's activity

    def power_on(self) -> None: ...  # the supply switched on: reboot

    def flash(self, mode: str) -> None: ...  # program the other build (energy/performance)
