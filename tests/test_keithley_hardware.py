"""Opt-in checks against a real Keithley SMU (skipped unless a resource is given).

ENERGYBENCH_KEITHLEY_RESOURCE=TCPIP::192.168.1.50::5025::SOCKET \
ENERGYBENCH_KEITHLEY_DRIVER=keithley_2461 pytest tests/test_keithley_hardware.py

Nothing here turns an output on: identity, the error queue, a capture configuration read
back, and the shutdown sequence leaving the output off.
"""

from __future__ import annotations

import os

import pytest

from energybench.instruments.capabilities import CaptureRequest, SyncSpec
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import SafetyLimits

RESOURCE = os.environ.get("ENERGYBENCH_KEITHLEY_RESOURCE", "")
DRIVER = os.environ.get("ENERGYBENCH_KEITHLEY_DRIVER", "keithley_2461")

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(not RESOURCE, reason="set ENERGYBENCH_KEITHLEY_RESOURCE to run"),
]


def test_identify_configure_and_shut_down() -> None:
    driver_cls = load_driver(DRIVER)
    limits = SafetyLimits(max_voltage_v=3.6, max_current_a=0.1)
    with driver_cls.open(RESOURCE, limits, timeout_s=5.0) as smu:
        smu.identify()
        smu.read_errors()  # start from an empty queue
        sync = SyncSpec(driver_cls.sync_modes[0], "", "falling")
        settings = smu.configure_capture(CaptureRequest(0.01, 1e-4, sync=sync))
        assert settings.sample_interval_s == pytest.approx(1e-4, rel=0.01)
        # what this firmware answered (logged too): the buffer limit, the digitize block's name
        assert smu.buffer_points() >= 10
        if getattr(smu, "has_digitizer", False):
            assert smu.digitize_block in smu.digitize_blocks
        smu.safe_shutdown()
        assert smu.output_enabled() is False
        assert smu.read_errors() == []
