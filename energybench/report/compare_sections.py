"""The HTML sections of a comparison and of a history (markup only; plots are placed where a
``<!--fig:KEY-->`` marker stands)."""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

from energybench.errors import EnergybenchError
from energybench.report.runs import load_run
from energybench.report.sections import fig_marker as _fig
from energybench.report.sections import html_table as _table
from energybench.report.text import explain, headline, metric_row

log = logging.getLogger(__name__)


def comparison_section(c, figures: dict) -> str:
    from energybench.report.figures import window_energy_figure

    rows = []
    for m in c.metrics:
        r = metric_row(m)
        cls = "bad" if m.regression else ("ok" if m.diff.verdict == "better" else "")
        rows.append(
            [
                escape(r["workload"]),
                escape(r["figure"]),
                escape(r["a"]),
                escape(r["b"]),
                escape(r["difference"]),
                escape(r["ci"]),
                escape(r["mdd"]),
                f"<span class='{cls}'>{escape(r['verdict'])}</span>",
            ]
        )
    cls = "bad" if c.regressions else "ok"
    parts = [
        f"<h2>Comparison</h2><p>A = <code>{escape(c.a_path)}</code>, B = "
        f"<code>{escape(c.b_path)}</code></p><p class={cls}>{escape(headline(c))}</p>",
        _table(
            [
                "workload",
                "figure",
                "A ± U (k=2)",
                "B ± U (k=2)",
                "B − A",
                f"{c.confidence:.0%} CI of B − A",
                "min. detectable (80 % power)",
                "verdict",
            ],
            rows,
            {2, 3, 4, 5, 6},
        ),
    ]
    parts.append("<ul>" + "".join(f"<li>{escape(explain(m))}</li>" for m in c.metrics) + "</ul>")
    parts.append(
        "<p class=muted>A and B: the mean of the valid windows (of the runs' figures for "
        "folders of several runs); the MLPerf figure, the median, is in the summary. Intervals: "
        "Welch's t with Welch–Satterthwaite degrees of freedom; minimum detectable difference at "
        "80 % power.</p>"
    )
    if c.notes or c.problems:
        parts.append(
            "<h3>Notes and validity problems</h3><ul class=problems>"
            + "".join(f"<li>{escape(t)}</li>" for t in (*c.problems, *c.notes))
            + "</ul>"
        )
    for k, m in enumerate(c.metrics):
        if m.metric.key != "energy_per_inference":
            continue
        sides = []
        for label, folders in (("A", m.a_runs), ("B", m.b_runs)):
            for folder in folders:
                try:
                    sides.append((f"{label}:{Path(folder).name[:16]}", load_run(folder).windows))
                except EnergybenchError as exc:
                    log.warning("comparison plot: %s", exc)
        parts.append(f"<h3>{escape(m.workload)}: per-window energy of A and B</h3>")
        parts.append(_fig(figures, f"cmp{k}", window_energy_figure(sides, f"{m.workload}")))
    return "\n".join(parts)


def history_section(h, figures: dict) -> str:
    from energybench.report.figures import trend_figure
    from energybench.report.text import history_markdown

    table = history_markdown([h]).splitlines()
    rows = [
        [escape(c.strip().strip("*")) for c in line.strip("|").split("|")]
        for line in table
        if line.startswith("| ") and not line.startswith("| build")
    ]
    header = [
        "build",
        "started (UTC)",
        f"{h.metric.title} ± U (k=2)",
        "step",
        f"{h.confidence:.0%} CI of step",
        "min. detectable",
        "verdict",
    ]
    return "\n".join(
        [
            f"<h2>{escape(h.workload)} history</h2>",
            _fig(figures, f"hist_{h.workload}", trend_figure(h)),
            _table(header, rows, {2, 3, 4, 5}),
        ]
    )
