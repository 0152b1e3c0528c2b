"""The calibration commands as a new user runs them: `energybench lab up --load
reference-resistor` with injected meter errors, then `calibrate --yes`, `calibration list`,
`calibration show`, `verify --label before` and `calibration verify` (an edited record fails)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from lab_support import lab_up, read_line


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "energybench", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_lab_calibrate_list_show_verify(tmp_path) -> None:
    env = {**os.environ, "ENERGYBENCH_CALIBRATION_DIR": str(tmp_path / "store")}
    knobs = ("--meter-gain-error", "0.02", "--meter-offset-a", "50e-6", "--meter-skew-s", "30e-6")
    with lab_up("--meter", "sim_stream", "--load", "reference-resistor", "--virtual", *knobs) as (
        proc,
        text,
    ):
        assert "reference resistor" in text
        lines = [text]
        while not lines[-1].startswith("certificate_date"):
            lines.append(read_line(proc.stdout, 10.0, "the bench file's reference"))
        bench = tmp_path / "bench.toml"
        bench.write_text("".join(lines).split("# bench file:\n", 1)[1])

        refused = _cli("calibrate", "--bench", str(bench), "--yes", "--range", "0.05", env=env)
        (line,) = refused.stderr.strip().splitlines()
        assert refused.returncode == 1 and "--range" in line
        assert "0.05 A is not a current range of sim_stream (1.8e-05, " in line

        done = _cli("calibrate", "--bench", str(bench), "--yes", env=env)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "range 0.18 A: holds the reference's 18.0 mA × 1.25\nstep 1/4" in out
        assert "step 2/4 (zero): connect: Disconnect the DUT" in out
        assert "calibrated: gain 1.0" in out and "skew: the current lags" in out
        assert "µA in the 0.18 A range; valid until" in out

        listed = _cli("calibration", "list", "--json", env=env)
        (row,) = json.loads(listed.stdout)["records"]
        assert row["state"] == "valid" and row["gain"] > 1.019 and row["range_a"] == 0.18

        shown = _cli("calibration", "show", row["file"], env=env)
        assert json.loads(shown.stdout)["content_hash"].startswith("sha256:")

        check = _cli("verify", "--bench", str(bench), "--label", "before", env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "PASS" in check.stdout and "in range 0.18 A with calibrated" in check.stdout
        raw = _cli(
            "verify", "--bench", str(bench), "--label", "after", "--calibration", "none", env=env
        )
        assert raw.returncode == 3 and "FAIL" in raw.stdout and "drift" in raw.stdout

    assert _cli("calibration", "verify", env=env).returncode == 0
    record = json.loads((tmp_path / "store" / os.path.basename(row["file"])).read_text())
    record["coefficients"]["offset_a"] = 0.0
    (tmp_path / "store" / os.path.basename(row["file"])).write_text(json.dumps(record))
    failed = _cli("calibration", "verify", env=env)
    assert failed.returncode == 1 and "content hash mismatch" in failed.stdout


def test_calibrate_refuses_in_one_line(tmp_path) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(
        '[meter]\ndriver = "sim_stream"\nresource = "tcp://127.0.0.1:9"\n'
        '[supply]\ndriver = "keysight_n6705c"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
        "voltage_v = 1.8\ncurrent_limit_a = 0.04\nmax_voltage_v = 2.0\nmax_current_a = 0.1\n"
        '[sync]\nmode = "digital_channel"\nline = "gpi[0]"\npolarity = "falling"\n'
        '[dut]\nport = "/dev/null"\nbaud = 9600\n'
        '[calibration.reference]\nid = "R1"\nresistance_ohm = 100.0\nuncertainty_rel = 5e-5\n'
        'tolerance_rel = 1e-3\ncertificate_date = "2021-03-01"\n'
    )
    env = {**os.environ, "ENERGYBENCH_CALIBRATION_DIR": str(tmp_path / "store")}
    done = _cli("calibrate", "--bench", str(bench), "--yes", env=env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "certificate expired on 2022-03-01" in line
    recent = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)).isoformat()
    fresh = bench.read_text().replace("2021-03-01", recent)
    bench.write_text(fresh)
    done = _cli("calibrate", "--bench", str(bench), "--yes", env=env)
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "does not answer" in line


def test_lab_reference_ohm_needs_the_reference_load() -> None:
    done = _cli("lab", "up", "--reference-ohm", "150", env=dict(os.environ))
    assert done.returncode == 2 and "--reference-ohm" in done.stderr
    assert "needs --load reference-resistor" in done.stderr
