"""The table `energybench analyze` prints: one row per window, the median with its bootstrap
interval, then the rule, the checks and the comparison with published or recorded figures."""

from __future__ import annotations

import math


def _scale(values: list[float | None], base: str) -> tuple[float, str]:
    """A factor and unit prefix that keep the largest |value| readable (J → mJ, µJ, ...)."""
    peak = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    for factor, prefix in ((1.0, ""), (1e3, "m"), (1e6, "µ"), (1e9, "n")):
        if peak * factor >= 1.0:
            return factor, prefix + base
    return 1e9, "n" + base


def _fmt(value: float | None, factor: float) -> str:
    return "—" if value is None else f"{value * factor:.4f}"


def print_result(result: dict) -> None:
    from rich.table import Table

    from energybench.cli.render import data_console

    rows = result["windows"]
    e_factor, e_unit = _scale([w["energy_j"] for w in rows], "J")
    i_factor, i_unit = _scale([w["energy_per_inference_j"] for w in rows], "J")
    p_factor, p_unit = _scale([w["mean_power_w"] for w in rows], "W")
    run = result.get("run")
    table = Table(title=result["path"])
    headers = [
        "window",
        "start (s)",
        "duration (s)",
        "inferences",
        f"energy ({e_unit})",
        f"energy/inference ({i_unit})",
        f"mean power ({p_unit})",
        "missing samples",
        f"U, k=2 ({e_unit})",
    ]
    if run is not None:
        headers[1:1] = ["attempt", "file", "valid"]
        headers.append("vs results.json")
    baseline = result.get("baseline")
    if baseline is not None:
        headers += ["idle power (mW ± U)", "quiet span (ms)", f"above idle ({e_unit})"]
    for header in headers:
        table.add_column(header, justify="right")
    for k, w in enumerate(rows):
        cells = [
            str(w["index"]),
            "—" if w["start_s"] is None else f"{w['start_s']:.6f}",
            "—" if w["duration_s"] is None else f"{w['duration_s']:.6f}",
            str(w["inferences"]),
            _fmt(w["energy_j"], e_factor),
            _fmt(w["energy_per_inference_j"], i_factor),
            _fmt(w["mean_power_w"], p_factor),
            str(w["missing_samples"]) + (" (incomplete)" if w["incomplete"] else ""),
            _u_cell(result, k, e_factor),
        ]
        if run is not None:
            cells[1:1] = [str(w["attempt"]), str(w["file"]), "yes" if w["valid"] else "no"]
            diff = w.get("relative_difference")
            cells.append("—" if diff is None else f"{diff:.1e}")
        if baseline is not None:
            cells += _baseline_cells(w, e_factor)
        table.add_row(*cells)
    console = data_console()
    console.print(table)
    _print_median(console, result, (e_factor, e_unit), (i_factor, i_unit))
    _print_uncertainty(console, result, i_factor, i_unit)
    console.print(f"Rule: {result['rule']}")
    edges = result.get("edges")
    if edges is not None:
        console.print(
            f"Edges: {edges['count']} {edges['polarity']} on {edges['source']}; "
            f"{edges['glitches_dropped']} pulse(s) shorter than {edges['min_pulse_s'] * 1e6:g} µs "
            "dropped"
        )
    console.print(f"Plausibility bounds: {result['bounds']}")
    for finding in result["implausible"]:
        console.print(f"FLAGGED implausible: {_finding(finding)}")
    if result["truncated"]:
        console.print(f"FLAGGED {result['truncated']}")
    for warning in result["warnings"]:
        console.print(f"Note: {warning}")
    _print_comparison(console, result, i_factor, i_unit)
    if baseline is not None:
        _print_baseline(console, baseline, (e_factor, e_unit), (i_factor, i_unit))


def _baseline_cells(w: dict, e_factor: float) -> list[str]:
    idle, u = w.get("idle_baseline_power_w"), w.get("idle_baseline_power_uncertainty_w")
    if idle is None:
        return [f"unknown: {w.get('idle_baseline_unknown')}", "—", "—"]
    return [
        f"{idle * 1e3:.4f} ± {_fmt(u, 1e3)}",
        f"{w['idle_baseline_span_s'] * 1e3:.1f}",
        _fmt(w.get("energy_above_baseline_j"), e_factor),
    ]


def _print_baseline(console, baseline: dict, energy: tuple, per_inf: tuple) -> None:
    idle = baseline["median_idle_baseline_power_w"]
    above = baseline["median_energy_above_baseline_per_inference_j"]
    what, (factor, unit) = "energy per inference", per_inf
    if above is None:
        above, what, (factor, unit) = (
            baseline["median_energy_above_baseline_j"],
            "window energy",
            energy,
        )
    console.print(
        f"Idle baseline (quiet span after each window's end edge): "
        f"{baseline['windows_with_baseline']} of {baseline['windows']} window(s); median "
        f"{'unknown' if idle is None else f'{idle * 1e3:.4f} mW'}; median {what} above it "
        f"{'unknown' if above is None else f'{_fmt(above, factor)} {unit}'} "
        f"({baseline['note']})"
    )
    for reason in baseline["unknown"]:
        console.print(f"Idle baseline unknown: {reason}")


def _finding(f: dict) -> str:
    where = (
        [f"sample {f['sample_id']} (t = {f['time_s']:.6f} s)"] if f["sample_id"] is not None else []
    )
    if f["window"] is not None:
        where.append(f"window {f['window']}")
    more = f"; {f['count']} in all" if f["count"] > 1 else ""
    return f"{f['what']}: {f['value']} at {', '.join(where) or '?'} ({f['limit']}){more}"


def _u_cell(result: dict, k: int, factor: float) -> str:
    """A window's expanded uncertainty, "unknown" when a figure it needs is."""
    values = result.get("window_energy_uncertainty_j") or []
    value = values[k] if k < len(values) else None
    return "unknown" if value is None else f"{value * factor:.4f}"


def _print_uncertainty(console, result: dict, factor: float, unit: str) -> None:
    """The median's U (k=2), or why it is unknown."""
    u = result.get("energy_per_inference_uncertainty_j")
    status = result.get("uncertainty_status", "unknown")
    source = result.get("uncertainty_profile")
    if u is not None:
        console.print(f"U of the median (k=2): ± {u * factor:.4f} {unit} (figures: {source})")
    elif status == "known":
        console.print("U of the median (k=2): unknown (no window with inferences)")
    else:
        console.print(f"U of the median (k=2): {status}")


def _print_median(console, result: dict, energy: tuple, per_inf: tuple) -> None:
    stats = result["energy_per_inference_j"]
    what, (factor, unit) = "energy per inference", per_inf
    if stats is None:
        stats, what, (factor, unit) = result["energy_j"], "energy per window", energy
    if stats is None:
        console.print("No window to summarise.")
        return
    low, high = stats["ci_low"], stats["ci_high"]
    console.print(
        f"Median {what}: {_fmt(stats['median'], factor)} {unit} "
        f"({stats['confidence']:.0%} bootstrap CI {_fmt(low, factor)} – {_fmt(high, factor)} "
        f"{unit}, n = {stats['n']}, seed {stats['seed']})"
    )


def _print_comparison(console, result: dict, factor: float, unit: str) -> None:
    ours = result["median_energy_per_inference_j"]
    published = result.get("published_median_energy_per_inference_j")
    if published is not None and ours is not None:
        console.print(
            f"Published median ({result['runner']} runner): {published * factor:.4f} {unit} "
            f"(ours differs by {(ours / published - 1) * 100:+.3f} %)"
        )
    run = result.get("run")
    if run is None:
        return
    console.print(f"Calibration applied: {result.get('calibration') or 'none (raw)'}")
    recorded = run["recorded_median_energy_per_inference_j"]
    if recorded is not None and ours is not None:
        console.print(
            f"results.json median: {recorded * factor:.4f} {unit} (ours differs by "
            f"{run['median_relative_difference']:.1e} relative)"
        )
    verdict = "yes" if run["reproduced"] else "NO"
    console.print(
        f"Reproduces results.json: {verdict} (largest window difference "
        f"{_fmt_diff(run['max_window_relative_difference'])} relative, edges within "
        f"{_fmt_diff(run['max_position_difference_samples'])} samples; tolerance "
        f"{run['tolerance_relative']:g})"
    )


def _fmt_diff(value: float | None) -> str:
    return "—" if value is None else f"{value:.1e}"
