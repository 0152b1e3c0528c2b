"""Outputs go off on every exit path: an exception, SIGINT and SIGTERM in a subprocess that
holds the driver (the simulated N6705C runs here and shows the output state on its timeline)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from lab_support import read_line

from energybench.instruments.guard import OutputGuard
from energybench.instruments.keysight_n6705c import KeysightN6705C
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keysight.keysight_n6705c import SimKeysightN6705C
from energybench.sim.physics.timeline import Timeline

LIMITS = SafetyLimits(max_voltage_v=3.3, max_current_a=0.1)

CHILD = textwrap.dedent(
    """
    import sys, time
    from energybench.instruments.guard import OutputGuard
    from energybench.instruments.keysight_n6705c import KeysightN6705C
    from energybench.instruments.scpi import SafetyLimits

    psu = KeysightN6705C.open(sys.argv[1], SafetyLimits(3.3, 0.1))
    with OutputGuard(psu):
        psu.set_voltage(1.8)
        psu.set_current_limit(0.05)
        psu.set_output(True)
        print("output on", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture
def supply_sim():
    timeline = Timeline(supply_voltage_v=0.0, output_on=False)
    sim = SimKeysightN6705C(timeline)
    sim.start()
    try:
        yield timeline, sim
    finally:
        sim.stop()


def _output_on(timeline: Timeline) -> bool:
    return timeline.supply_state(timeline.now_s)[1]


def test_output_off_after_an_exception(supply_sim) -> None:
    timeline, sim = supply_sim
    psu = KeysightN6705C.open(sim.resource, LIMITS)
    with pytest.raises(RuntimeError, match="boom"), OutputGuard(psu):
        psu.set_voltage(1.8)
        psu.set_current_limit(0.05)
        psu.set_output(True)
        assert _output_on(timeline)
        raise RuntimeError("boom")
    assert not _output_on(timeline)
    psu.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_output_off_after_a_signal_in_a_subprocess(supply_sim, signum) -> None:
    timeline, sim = supply_sim
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, sim.resource],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(proc.stdout, 60.0, "the guarded child").strip() == "output on"
        assert _output_on(timeline)
        proc.send_signal(signum)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _output_on(timeline) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _output_on(timeline), proc.stderr.read()
    assert proc.returncode != 0
