"""Each energy folder against its raw data: the median (sww: the mean power) results.txt
publishes must be the one the raw data give, window by window too; the windows must be the
round's count and each last at least 10 s; no runner validity error may stand."""

from __future__ import annotations

import re
from pathlib import Path

from energybench.errors import EnergybenchError, SubmissionError
from energybench.submission.check.official import BenchmarkFolder
from energybench.submission.check.problems import EnergyFigure, Problem, read_text, rel_path
from energybench.submission.check.recompute import Recomputed, recompute
from energybench.submission.manifest import changed_files
from energybench.submission.rules import (
    ENERGY_MEDIAN,
    ENERGY_WINDOWS,
    MIN_WINDOW_S,
    SWW,
    SWW_ENERGY_WINDOWS,
    SWW_POWER,
    last_match,
)
from energybench.submission.runs import is_run_folder, load_run
from energybench.submission.tree import RAW
from energybench.traces.published import PublishedResults, parse_results_txt

NOT_VALID = re.compile(r"Not valid for submission", re.IGNORECASE)


def runner_validity(root: Path, folder: Path) -> list[Problem]:
    """The runners' own "not valid for submission" lines (results.txt, log.txt)."""
    problems = []
    for name in ("results.txt", "log.txt"):
        path = folder / name
        if not path.is_file():
            continue
        lines = [line.strip() for line in read_text(path).splitlines() if NOT_VALID.search(line)]
        if lines:
            more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
            problems.append(
                Problem("error", rel_path(root, path), "runner-validity", f"{lines[0]!r}{more}")
            )
    return problems


def _recompute(root: Path, folder: BenchmarkFolder) -> Recomputed:
    raw = folder.path / RAW / "energy"
    if is_run_folder(raw):
        # a JLS recording that is not what was placed is not read: one cut inside a chunk
        # makes the JLS library (pyjls 0.17) loop; the manifest rule reports the change
        org = root / folder.division / folder.submitter
        changed = [p for p in changed_files(org, raw) if p.suffix.lower() == ".jls"]
        if changed:
            names = ", ".join(p.name for p in changed)
            raise SubmissionError(
                f"not recomputed: {names} differ(s) from the manifest", context=rel_path(root, raw)
            )
        return recompute(raw)
    return recompute(folder.path / "energy")


def _recorded_windows(root: Path, folder: BenchmarkFolder) -> list[Problem]:
    """The window lengths an energybench run recorded (results.json), each at least 10 s."""
    raw = folder.path / RAW / "energy"
    if not is_run_folder(raw):
        return []
    try:
        run = load_run(raw)
    except EnergybenchError:
        return []  # the recomputation names what is wrong with it
    where = rel_path(root, raw / "results.json")
    return [
        Problem(
            "error",
            where,
            "window-length",
            f"energy window {w['index']} recorded as {d:.3f} s < {MIN_WINDOW_S:g} s",
        )
        for w in run.valid_windows
        if (d := float(w.get("duration_s") or 0.0)) < MIN_WINDOW_S
    ]


def _published_windows(path: Path) -> PublishedResults | None:
    try:
        return parse_results_txt(path)
    except EnergybenchError:
        return None


def check_energy(
    root: Path, folder: BenchmarkFolder, tolerance: float
) -> tuple[list[Problem], EnergyFigure | None]:
    """Problems of ``folder``'s energy/ and its published-vs-recomputed figure."""
    energy = folder.path / "energy"
    if not energy.is_dir():
        return [], None
    sww = folder.benchmark == SWW
    txt = energy / "results.txt"
    text = read_text(txt) if txt.is_file() else ""
    m = last_match(SWW_POWER if sww else ENERGY_MEDIAN, text, anchored=False)
    published = _float(m.group(1)) if m else None
    unit = "mW" if sww else "uJ/inf"
    problems = runner_validity(root, energy) + _recorded_windows(root, folder)
    try:
        rec = _recompute(root, folder)
    except (EnergybenchError, OSError, ValueError) as exc:  # a bad raw file is a finding
        reason = exc.one_line() if isinstance(exc, EnergybenchError) else f"{exc}"
        problems.append(
            Problem("error", rel_path(root, energy), "energy-raw", f"cannot recompute: {reason}")
        )
        return problems, EnergyFigure(
            rel_path(root, energy), folder.benchmark, unit, published, None, "no usable raw data"
        )
    raw = rel_path(root, rec.raw_path)
    windows_at = rel_path(root, rec.windows_path)
    values = [1e3 * p for p in rec.mean_power_w] if sww else [1e6 * v for v in rec.per_inference_j]
    recomputed = (values[0] if values else None) if sww else rec.median_per_inference_j
    if recomputed is not None and not sww:
        recomputed *= 1e6
    figure = EnergyFigure(
        rel_path(root, energy),
        folder.benchmark,
        unit,
        published,
        recomputed,
        rec.source,
        len(values),
    )
    what = "mean power" if sww else "median energy per inference"
    if published is not None and figure.deviation is not None and abs(figure.deviation) > tolerance:
        problems.append(
            Problem(
                "error",
                rel_path(root, txt),
                "energy-recompute",
                f"{what} {published!r} {unit}; the raw data ({raw}) give {recomputed:.4f} {unit} "
                f"({figure.deviation:+.3%}, tolerance {tolerance:.2%})",
            )
        )
    problems += _per_window(root, txt, values, sww, tolerance, raw)
    problems += [
        Problem(
            "error",
            windows_at,
            "energy-raw",
            f"results.json records {r * 1e6:.6g} uJ for window "
            f"{k}; the trace gives {e * 1e6:.6g} uJ",
        )
        for k, (r, e) in enumerate(zip(rec.recorded_energy_j, rec.energy_j, strict=False))
        if not abs(e - r) <= tolerance * abs(e)
    ]
    problems += [
        Problem("error", rel_path(root, path), "energy-edges", text)
        for path, text in rec.edge_problems
    ]
    problems += [Problem("warning", windows_at, "energy-raw", note) for note in rec.notes]
    wanted = SWW_ENERGY_WINDOWS if sww else ENERGY_WINDOWS
    if len(values) != wanted:
        problems.append(
            Problem(
                "error",
                windows_at,
                "window-count",
                f"{len(values)} energy window(s), {wanted} required",
            )
        )
    problems += [
        Problem(
            "error",
            windows_at,
            "window-length",
            f"energy window {k} lasts {d:.3f} s < {MIN_WINDOW_S:g} s",
        )
        for k, d in enumerate(rec.duration_s)
        if d < MIN_WINDOW_S
    ]
    return problems, figure


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _per_window(
    root: Path, txt: Path, values: list[float], sww: bool, tolerance: float, raw: str
) -> list[Problem]:
    """results.txt's per-window figures against the recomputed ones, and its durations."""
    published = _published_windows(txt) if txt.is_file() else None
    if published is None or not published.windows:
        return []
    where = rel_path(root, txt)
    problems = []
    if len(published.windows) != len(values):
        problems.append(
            Problem(
                "error",
                where,
                "window-count",
                f"{len(published.windows)} window(s) listed; the raw data ({raw}) hold "
                f"{len(values)}",
            )
        )
    else:
        off = []
        for k, (pw, ours) in enumerate(zip(published.windows, values, strict=True)):
            theirs = pw.power_w * 1e3 if sww else pw.energy_per_inference_j
            if theirs is None:
                continue
            theirs = theirs if sww else theirs * 1e6
            if theirs and abs(ours / theirs - 1) > tolerance:
                off.append(f"window {k}: {theirs:g} vs {ours:.6g}")
        if off:
            problems.append(
                Problem(
                    "error",
                    where,
                    "energy-recompute",
                    f"per-window figures differ from the raw data beyond {tolerance:.2%}: "
                    + "; ".join(off),
                )
            )
    problems += [
        Problem(
            "error",
            where,
            "window-length",
            f"window {k} elapsed {pw.elapsed_s:g} s < {MIN_WINDOW_S:g} s",
        )
        for k, pw in enumerate(published.windows)
        if pw.elapsed_s is not None and pw.elapsed_s < MIN_WINDOW_S
    ]
    return problems
