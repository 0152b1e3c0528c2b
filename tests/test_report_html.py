"""`energybench report`: the HTML file of a run folder, a comparison and a history, opened in
a real headless Chromium (DevTools protocol): no console error, the plots drawn (the
screenshot holds the trace band and the shaded windows), the tables and problems in the
page; the envelope from a JLS file's summaries against one computed from every sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser_cdp import Browser, chromium_path
from compare_lab import lab_energy_run

from energybench.errors import ResultsError
from energybench.report.runs import find_runs
from energybench.traces.envelope import _reduce, trace_envelope
from energybench.traces.jls import read_jls

MAX_BYTES = 5_000_000
TRACE_BLUE = np.array([13, 71, 161])  # #0d47a1: the current's mean line
WINDOW_GREEN = np.array([230, 239, 230])  # #2e7d32 at 12 % on white: a shaded valid window


def _eb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "energybench", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    a = lab_energy_run(tmp, seed=1, label="v1", runs_dir=tmp / "A")
    b = lab_energy_run(tmp, seed=2, scale=1.01, label="v2", runs_dir=tmp / "B")
    return tmp, a, b


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does)")
    with Browser(exe) as b:
        yield b


def _pixels_near(png: Path, color: np.ndarray, tolerance: int, box: dict) -> int:
    """Pixels of ``color`` inside ``box`` (a DOM rectangle; the screenshot is the whole page
    from its top, so page and image coordinates agree)."""
    from PIL import Image

    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    top, left = int(box["top"]), int(box["left"])
    crop = image[top : top + int(box["height"]), left : left + int(box["width"])]
    return int((np.abs(crop - color).max(axis=2) <= tolerance).sum())


FIRST_PLOT = (
    "JSON.parse(JSON.stringify(document.querySelector('.bk-Figure').getBoundingClientRect()))"
)


def _open(browser: Browser, page: Path, shot: Path) -> str:
    errors_before = len(browser.console_errors())
    session = browser.load(page)
    assert browser.console_errors()[errors_before:] == []
    browser.screenshot(session, shot)
    return session


@pytest.mark.slow
def test_run_folder_report_opens_and_shows_trace_windows_and_table(runs, browser) -> None:
    tmp, a, _ = runs
    out = tmp / "run.html"
    done = _eb("report", str(a), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert 0 < out.stat().st_size < MAX_BYTES
    session = _open(browser, out, tmp / "run.png")
    fetched = [
        u
        for u in browser.requested_urls()
        if not u.startswith(("file:", "data:", "blob:", "about:"))
    ]
    assert fetched == []  # self-contained: nothing from the network
    plots = "document.querySelectorAll('.bk-Figure, .bk-GridPlot').length"
    assert browser.evaluate(session, plots) >= 3  # trace, grid of edges, per-window energy
    body = browser.evaluate(session, "document.body.innerText")
    for needle in (
        "Summary",
        "Window attempts",
        "Idle baseline and inference increment",
        "above idle / inference",  # the idle baseline is measured in every window
        "Provenance and calibration",
        "Validity problems",
        "195.7",
    ):
        assert needle in body
    box = browser.evaluate(session, FIRST_PLOT)  # the trace: the first plot on the page
    assert box["width"] > 800 and box["height"] > 250
    assert _pixels_near(tmp / "run.png", TRACE_BLUE, 30, box) > 500  # the current is drawn
    assert _pixels_near(tmp / "run.png", WINDOW_GREEN, 4, box) > 5000  # five shaded windows


@pytest.mark.slow
def test_comparison_and_history_reports_open_without_errors(runs, browser) -> None:
    tmp, a, b = runs
    saved = tmp / "cmp.json"
    done = _eb("compare", str(a), str(b), "--json")
    assert done.returncode == 4
    saved.write_text(done.stdout)
    out = tmp / "cmp.html"
    assert _eb("report", str(saved), "-o", str(out)).returncode == 0
    assert out.stat().st_size < MAX_BYTES
    session = _open(browser, out, tmp / "cmp.png")
    body = browser.evaluate(session, "document.body.innerText")
    assert "Comparison" in body and "REGRESSION" in body and "per-window energy of A and B" in body
    plots = "document.querySelectorAll('.bk-Figure, .bk-GridPlot').length"
    assert browser.evaluate(session, plots) >= 5  # A vs B windows, then each run's plots
    history = tmp / "history.html"
    done = _eb(
        "compare",
        "--history",
        "--order",
        "label",
        str(a.parent),
        str(b.parent),
        "--report",
        str(history),
    )
    assert done.returncode == 4, done.stdout + done.stderr  # the newest step is the 1 % rise
    assert "**worse — REGRESSION**" in done.stdout and "| v1 |" in done.stdout
    session = _open(browser, history, tmp / "history.png")
    assert "kws01 history" in browser.evaluate(session, "document.body.innerText")


def test_jls_envelope_from_summaries_matches_every_sample(tmp_path) -> None:
    import pyjls

    n, fs = 1_000_003, 1_000_000
    rng = np.random.default_rng(0)
    current = (5e-3 + 1e-4 * rng.standard_normal(n)).astype(np.float32)
    current[400_000:400_010] = 0.05  # a short spike must survive the envelope
    bits = np.zeros(n, dtype=bool)
    bits[600_000:600_050] = True
    path = tmp_path / "t.jls"
    w = pyjls.Writer(str(path))
    try:
        w.source_def(
            source_id=1, name="JS220", vendor="J", model="JS220", version="", serial_number="1"
        )
        for sid, name, dtype, units in (
            (1, "current", pyjls.DataType.F32, "A"),
            (3, "gpi[0]", pyjls.DataType.U1, ""),
        ):
            w.signal_def(
                signal_id=sid,
                source_id=1,
                signal_type=pyjls.SignalType.FSR,
                data_type=dtype,
                sample_rate=fs,
                name=name,
                units=units,
            )
        w.fsr_f32(1, 0, current)
        w.fsr(3, 0, np.packbits(bits, bitorder="little"))
    finally:
        w.close()
    trace = read_jls(path, voltage_v=1.8, scan_missing=False)
    env = trace_envelope(trace, bins=500)
    exact = _reduce(trace, env.samples_per_bin, env.time_s.size, env.time_s)
    assert env.from_summaries and not exact.from_summaries
    assert env.time_s.size == 500
    assert float(env.current_max_a.max()) == pytest.approx(0.05)  # the spike is there
    assert np.allclose(env.current_mean_a, exact.current_mean_a, rtol=0, atol=2e-5)
    assert env.digital_max["gpi[0]"].sum() >= 1 and exact.digital_max["gpi[0]"].sum() >= 1
    assert not env.digital_min["gpi[0]"].any()


def test_bad_inputs_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(ResultsError, match="no such file"):
        find_runs(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.json").write_text(json.dumps({"runner": "mlcommons"}))
    with pytest.raises(ResultsError, match="another tool"):
        find_runs(tmp_path)
    done = _eb("compare", str(tmp_path))
    assert done.returncode == 2 and "two paths" in done.stderr
    done = _eb("compare", str(tmp_path), str(tmp_path))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "error:" in done.stderr
    done = _eb("report", str(tmp_path / "missing"), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 1 and "no such file" in done.stderr
