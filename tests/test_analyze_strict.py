"""`energybench analyze` is strict about what it is given: values no instrument could have
measured, recordings cut short, runner folders whose events need a rule, folders without raw
data. Each refusal is one line naming the file, the first offending sample or window, and the
CLI option that would allow it (never a Python argument); allowed, it is flagged, and --json
always parses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analysis_synth import pulses
from conftest import shared_path
from typer.testing import CliRunner

from energybench.analysis.trace import SourceInfo, Trace
from energybench.cli.app import app
from energybench.errors import (
    ImplausibleDataError,
    NoRawDataError,
    TraceFileError,
    TruncatedRecordingError,
)
from energybench.traces.csv_io import write_csv
from energybench.traces.folders import locate
from energybench.traces.jls_writer import write_jls

runner = CliRunner(env={"COLUMNS": "200"})
FS = 1000.0
PLAN = {"kind": "energybench-run", "planned_windows": 6, "probe_windows": 1,
        "sync": {"mode": "digital_channel", "line": "gpi[0]", "polarity": "falling"}}  # fmt: skip


def _trace(n_windows: int = 3, source: SourceInfo | None = None, fs: float = FS, **edits) -> Trace:
    """Windows of 2 s at 6 mA from t = 1 s every 3 s, 1 mA idle, 1.8 V, pin on gpi[0]."""
    n = int((1 + 3 * n_windows) * fs)
    current = np.full(n, 0.001)
    levels = np.ones(n, bool)
    changes = []
    for k in range(n_windows):
        start = int((1 + 3 * k) * fs)
        current[start : start + int(2 * fs)] = 0.006
        changes += pulses([start, start + int(2 * fs)], 3)
    for a, b in zip(changes[::2], changes[1::2], strict=True):
        levels[a:b] = False
    for index, value in edits.items():
        current[int(index[1:])] = value
    return Trace.from_arrays(current, 1.8, fs, digital={"gpi[0]": levels}, source=source)


def _fail(*args) -> tuple[BaseException, str]:
    out = runner.invoke(app, ["analyze", *map(str, args)])
    assert out.exit_code != 0 and out.exception is not None, out.output
    return out.exception, out.exception.one_line()


def _json(*args) -> dict:
    out = runner.invoke(app, ["analyze", *map(str, args), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_a_current_no_instrument_measures_is_refused_or_flagged(tmp_path) -> None:
    path = write_csv(tmp_path / "huge.csv", _trace(i1500=1e300))
    exc, line = _fail(path)
    assert isinstance(exc, ImplausibleDataError) and exc.exit_code == 1
    assert line.startswith(f"{path}: implausible data: current above the bounds: 1e+300 at")
    assert "sample 1500 (t = 1.500000 s), window 0" in line and "at most 100 A" in line
    assert "--allow-implausible" in line and "allow_implausible" not in line.split("|")[0]
    data = _json(path, "--allow-implausible")  # --json does not die on 1e297 J windows
    (finding,) = data["implausible"]
    assert (finding["what"], finding["sample_id"], finding["window"], finding["count"]) == (
        "current above the bounds",
        1500,
        0,
        1,
    )
    assert data["windows"][0]["energy_j"] > 1e290 and data["windows"][1]["energy_j"] < 1
    table = runner.invoke(app, ["analyze", str(path), "--allow-implausible"])
    assert "FLAGGED implausible: current above the bounds" in table.output


def test_infinite_samples_count_as_missing_when_allowed(tmp_path) -> None:
    path = write_csv(tmp_path / "inf.csv", _trace(i1500=np.inf))
    exc, line = _fail(path)
    assert isinstance(exc, ImplausibleDataError) and "infinite current: inf at sample 1500" in line
    exc, line = _fail(path, "--allow-implausible")  # then it is a missing sample
    assert "1 missing sample(s)" in line and "--allow-missing" in line
    data = _json(path, "--allow-implausible", "--allow-missing")
    assert data["windows"][0]["missing_samples"] == 1 and data["windows"][0]["incomplete"]
    assert data["implausible"][0]["window"] == 0


def test_the_instrument_profile_sets_the_bounds(tmp_path) -> None:
    source = SourceInfo(instrument="Keysight Technologies N6705C")
    path = write_jls(tmp_path / "n6705c.jls", _trace(source=source, i1500=12.0))  # > 9.6 A
    _, line = _fail(path)
    assert "current above the bounds: 12 at sample 1500" in line
    assert "keysight_n6705c.toml: widest current 8 A x1.2 over-range" in line  # N6785A
    source = SourceInfo(instrument="energybench SimJS220")  # the stream source's 10 A range
    data = _json(write_jls(tmp_path / "js.jls", _trace(source=source, i1500=5.0)))
    assert data["bounds"].startswith("sim_stream.toml") and data["implausible"] == []


def test_negative_energy_bins_of_runner_folders(real_results, tmp_path) -> None:
    eembc = tmp_path / "eembc"
    shutil.copytree(
        next(real_results.glob("tiny_results_v1.2/**/kws/energy")), eembc
    )  # an EEMBC EnergyRunner folder: 5-byte header, float32 µJ bins
    raw = bytearray((eembc / "trace1-energy.bin").read_bytes())
    raw[5 + 4 * 3000 : 5 + 4 * 3001] = np.float32(-50.0).tobytes()  # bin 3000 (window 0)
    (eembc / "trace1-energy.bin").write_bytes(bytes(raw))
    _, line = _fail(eembc)
    assert "negative current (energy bin)" in line and "sample 3000 (t = 3.000000 s)" in line
    assert "window 0" in line
    data = _json(eembc, "--allow-implausible")
    assert data["implausible"][0]["what"] == "negative current (energy bin)"
    mlc = tmp_path / "mlc"
    shutil.copytree(next(real_results.glob("tiny_results_v1.3/**/kws/energy")), mlc)
    trials = json.loads((mlc / "results.json").read_text())
    trials[2]["power"]["samples"][5000] = -1e-3
    (mlc / "results.json").write_text(json.dumps(trials))
    _, line = _fail(mlc)
    assert "negative current (energy bin): -0.555556" in line and "window 2" in line


def _killed_writer(path: Path, fraction: float) -> None:
    """Write a planned 6-window recording in a child process killed before it closes."""
    code = f"""
import os
import numpy as np
from test_analyze_strict import PLAN, _trace
from energybench.traces.jls_writer import JlsWriter
trace = _trace(6, fs=20_000.0)  # whole 65536-sample blocks of the pin reach the file
w = JlsWriter({str(path)!r}, sample_rate_hz=trace.sample_rate_hz, digital_names=("gpi[0]",),
              metadata=PLAN)
for chunk in trace.chunks(20_000, stop_id=int(trace.n_samples * {fraction})):
    w.append(chunk)
w.flush()
os._exit(0)
"""
    tests = Path(__file__).parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tests, timeout=60)


def test_a_recording_cut_short_says_what_it_promised(tmp_path) -> None:
    path = tmp_path / "killed.jls"
    _killed_writer(path, 0.55)  # 3 windows complete, then the writer is killed
    exc, line = _fail(path)
    assert isinstance(exc, TruncatedRecordingError)
    assert "truncated: the run planned 6 windows (1 probe), the file holds 3" in line
    assert "(last sample at t = " in line and "the writer never finished" in line
    assert "--allow-truncated" in line
    data = _json(path, "--allow-truncated")
    assert len(data["windows"]) == 3 and data["truncated"].startswith("truncated:")
    assert data["rule"].startswith("consecutive falling edges paired on digital line 'gpi[0]'")
    complete = write_jls(tmp_path / "complete.jls", _trace(6))  # same plan, written fully
    assert len(_json(complete)["windows"]) == 6


def test_a_csv_recording_closed_early(tmp_path) -> None:
    path = write_csv(tmp_path / "short.csv", _trace(2), metadata=PLAN)
    _, line = _fail(path)
    assert "the run planned 6 windows (1 probe), the file holds 2" in line
    assert "closed early" in line


def test_runner_folder_with_three_events_per_trial(real_results, tmp_path) -> None:
    folder = tmp_path / "energy"
    shutil.copytree(next(real_results.glob("tiny_results_v1.3/**/kws/energy")), folder)
    trials = json.loads((folder / "results.json").read_text())
    counter = 0
    for trial in trials:  # a leading extra event in every trial, as some published rounds have
        events = [[f"{counter:02d}", 5]] + trial["power"]["timestamps"]
        trial["power"]["timestamps"] = [[f"{counter + k:02d}", e[1]] for k, e in enumerate(events)]
        counter += len(events)
    (folder / "results.json").write_text(json.dumps(trials))
    exc, line = _fail(folder)
    assert isinstance(exc, TraceFileError) and "trial 0 has 3 timestamp events" in line
    assert "--runner-rule" in line and "--skip-edges" in line
    assert "skip_leading_events" not in line and "=True" not in line
    for option in ("--runner-rule", "--skip-edges"):
        args = [option] if option == "--runner-rule" else [option, "1"]
        data = _json(folder, *args)
        ours = [w["energy_per_inference_j"] for w in data["windows"]]
        assert ours == pytest.approx(data["published_energy_per_inference_j"], rel=1e-5)
    table = runner.invoke(app, ["analyze", str(folder), "--runner-rule"]).output
    assert "Rule: MLCommons runner, last two events of each trial" in table


def test_runner_folder_truncated_against_results_txt(real_results, tmp_path) -> None:
    folder = tmp_path / "energy"
    shutil.copytree(next(real_results.glob("tiny_results_v1.3/**/kws/energy")), folder)
    trials = json.loads((folder / "results.json").read_text())
    (folder / "results.json").write_text(json.dumps(trials[:3]))
    _, line = _fail(folder)
    assert "truncated: results.txt lists 5 windows, the raw data holds 3" in line
    data = _json(folder, "--allow-truncated")
    assert len(data["windows"]) == 3 and len(data["published_energy_per_inference_j"]) == 3


def test_published_folder_without_raw_data(tmp_path) -> None:
    folder = tmp_path / "sww01" / "energy"
    folder.mkdir(parents=True)
    (folder / "results.txt").write_text("Energy data for trial 0\n  Power : 1.1 mW.\n")
    located = locate(folder.parent)
    assert (located.kind, located.reverifiable) == ("no-raw-data", False)
    assert located.reason == "no raw data (results.json absent)"
    exc, line = _fail(folder.parent)
    assert isinstance(exc, NoRawDataError)
    assert line.startswith(f"{folder}: no raw data (results.json absent)")
    assert "unrecognised" not in line


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "energybench", "analyze", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_json_never_dies_and_is_strict_json(tmp_path) -> None:
    path = write_csv(tmp_path / "huge.csv", _trace(i1500=1e300))
    out = _cli(str(path), "--json", "--allow-implausible", "--inferences", "1")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    data = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert data["energy_j"]["std"] is None  # overflowed: written as null, flagged above
    assert data["implausible"][0]["value"] == 1e300
    # values whose sum exceeds any float: refused even when allowed, one line, no traceback
    path = write_csv(tmp_path / "huger.csv", _trace(i1500=1e308, i1600=1e308))
    out = _cli(str(path), "--json", "--allow-implausible")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"error: {path}: ") and "the energy is infinite" in out.stderr


@pytest.mark.parametrize("name", ["NUCLEO_U385RG_Q", "NUCLEO_U575ZI_Q"])
def test_real_folders_stay_plausible_and_complete(name) -> None:
    folder = next(shared_path("real-results").glob(f"*/closed/*/results/{name}/kws/energy"))
    data = _json(folder)
    assert data["implausible"] == [] and data["truncated"] is None
    assert data["expected_windows"] == 5
