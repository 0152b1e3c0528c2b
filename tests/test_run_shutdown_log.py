"""The run log and results.json state the shutdown that really happened: "outputs off
(confirmed)" only after the N6705C read its output back off; with the instrument gone mid-run,
"output state UNKNOWN: <step> failed: <reason>", never a claim of success."""

from __future__ import annotations

import json

import pytest
from runner_helpers import StepProgress, lab_bench, require_meter, standin

from energybench.errors import EnergybenchError
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter


def _run(tmp_path, progress=None, mode="energy"):
    require_meter("keysight_n6705c")
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode=mode, workload="kws01") as lab:
        sim = attach_meter(lab, "keysight_n6705c", seed=1)
        hooks = progress(sim) if progress else None
        try:
            run_workload(
                lab_bench(lab, "keysight_n6705c"), "kws01", mode, root, tmp_path / "runs",
                progress=hooks,
            )  # fmt: skip
        finally:
            on = lab.timeline.supply_state(lab.timeline.now_s)[1]
    (folder,) = (tmp_path / "runs").iterdir()
    return folder, on


def test_a_confirmed_shutdown_is_logged_and_recorded(tmp_path) -> None:
    """Performance mode: the N6705C powers the DUT, then its output is switched off and read
    back before the log says "confirmed"; the exchanges are in the log."""
    folder, on = _run(tmp_path, mode="performance")
    assert not on
    log = (folder / "log.txt").read_text()
    assert "runner: supply shut down: outputs off (confirmed)" in log
    shutdown_exchanges = log.split("supply shut down")[0].rsplit("'OUTP OFF,(@1)'", 1)[1]
    assert "<< 'OUTP? (@1)'" in shutdown_exchanges and ">> '0'" in shutdown_exchanges
    shutdown = json.loads((folder / "results.json").read_text())["provenance"]["shutdown"]
    assert shutdown["summary"] == "outputs off (confirmed)"
    (n6705c,) = shutdown["instruments"]
    assert n6705c["output_off"] is True
    assert [s["step"] for s in n6705c["steps"] if s["output"]][-1] == "read back output off"


def test_an_instrument_gone_mid_run_is_logged_as_output_state_unknown(tmp_path) -> None:
    """The lab's N6705C goes away after the probe window: every shutdown step fails, and the
    log says so instead of "outputs off"."""

    def kill(sim):
        return StepProgress({1: sim.stop})

    with pytest.raises(EnergybenchError):
        _run(tmp_path, kill)
    (folder,) = (tmp_path / "runs").iterdir()
    log = (folder / "log.txt").read_text()
    assert "outputs off" not in log
    line = next(x for x in log.splitlines() if "instruments shut down:" in x)
    assert "output state UNKNOWN: " in line and "failed: " in line
    saved = json.loads((folder / "results.json").read_text())
    assert saved["provenance"]["shutdown"]["summary"].startswith("output state UNKNOWN: ")
    assert saved["provenance"]["shutdown"]["instruments"][0]["output_off"] is False
    assert saved["valid"] is False and saved["aborted"]
