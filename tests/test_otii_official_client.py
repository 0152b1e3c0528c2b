"""Qoitech's own client, ``otii-tcp-client``, drives the Otii simulator through a recording as a
separate process (tests/otii_client_session.py): log in and reserve the Automation licence,
list devices, set the supply, enable mc/mv/mp/i1, record in real time, read every sample in the
client's chunks, statistics, supply off, licence returned. What it reads is compared with the
timeline's truth over the recording's own span. Where the client and our simulator disagreed,
the simulator follows the client (a recording that no one polled stayed empty; a realtime
recording started at the timeline's last idle instant instead of now)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from energybench.sim.instruments.otii.otii import SimOtiiArc
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline

SESSION = Path(__file__).with_name("otii_client_session.py")
RECORD_S = 10.5  # > 40 000 samples at 4 kS/s: the client reads more than one chunk
PERIOD_S = 0.2  # a square wave of load current, a timestamp pulse every second


def _pattern(tl: Timeline, until_s: float) -> None:
    t = 0.0
    while t < until_s:
        tl.set_load_current(t, 0.010)
        tl.set_load_current(t + PERIOD_S / 2, 0.002)
        if round(t / PERIOD_S) % 5 == 0:
            tl.set_pin("timestamp", t, False)
            tl.set_pin("timestamp", t + 0.001, True)
        t = round(t + PERIOD_S, 9)


@pytest.mark.slow
def test_otii_tcp_client_completes_a_recording_against_the_simulator() -> None:
    pytest.importorskip("otii_tcp_client", reason="in the test extra: pip install -e .[test]")
    tl = Timeline(supply_voltage_v=0.0, pace="realtime")
    _pattern(tl, 120.0)
    ideal = MeasurementModel.ideal()
    with SimOtiiArc(tl, logged_in=False, measurement=ideal, voltage_measurement=ideal) as sim:
        done = subprocess.run(
            [sys.executable, str(SESSION), f"--port={sim.tcp.port}", f"--seconds={RECORD_S}"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OTII_USERNAME": "lab", "OTII_PASSWORD": "secret"},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout)
        commands = list(sim.commands)
        rec = sim.recording
    assert out["devices"] == [{"id": sim.device_id, "name": "Arc", "type": "Arc"}]
    assert out["licenses"][0]["reserved_to"]  # reserved by the client's automatic licensing
    assert commands[-2:] == ["otii_return_license", "otii_logout"]
    assert out["main_after"] is False and not tl.supply_state(tl.now_s)[1]
    fs = out["samplerate_hz"]
    mc, mv = out["mc"], out["mv"]
    assert mc["count"] == len(mc["values"]) > 40_000  # more than one chunk
    assert mc["interval"] == pytest.approx(1 / fs)
    # the Arc's voltage runs at 1 kS/s against 4 kS/s for current (Qoitech), on the same start
    assert mv["count"] == len(mv["values"]) == mc["count"] // 4
    assert mv["interval"] == pytest.approx(1e-3) and mv["info"]["sample_rate"] == 1000
    # a realtime recording: as long as the client recorded (plus its own request latency)
    duration_s = mc["count"] / fs
    assert RECORD_S <= duration_s < RECORD_S + 1.0
    t0 = rec.t_start_s
    t1 = t0 + duration_s
    current = np.asarray(mc["values"])
    voltage = np.asarray(mv["values"])
    assert np.mean(current) == pytest.approx(tl.charge_c(t0, t1) / duration_s, rel=1e-3)
    assert np.allclose(voltage, 1.8, atol=1e-6)
    energy_j = tl.energy_j(t0, t1)
    assert out["statistics"]["mp"]["energy"] == pytest.approx(energy_j, rel=1e-3)
    assert out["statistics"]["mc"]["average"] == pytest.approx(np.mean(current), rel=1e-3)
    falling = [v["timestamp"] for v in out["i1"] if v["value"] is False]
    truth = tl.edges("timestamp", "falling", t0, t1) - t0
    assert falling == pytest.approx(list(truth), abs=1e-9)
    assert len(falling) >= 2
