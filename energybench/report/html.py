"""One self-contained HTML file (bokeh's JavaScript inlined; nothing fetched when it is viewed)
for run folders, a submission tree, a comparison or a history: the summary table, the trace
with its windows and edges, per-window energy with U, the idle baseline and the inference
increment, provenance and calibration status, and every validity problem in plain words."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from pathlib import Path

from energybench._version import __version__
from energybench.errors import ResultsError
from energybench.report.compare_sections import comparison_section, history_section
from energybench.report.runs import RunRecord
from energybench.report.sections import run_section, summary_table

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#212121;
max-width:1180px}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:4px;
margin-top:2em}h3{font-size:1.05em;margin-top:1.5em}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}
.muted{color:#757575}ul.problems li{color:#c62828}code{font-size:.9em}
"""


def write_report(
    path: Path | str,
    *,
    runs: list[RunRecord] | None = None,
    comparison=None,
    histories=None,
    title: str | None = None,
) -> Path:
    """Write the report of ``runs``, a comparison or histories to ``path`` (HTML)."""
    out = Path(path)
    text = build_html(runs=runs, comparison=comparison, histories=histories, title=title)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ResultsError(
            f"cannot write the report: {exc.strerror or exc}", context=str(out)
        ) from exc
    return out


def build_html(*, runs=None, comparison=None, histories=None, title: str | None = None) -> str:
    from bokeh.embed import components
    from bokeh.resources import Resources

    if not (runs or comparison or histories):
        raise ResultsError("nothing to report", context="report")
    figures: dict[str, object] = {}
    parts: list[str] = []
    if comparison is not None:
        parts.append(comparison_section(comparison, figures))
        runs = runs or []
    if histories:
        parts += [history_section(h, figures) for h in histories]
    if runs:
        parts.insert(0, summary_table(runs))
        parts += [run_section(r, figures) for r in runs]
    if figures:
        script, divs = components(figures)
    else:
        script, divs = "", {}
    body = "\n".join(parts)
    for key, div in divs.items():
        body = body.replace(f"<!--fig:{key}-->", div)
    resources = Resources(mode="inline", components=["bokeh"]).render_js() if figures else ""
    heading = title or _title(runs, comparison, histories)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(heading)}</title>
<style>{CSS}</style>
{resources}
{script}
</head><body>
<h1>{html.escape(heading)}</h1>
<p class="muted">energybench {html.escape(__version__)}, generated {generated}. Uncertainties
are expanded (k=2) unless a confidence interval is named. Plots: drag to pan, wheel to zoom.</p>
{body}
</body></html>
"""


def _title(runs, comparison, histories) -> str:
    if comparison is not None:
        return f"energybench comparison: {comparison.b_path} vs {comparison.a_path}"
    if histories:
        return "energybench history: " + ", ".join(h.workload for h in histories)
    names = sorted({f"{r.workload} {r.mode}" for r in runs})
    return "energybench report: " + ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
