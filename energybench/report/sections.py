"""The HTML sections of the report (markup only; the plots come from report.figures and are
placed where a ``<!--fig:KEY-->`` marker stands)."""

from __future__ import annotations

import logging
import math
from html import escape
from pathlib import Path

from energybench.errors import EnergybenchError
from energybench.report.runs import RunRecord
from energybench.report.text import si_scale
from energybench.runner.results import MEASUREMENT_SETUP

log = logging.getLogger(__name__)
MAX_CAPTURES = 12  # triggered meters: capture plots drawn per run (the rest are listed)


def _fmt(value, unit: str, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    factor, shown = si_scale([float(value)], unit)
    return f"{float(value) * factor:.{digits}f} {shown}"


def _pm(value, u, unit: str, digits: int = 4) -> str:
    """``value ± u`` in the value's unit prefix."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    factor, shown = si_scale([float(value)], unit)
    unknown = u is None or not math.isfinite(float(u))
    spread = "unknown" if unknown else f"{float(u) * factor:.{digits}f}"
    return f"{float(value) * factor:.{digits}f} ± {spread} {shown}"


def fig_marker(figures: dict, key: str, fig) -> str:
    if fig is None:
        return ""
    figures[key] = fig
    return f"<!--fig:{key}-->"


def html_table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if k in numeric else ''}>{c}</td>" for k, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _valid(ok: bool) -> str:
    return '<span class="ok">valid</span>' if ok else '<span class="bad">NOT valid</span>'


# ---- summary -------------------------------------------------------------------------------


def summary_table(runs: list[RunRecord]) -> str:
    rows = []
    for r in runs:
        f = r.figures
        if r.mode == "energy" and "mean_power_uncertainty_w" in f:
            figure = (
                _pm(f.get("mean_power_w"), f.get("mean_power_uncertainty_w"), "W") + " (stream)"
            )
        elif r.mode == "energy":
            figure = (
                _pm(
                    f.get("median_energy_per_inference_j"),
                    f.get("energy_per_inference_uncertainty_j"),
                    "J",
                )
                + " per inference"
            )
        elif r.mode == "performance":
            rate = f.get("median_throughput_per_s", f.get("estimated_throughput_per_s"))
            figure = "—" if rate is None else f"{rate:.3f} inf/s"
        else:
            metric = f.get("metric")
            value = f.get(metric) if isinstance(metric, str) else None
            figure = "—" if value is None else f"{metric} {value:.4f}"
        latency = _fmt(f.get("latency_s"), "s")
        rows.append(
            [
                escape(r.workload),
                escape(r.mode),
                escape(r.label or "—"),
                figure,
                latency,
                _valid(r.valid),
                escape(r.started_utc[:19]),
                f"<code>{escape(str(r.folder))}</code>",
            ]
        )
    return "<h2>Summary</h2>" + html_table(
        [
            "workload",
            "mode",
            "label",
            "figure (± U, k=2)",
            "latency",
            "valid",
            "started (UTC)",
            "folder",
        ],
        rows,
        {3, 4},
    )


# ---- one run -------------------------------------------------------------------------------


def run_section(run: RunRecord, figures: dict) -> str:
    key = f"r{len(figures)}_{abs(hash(str(run.folder))) % 10**8}"
    parts = [
        f"<h2>{escape(run.workload)} {escape(run.mode)} — {_valid(run.valid)}</h2>",
        f"<p><code>{escape(str(run.folder))}</code></p>",
    ]
    if run.mode == "energy":
        parts += _trace_parts(run, figures, key)
        from energybench.report.figures import window_energy_figure

        if any(w.get("energy_per_inference_j") is not None for w in run.windows):
            parts.append("<h3>Energy per inference of every window attempt</h3>")
            parts.append(
                fig_marker(
                    figures,
                    f"{key}_we",
                    window_energy_figure(
                        [(run.label or "run", run.windows)], "per-window energy per inference"
                    ),
                )
            )
        from energybench.report.baseline_section import baseline_section

        parts.append(baseline_section(run))
    parts.append(_windows_table(run))
    parts.append(_problems(run))
    parts.append(_provenance(run))
    return "\n".join(parts)


def _trace_file(run: RunRecord) -> Path | None:
    name = run.figures.get("trace_file")
    for candidate in ([name] if name else []) + ["trace.jls", "trace.csv"]:
        if candidate and (run.folder / candidate).is_file():
            return run.folder / candidate
    return None


def _open_trace(path: Path):
    from energybench.traces.csv_io import read_csv
    from energybench.traces.jls import read_jls

    if path.suffix == ".jls":
        # the run's dropped ranges are in results.json (a NaN scan would read every sample);
        # only the current is drawn, so a current-only file needs no voltage
        return read_jls(path, scan_missing=False, voltage_v=math.nan)
    return read_csv(path)


def _sync_line(run: RunRecord) -> str | None:
    return ((run.provenance.get("bench") or {}).get("sync") or {}).get("line")


def _trace_parts(run: RunRecord, figures: dict, key: str) -> list[str]:
    from energybench.report.figures import edge_figures, trace_figure
    from energybench.traces.envelope import trace_envelope

    parts = ["<h3>Trace, windows and edges</h3>"]
    path = _trace_file(run)
    try:
        if path is not None:
            trace = _open_trace(path)
            env = trace_envelope(trace)
            how = "the file's summary levels" if env.from_summaries else "every sample"
            parts.append(
                f"<p class=muted>{escape(path.name)}: {trace.n_samples:,} samples at "
                f"{trace.sample_rate_hz:g} Hz ({trace.duration_s:.3f} s), drawn as a "
                f"min/max envelope of {env.samples_per_bin:,} samples per bin (from "
                f"{how}); shaded: window attempts (green valid, red invalid) between "
                "their edges (dashed).</p>"
            )
            parts.append(
                fig_marker(figures, f"{key}_tr", trace_figure(env, run.windows, path.name))
            )
            parts.append("<h3>Edges at the native sample rate</h3>")
            parts.append(
                fig_marker(
                    figures, f"{key}_ed", edge_figures(trace, run.valid_windows, _sync_line(run))
                )
            )
            return parts
        captures = sorted(run.folder.glob("capture_w*_a*.*"))
        if not captures:
            parts.append("<p class=muted>No raw trace in this folder.</p>")
            return parts
        parts.append(
            f"<p class=muted>One capture per window attempt ({len(captures)}); the "
            "window between its edges is shaded.</p>"
        )
        for k, cap in enumerate(captures[:MAX_CAPTURES]):
            tag = cap.stem.removeprefix("capture_")
            ws = [w for w in run.windows if f"w{w.get('index')}_a{w.get('attempt')}" == tag]
            trace = _open_trace(cap)
            env = trace_envelope(trace)
            parts.append(fig_marker(figures, f"{key}_c{k}", trace_figure(env, ws, cap.name)))
        if len(captures) > MAX_CAPTURES:
            parts.append(
                f"<p class=muted>{len(captures) - MAX_CAPTURES} more captures not drawn.</p>"
            )
    except EnergybenchError as exc:
        parts.append(f"<p class=bad>The trace could not be drawn: {escape(exc.one_line())}</p>")
    return parts


def _windows_table(run: RunRecord) -> str:
    rows = []
    for w in run.windows:
        n = w.get("inferences") or 1
        u = w.get("energy_uncertainty_j")
        e = w.get("energy_per_inference_j")
        rows.append(
            [
                str(w.get("index")),
                str(w.get("attempt")),
                escape(str(w.get("file") or "")),
                str(w.get("inferences")),
                _fmt(w.get("duration_s"), "s", 6),
                _pm(e, (u or 0.0) / n, "J"),
                _fmt(w.get("latency_s"), "s"),
                _valid(bool(w.get("valid"))),
                escape("; ".join(w.get("problems") or [])),
            ]
        )
    return "<h3>Window attempts</h3>" + html_table(
        [
            "window",
            "attempt",
            "input",
            "inferences",
            "duration",
            "energy/inference ± U",
            "latency",
            "",
            "problems",
        ],
        rows,
        {3, 4, 5, 6},
    )


def _problems(run: RunRecord) -> str:
    problems = run.all_problems()
    acq = run.figures.get("acquisition") or {}
    if acq.get("dropped_samples"):
        problems.append(
            f"the meter dropped {acq['dropped_samples']} samples (ranges "
            f"{acq.get('dropped_ranges')}); windows over them are invalid"
        )
    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    notes = "".join(f"<li>{escape(n)}</li>" for n in run.notes)
    out = "<h3>Validity problems</h3>" + (
        f"<ul class=problems>{items}</ul>" if items else "<p class=ok>None.</p>"
    )
    if notes:
        out += f"<h3>Notes (flagged, not disqualifying)</h3><ul>{notes}</ul>"
    return out


def _provenance(run: RunRecord) -> str:
    p = run.provenance
    meter = p.get("meter") or {}
    bench = p.get("bench") or {}
    setup = run.figures.get(MEASUREMENT_SETUP) or {}
    cal_ids = [c for c in setup.get("calibration_ids") or [] if c]
    if cal_ids:
        calibration = "calibration record(s) " + ", ".join(cal_ids)
    elif run.mode == "energy":
        calibration = (
            "none: the uncertainty uses the datasheet accuracy in "
            f"{setup.get('profile') or 'the instrument profile'}"
        )
    else:
        calibration = "—"
    unverified = [n for n in run.notes if "unverified" in n]
    rows = [
        ["label", p.get("options", {}).get("label") or "—"],
        [
            "meter",
            " ".join(str(meter.get(k) or "") for k in ("vendor", "model", "serial_number")) or "—",
        ],
        ["meter driver / resource", f"{bench.get('meter_driver')} / {bench.get('meter_resource')}"],
        [
            "current range(s) in use",
            ", ".join(
                "widest" if r is None else f"{r:g} A" for r in setup.get("current_ranges_a") or []
            )
            or "—",
        ],
        ["calibration", calibration],
        ["unverified accuracy figures", "; ".join(unverified) or "none"],
        ["sync", str(bench.get("sync"))],
        ["bench", f"{bench.get('name')} ({bench.get('file')}, sha256 {bench.get('sha256')})"],
        [
            "workload",
            f"{(p.get('workload') or {}).get('name')} (sha256 "
            f"{(p.get('workload') or {}).get('sha256')})",
        ],
        ["dataset", str(p.get("dataset"))],
        ["DUT", str(p.get("dut"))],
        [
            "energybench / Python / host",
            f"{p.get('energybench_version')} / {p.get('python')} / {p.get('host')}",
        ],
        ["started / finished (UTC)", f"{p.get('started_utc')} / {p.get('finished_utc')}"],
    ]
    return "<h3>Provenance and calibration</h3>" + html_table(
        ["", ""], [[escape(k), escape(str(v))] for k, v in rows]
    )
