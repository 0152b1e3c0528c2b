"""Comparisons as text: one row of display strings per figure (shared by the CLI table, the
markdown for a pull-request comment and the HTML report) and the markdown itself."""

from __future__ import annotations

import math

from energybench.report.compare import Comparison, MetricComparison
from energybench.report.statistics import BETTER, SAME, UNKNOWN, WORSE

_PREFIXES = ((1.0, ""), (1e3, "m"), (1e6, "µ"), (1e9, "n"))
VERDICT_MARK = {WORSE: "worse", BETTER: "better", SAME: "no significant change", UNKNOWN: "unknown"}


def si_scale(values: list[float], unit: str) -> tuple[float, str]:
    """A factor and prefixed unit that keep the largest |value| readable (J → mJ, µJ...)."""
    if not unit:
        return 100.0, "%"  # ratios (accuracy) in percent
    peak = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    for factor, prefix in _PREFIXES:
        if peak * factor >= 1.0:
            return factor, prefix + unit
    return 1e9, "n" + unit


def _pct(value: float | None, digits: int = 3, sign: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:{'+' if sign else ''}.{digits}f} %"


def _num(value: float, factor: float, unit: str, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * factor:.{digits}f} {unit}"


def metric_row(m: MetricComparison) -> dict[str, str]:
    """Display strings of one figure's comparison."""
    d = m.diff
    factor, unit = si_scale([m.a.value, m.b.value], m.metric.unit)
    a_ref = m.a.value
    rel = lambda v: v / abs(a_ref) if a_ref and math.isfinite(v) else math.nan  # noqa: E731
    verdict = VERDICT_MARK[d.verdict]
    if m.regression:
        verdict += " — REGRESSION"
    elif d.verdict == WORSE and m.gated:
        verdict += " (within the threshold)"
    return {
        "workload": m.workload,
        "figure": m.metric.title,
        "a": _num(m.a.value, factor, unit) + f" ± {_pm(m.a, factor)}",
        "b": _num(m.b.value, factor, unit) + f" ± {_pm(m.b, factor)}",
        "difference": f"{_num(d.difference, factor, unit)} ({_pct(d.relative)})",
        "ci": f"{_pct(rel(d.ci_low))} … {_pct(rel(d.ci_high))}",
        "mdd": _pct(rel(d.mdd), sign=False),
        "verdict": verdict,
        "basis": f"A: {m.a.basis}; B: {m.b.basis}",
        "setup": m.setup,
    }


def _pm(e, factor: float) -> str:
    """A side's U (k=2) for display: "unknown" when a figure of its budget is."""
    u = _u(e)
    return "unknown" if not math.isfinite(u) else _num(2 * u, factor, "").strip()


def _u(e) -> float:
    """A side's own standard uncertainty (every term), for display as ± 2u."""
    random_u = e.random_u if math.isfinite(e.random_u) else 0.0
    return math.sqrt(random_u**2 + e.budget_random_u**2 + e.systematic_u**2)


def explain(m: MetricComparison) -> str:
    """Why the interval is as wide as it is, in words."""
    d = m.diff
    if m.metric.gate != "energy":
        return f"{m.workload} {m.metric.title}: {m.setup}."
    accuracy = 2 * m.a.systematic_u / abs(m.a.value) if m.a.value else math.nan
    mdd = _rel(d.mdd, m.a)
    if not d.correlated:
        return (
            f"{m.workload} {m.metric.title}: {m.setup}, so the systematic errors of both sides "
            f"(U = {_pct(accuracy, 2, False)} of A, k=2) are independent and stay in the "
            "difference."
        )
    size = (
        f"U = {_pct(accuracy, 2, False)} of each value, k=2: its absolute accuracy"
        if accuracy > 0
        else "none in its profile"
    )
    text = (
        f"{m.workload} {m.metric.title}: {m.setup}. The instrument's systematic error ({size}) "
        "is common to A and B and cancels in the difference; the interval comes from the window "
        "scatter and the edge placement"
    )
    if accuracy > 0 and math.isfinite(mdd) and mdd < accuracy:
        text += (
            f", so a change of {_pct(mdd, 3, False)} is detectable, "
            f"{accuracy / mdd:.0f}× below that accuracy"
        )
    return text + "."


def _rel(value: float, e) -> float:
    return value / abs(e.value) if e.value and math.isfinite(value) else math.nan


def headline(c: Comparison) -> str:
    if c.regressions:
        what = ", ".join(f"{m.workload} {m.metric.title}" for m in c.regressions)
        return f"REGRESSION beyond {c.threshold_pct:g} %: {what}"
    return f"no regression beyond {c.threshold_pct:g} % (gated: {', '.join(c.gate)})"


def markdown(c: Comparison) -> str:
    """A table fit for a pull-request comment."""
    level = f"{c.confidence:.0%}"
    lines = [
        f"### energybench compare — {headline(c)}",
        "",
        f"A = `{c.a_path}`, B = `{c.b_path}`",
        "",
        f"| workload | figure | A (± U, k=2) | B (± U, k=2) | B − A | {level} CI of B − A | "
        "min. detectable | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in c.metrics:
        r = metric_row(m)
        verdict = f"**{r['verdict']}**" if m.diff.verdict in (WORSE, BETTER) else r["verdict"]
        lines.append(
            f"| {r['workload']} | {r['figure']} | {r['a']} | {r['b']} | {r['difference']} | "
            f"{r['ci']} | {r['mdd']} | {verdict} |"
        )
    lines += ["", *(f"- {explain(m)}" for m in c.metrics)]
    lines.append(
        f"- A and B are the means of the valid windows (of the runs' figures for folders of "
        f"several runs; MLPerf's median is in each run's results); level {level}, Welch's t "
        "with Welch–Satterthwaite degrees of freedom; minimum detectable difference at 80 % "
        f"power. Gate: {', '.join(c.gate)}; threshold {c.threshold_pct:g} %."
    )
    lines += [f"- note: {n}" for n in c.notes]
    lines += [f"- problem: {p}" for p in c.problems]
    return "\n".join(lines) + "\n"


def history_markdown(histories) -> str:
    """One table per workload: each build's figure ± U, and each step's change and verdict
    (significant steps in bold)."""
    lines: list[str] = []
    for h in histories:
        values = [b.estimate.value for b in h.builds]
        factor, unit = si_scale(values, h.metric.unit)
        lines += [
            f"### {h.workload} {h.metric.title} history ({len(h.builds)} builds)",
            "",
            f"| build | started (UTC) | {h.metric.title} ± U (k=2) | step | "
            f"{h.confidence:.0%} CI of step | min. detectable | verdict |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        steps = {s.after.label: s for s in h.steps}
        for b in h.builds:
            e = b.estimate
            value = _num(e.value, factor, unit) + f" ± {_num(2 * _u(e), factor, '').strip()}"
            s = steps.get(b.label)
            if s is None:
                lines.append(f"| {b.label} | {b.started_utc[:19]} | {value} | | | | |")
                continue
            d = s.diff
            verdict = VERDICT_MARK[d.verdict] + (" — REGRESSION" if s.regression else "")
            if s.significant:
                verdict = f"**{verdict}**"
            lines.append(
                f"| {b.label} | {b.started_utc[:19]} | {value} | {_pct(d.relative)} | "
                f"{_pct(_rel(d.ci_low, s.before.estimate))} … "
                f"{_pct(_rel(d.ci_high, s.before.estimate))} | "
                f"{_pct(_rel(d.mdd, s.before.estimate), sign=False)} | {verdict} |"
            )
        lines += [f"- note: {n}" for n in h.notes]
        lines.append("")
    return "\n".join(lines)
