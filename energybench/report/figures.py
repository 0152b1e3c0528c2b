"""The report's plots, drawn with bokeh (interactive: pan, zoom, hover; self-contained once
its JavaScript is inlined): the trace envelope with the windows and edges, the samples around
each edge at the native rate, per-window energy with its uncertainty, and a history's trend."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, LinearAxis, Range1d, Span
from bokeh.models import Label as TextLabel
from bokeh.plotting import figure

from energybench.analysis.trace import Trace
from energybench.report.text import si_scale
from energybench.traces.envelope import Envelope, edge_detail

VALID, INVALID, EDGE = "#2e7d32", "#c62828", "#6a1b9a"
WIDTH = 1100
TOOLS = "pan,xwheel_zoom,box_zoom,reset,save"


def trace_figure(env: Envelope, windows: Sequence[dict], title: str):
    """Current (min/max band and mean) over the whole recording, each digital line on its own
    axis, every window attempt shaded (green valid, red invalid) between its two edges."""
    factor, unit = si_scale([float(np.nanmax(env.current_max_a))] if env.time_s.size else [], "A")
    p = figure(
        title=title,
        width=WIDTH,
        height=360,
        tools=TOOLS,
        active_scroll="xwheel_zoom",
        x_axis_label="time (s)",
        y_axis_label=f"current ({unit})",
    )
    src = ColumnDataSource(
        {
            "t": env.time_s,
            "lo": np.nan_to_num(env.current_min_a) * factor,
            "hi": np.nan_to_num(env.current_max_a) * factor,
            "mean": np.nan_to_num(env.current_mean_a) * factor,
        }
    )
    p.varea(
        x="t",
        y1="lo",
        y2="hi",
        source=src,
        fill_color="#1565c0",
        fill_alpha=0.35,
        legend_label="current min…max per bin",
    )
    p.line(x="t", y="mean", source=src, color="#0d47a1", line_width=1, legend_label="mean")
    if env.digital_max:
        p.extra_y_ranges = {"digital": Range1d(-0.2, 6.0)}
        p.add_layout(LinearAxis(y_range_name="digital", axis_label="digital lines"), "right")
        for k, (name, high) in enumerate(env.digital_max.items()):
            low = env.digital_min[name]
            p.varea(
                x=env.time_s,
                y1=low.astype(float) * 0.8 + 1.0 * k,
                y2=high.astype(float) * 0.8 + 1.0 * k,
                y_range_name="digital",
                fill_color="#ef6c00",
                fill_alpha=0.6,
                legend_label=f"{name} (low…high)",
            )
    for w in windows:
        start, stop = w.get("start_s"), w.get("stop_s")
        if start is None or stop is None:
            continue
        color = VALID if w.get("valid") else INVALID
        p.add_layout(BoxAnnotation(left=start, right=stop, fill_color=color, fill_alpha=0.12))
        for edge in (start, stop):
            p.add_layout(
                Span(
                    location=edge,
                    dimension="height",
                    line_color=EDGE,
                    line_dash="dashed",
                    line_width=1,
                )
            )
        p.add_layout(
            TextLabel(
                x=start,
                y=5,
                y_units="screen",
                text_font_size="9pt",
                text=f"w{w.get('index')}a{w.get('attempt')}",
                text_color=color,
            )
        )
    p.legend.location = "top_left"
    p.legend.click_policy = "hide"
    return p


def edge_figures(trace: Trace, windows: Sequence[dict], line: str | None, base_s: float = 0.0):
    """The samples around the start edges and around the stop edges of every window at the
    native rate, overlaid on the time from the placed edge (0, dashed): dots are samples, the
    thin step the timestamp line, one colour per window; the placement can be checked by eye
    and every window's edge compared with the others."""
    half = max(20, round(trace.sample_rate_hz * 2e-4))
    names = list(trace.digital_names)
    palette = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037")
    cells = []
    for which in ("start_s", "stop_s"):
        p = figure(
            width=540,
            height=300,
            tools=TOOLS,
            title=f"{which[:-2]} edges",
            x_axis_label="time from the placed edge (µs)",
            y_axis_label="current (mA)",
        )
        drawn = 0
        for k, w in enumerate(windows):
            t_edge = w.get(which)
            if t_edge is None:
                continue
            position = (t_edge - base_s) * trace.sample_rate_hz
            if not trace.first_sample_id <= position <= trace.stop_sample_id:
                continue
            times, current, *lines = edge_detail(trace, position, half)
            x = (times + base_s - t_edge) * 1e6
            color = palette[k % len(palette)]
            label = f"w{w.get('index')}a{w.get('attempt')}"
            p.scatter(x, current * 1e3, size=3, color=color, legend_label=label)
            p.line(x, current * 1e3, color=color, alpha=0.3)
            if line in names and lines and current.size:
                level = lines[names.index(line)].astype(float)
                p.step(
                    x,
                    level * float(np.nanmax(current)) * 1e3,
                    mode="after",
                    color=color,
                    alpha=0.5,
                    line_dash="dotted",
                )
            drawn += 1
        if drawn:
            p.add_layout(Span(location=0, dimension="height", line_color=EDGE, line_dash="dashed"))
            p.legend.location = "top_left"
            p.legend.label_text_font_size = "8pt"
            p.legend.click_policy = "hide"
            cells.append(p)
    return gridplot([cells], toolbar_location="right") if cells else None


def window_energy_figure(sides: Sequence[tuple[str, Sequence[dict]]], title: str):
    """Energy per inference of every window attempt with its expanded uncertainty (k=2),
    one colour per side; invalid attempts hollow."""
    values = [w.get("energy_per_inference_j") for _, ws in sides for w in ws]
    factor, unit = si_scale([v for v in values if v is not None], "J")
    names = [f"{label} w{w.get('index')}a{w.get('attempt')}" for label, ws in sides for w in ws]
    p = figure(
        title=title,
        width=WIDTH,
        height=300,
        x_range=names,
        tools="pan,box_zoom,reset,save",
        y_axis_label=f"energy per inference ({unit}) ± U (k=2)",
    )
    palette = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a")
    for k, (label, ws) in enumerate(sides):
        rows = [w for w in ws if w.get("energy_per_inference_j") is not None]
        if not rows:
            continue
        per_inf = np.array([w["energy_per_inference_j"] for w in rows]) * factor
        u = (
            np.array(
                [
                    (w.get("energy_uncertainty_j") or 0.0) / max(1, w.get("inferences") or 1)
                    for w in rows
                ]
            )
            * factor
        )
        src = ColumnDataSource(
            {
                "x": [f"{label} w{w.get('index')}a{w.get('attempt')}" for w in rows],
                "y": per_inf,
                "lo": per_inf - u,
                "hi": per_inf + u,
                "valid": [
                    "valid" if w.get("valid") else "INVALID: " + "; ".join(w.get("problems") or [])
                    for w in rows
                ],
                "fill": [palette[k % 4] if w.get("valid") else "white" for w in rows],
            }
        )
        p.segment(x0="x", y0="lo", x1="x", y1="hi", source=src, color=palette[k % 4])
        p.scatter(
            x="x",
            y="y",
            source=src,
            size=9,
            line_color=palette[k % 4],
            fill_color="fill",
            legend_label=label,
        )
    p.add_tools(
        HoverTool(
            tooltips=[
                ("window", "@x"),
                ("energy/inference", "@y{0.0000}"),
                ("± U", "@lo{0.0000} … @hi{0.0000}"),
                ("", "@valid"),
            ]
        )
    )
    p.xaxis.major_label_orientation = 0.8
    return p


def trend_figure(history) -> object:
    """A history: each build's figure ± U (k=2) in order; significant steps marked (red up
    triangle: worse, green down triangle: better)."""
    builds = history.builds
    values = [b.estimate.value for b in builds]
    factor, unit = si_scale(values, history.metric.unit)
    labels = [b.label for b in builds]
    u = [
        2
        * math.sqrt(
            (b.estimate.random_u if math.isfinite(b.estimate.random_u) else 0.0) ** 2
            + b.estimate.budget_random_u**2
            + b.estimate.systematic_u**2
        )
        for b in builds
    ]
    y = np.array(values) * factor
    du = np.array(u) * factor
    p = figure(
        title=f"{history.workload}: {history.metric.title} by build",
        width=WIDTH,
        height=360,
        x_range=labels,
        tools="pan,box_zoom,reset,save",
        y_axis_label=f"{history.metric.title} ({unit}) ± U (k=2)",
    )
    src = ColumnDataSource(
        {
            "x": labels,
            "y": y,
            "lo": y - du,
            "hi": y + du,
            "when": [b.started_utc[:19] for b in builds],
        }
    )
    p.segment(x0="x", y0="lo", x1="x", y1="hi", source=src, color="#1565c0")
    p.line(x="x", y="y", source=src, color="#1565c0")
    p.scatter(x="x", y="y", source=src, size=8, color="#1565c0", legend_label="build ± U")
    for marker, verdict, color, name in (
        ("triangle", "worse", INVALID, "significantly worse"),
        ("inverted_triangle", "better", VALID, "significantly better"),
    ):
        hits = [s for s in history.steps if s.diff.verdict == verdict]
        if hits:
            p.scatter(
                [s.after.label for s in hits],
                [s.after.estimate.value * factor for s in hits],
                marker=marker,
                size=16,
                color=color,
                legend_label=name,
            )
    p.add_tools(
        HoverTool(tooltips=[("build", "@x"), ("value", "@y{0.0000}"), ("started", "@when")])
    )
    p.xaxis.major_label_orientation = 0.8
    p.legend.location = "top_left"
    return p
