"""`energybench analyze`: table and JSON output, runner folders, errors as exit codes.

Trace recordings are built in memory and served through a stand-in for
``energybench.traces.reanalysis.open_trace`` (the command's one trace-file seam); the runner
folder is a real MLCommons-runner layout written to disk; the last test goes through the real
JLS writer and reader.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from analysis_synth import pulses
from typer.testing import CliRunner

import energybench.traces.reanalysis
from energybench.analysis.trace import Trace
from energybench.cli.analyze import parse_sync
from energybench.cli.app import app, main
from energybench.errors import EdgeCountError, TraceFileError
from energybench.traces.jls_writer import JlsWriter

FS = 10_000.0
runner = CliRunner(env={"COLUMNS": "200"})


def _trace(line: str = "gpi[0]", boot: bool = True) -> Trace:
    """3 windows of 2/2.2/1.8 s at 6 mA, 3 V (18 mW), 1 mA idle; optional boot pulse."""
    n = 100_000
    current = np.full(n, 0.001, np.float32)
    levels = np.ones(n, bool)
    changes = [50, 60] if boot else []
    for s, length in [(10_000, 20_000), (40_000, 22_000), (70_000, 18_000)]:
        current[s : s + length] = 0.006
        changes += pulses([s, s + length], 3)
    for a, b in zip(changes[::2], changes[1::2], strict=True):
        levels[a:b] = False
    return Trace.from_arrays(current, 3.0, FS, digital={line: levels})


@pytest.fixture
def serve(monkeypatch, tmp_path):
    """Make the trace-file reader return the given trace for a file that exists."""

    def install(recording, name: str = "trace.jls") -> Path:
        path = tmp_path / name
        path.write_bytes(b"")

        def fake_open(p: Path, **_):
            assert Path(p) == path
            return recording

        monkeypatch.setattr(energybench.traces.reanalysis, "open_trace", fake_open)
        return path

    return install


def _mlcommons_folder(folder: Path) -> Path:
    """Two trials of 1 kHz bins at 10 mW (10 µJ per 1 ms bin), 1000-bin windows of 10
    inferences, and the results.txt the runner would print (published 1.0 and 1.01 mJ)."""
    folder.mkdir()
    trials = [
        {"mode": "e", "infer": {"iterations": 10}, "power": {
            "samples": [1e-5] * 2500, "voltage": 2.0,
            "timestamps": [[f"{2 * k:02d}", 100], [f"{2 * k + 1:02d}", 1100]]}}
        for k in range(2)
    ]  # fmt: skip
    (folder / "results.json").write_text(json.dumps(trials))
    text = "".join(
        f"Energy data for trial {k}\n  Inferences    : 10\n  Energy/Inf    : {e} uJ/inf\n"
        for k, e in enumerate((1000.0, 1010.0))
    )
    (folder / "results.txt").write_text(text + "Median energy cost is 1005.0000 uJ/inf.\n")
    return folder


def test_parse_sync() -> None:
    assert parse_sync("gpi[0]") == ("gpi[0]", "falling")
    assert parse_sync("gpi[0]:rising") == ("gpi[0]", "rising")
    assert parse_sync("d7:both") == ("d7", "both")


def test_table_output(serve) -> None:
    path = serve(_trace())
    result = runner.invoke(
        app, ["analyze", str(path), "--inferences", "100", "--skip-edges", "1", "--windows", "3"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "energy (mJ)" in out and "energy/inference (µJ)" in out and "mean power (mW)" in out
    assert "duration (s)" in out and "start (s)" in out
    # Window 0: 2 s at 18 mW; trapezoid ends interpolate half a sample towards the 1 mA idle:
    # 3 V * (19 999 * 6 mA + 2 * 0.5 * (6 + 3.5) / 2 mA) / 10 kHz = 35.999625 mJ.
    assert "2.000000" in out and "35.9996" in out and "359.9963" in out
    assert "Median energy per inference: 359.9963 µJ" in out and "95% bootstrap CI" in out
    assert "Edges: 7 falling on digital line 'gpi[0]'; 0 pulse(s) shorter than 0 µs" in out


def test_json_output(serve) -> None:
    path = serve(_trace(line="ts", boot=False))
    result = runner.invoke(
        app, ["analyze", str(path), "--json", "--sync", "ts:falling", "--inferences", "50"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [w["index"] for w in data["windows"]] == [0, 1, 2]
    w = data["windows"][1]
    assert math.isclose(w["start_s"], 3.99995) and math.isclose(w["duration_s"], 2.2)
    assert math.isclose(w["energy_j"], 0.018 * 2.2, rel_tol=1e-3)
    assert math.isclose(w["energy_per_inference_j"], w["energy_j"] / 50)
    assert math.isclose(w["mean_power_w"], 0.018, rel_tol=1e-3)
    energies = sorted(x["energy_per_inference_j"] for x in data["windows"])
    assert data["median_energy_per_inference_j"] == energies[1]
    assert data["energy_per_inference_j"]["ci_low"] <= energies[1]


def test_min_pulse_and_rising_edges(serve) -> None:
    trace = _trace(boot=False)
    path = serve(trace)
    # Rising edges sit 3 samples after the falling ones; the same windows result.
    result = runner.invoke(app, ["analyze", str(path), "--json", "--sync", "gpi[0]:rising"])
    data = json.loads(result.output)
    assert math.isclose(data["windows"][0]["start_s"], 1.00025)
    assert data["median_energy_per_inference_j"] is None  # no inference count given
    # The timestamp pulses last 3 samples (300 µs): a 200 µs minimum keeps them, 400 µs not.
    kept = runner.invoke(app, ["analyze", str(path), "--json", "--min-pulse-us", "200"])
    assert json.loads(kept.output)["edges"]["glitches_dropped"] == 0
    dropped = runner.invoke(app, ["analyze", str(path), "--min-pulse-us", "400"])
    assert isinstance(dropped.exception, EdgeCountError)
    assert "6 pulse(s) shorter than 0.0004 s dropped" in str(dropped.exception)


def test_runner_folder_uses_its_windows_and_shows_the_published_median(tmp_path) -> None:
    path = _mlcommons_folder(tmp_path / "energy")
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["runner"] == "mlcommons" and data["kind"] == "mlcommons"
    assert math.isclose(data["median_energy_per_inference_j"], 1.0e-3)
    assert data["published_median_energy_per_inference_j"] == 1.005e-3
    table = runner.invoke(app, ["analyze", str(path)])
    assert "Published median (mlcommons runner): 1.0050 mJ" in table.output
    assert "-0.498 %" in table.output
    assert "Rule: exactly two timestamp events per trial" in table.output
    bad = runner.invoke(app, ["analyze", str(path), "--windows", "5"])
    assert isinstance(bad.exception, EdgeCountError)
    usage = runner.invoke(app, ["analyze", str(path), "--sync", "d7"])
    assert usage.exception.exit_code == 2  # edges of a runner folder are its own events


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["energybench", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_errors_become_one_line_and_exit_codes(serve, monkeypatch, capsys, tmp_path) -> None:
    path = serve(_trace())  # boot pulse present, not skipped: odd edge count
    code, _, err = _run_main(monkeypatch, capsys, "analyze", str(path), "--inferences", "10")
    assert code == 1
    assert err.startswith("error: digital line 'gpi[0]': odd number of edges (7)")
    assert err.count("\n") == 1
    code, _, err = _run_main(monkeypatch, capsys, "analyze", str(tmp_path / "nope.jls"))
    assert code == 1 and "nope.jls: no such file or folder" in err
    code, _, _ = _run_main(monkeypatch, capsys, "analyze", str(path), "--windows", "0")
    assert code == 2  # click usage error (below the minimum)


def test_real_jls_file_through_the_traces_package(tmp_path) -> None:
    trace = _trace()
    path = tmp_path / "bench.jls"
    with JlsWriter(path, sample_rate_hz=FS, digital_names=("gpi[0]",)) as writer:
        for chunk in trace.chunks(30_000):
            writer.append(chunk)
    result = runner.invoke(
        app, ["analyze", str(path), "--json", "--inferences", "100", "--skip-edges", "1"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["windows"]) == 3
    assert math.isclose(data["median_energy_per_inference_j"], 360e-6, rel_tol=1e-3)


def test_missing_file_error_type() -> None:
    result = runner.invoke(app, ["analyze", "/nonexistent/x.jls"])
    assert isinstance(result.exception, TraceFileError)
