"""Published raw runner data imported as a trace plus its measurement windows.

An :class:`ImportedRun` is what the MLCommons runner or the EEMBC EnergyRunner left in an
``energy/`` folder, turned into one 1 kHz ``"bin"`` :class:`Trace` (current derived from the
energy bins and the recorded voltage), one :class:`Window` per published window, and the
figures the runner published, so a re-analysis can be compared with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from energybench.analysis.trace import Trace
from energybench.analysis.windows import Window
from energybench.errors import TraceFileError, TruncatedRecordingError
from energybench.traces.published import PublishedResults, parse_results_txt

Runner = Literal["mlcommons", "eembc"]


@dataclass(frozen=True)
class ImportedRun:
    """One runner energy folder: the trace, its windows and the runner's published figures.

    ``published_*`` tuples follow ``windows`` (empty when results.txt is absent). Energies are
    in joules per inference, powers in watts. ``warnings`` lists what the importer had to
    assume or found inconsistent (never fatal problems: those raise TraceFileError).
    """

    trace: Trace
    windows: tuple[Window, ...]
    published_energy_per_inference_j: tuple[float, ...]
    published_median_energy_per_inference_j: float | None
    runner: Runner
    path: Path
    published_window_energy_j: tuple[float, ...] = ()
    published_power_w: tuple[float, ...] = ()
    published_elapsed_s: tuple[float, ...] = ()
    voltage_v: float = 0.0
    files: tuple[Path, ...] = ()
    session_id: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    rule: str = ""  # how the windows were taken from the events, for the report
    expected_windows: int | None = None  # what results.txt (or the runner) promises
    truncation: str | None = None  # set when the raw data holds fewer windows (allowed)


def find_file(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` present in ``folder``, also with the old ``energy_`` prefix."""
    for name in names:
        for candidate in (folder / name, folder / f"energy_{name}"):
            if candidate.is_file():
                return candidate
    return None


def check_truncation(
    present: int,
    expected: int | None,
    what: str,
    where: Path,
    allow_truncated: bool,
    warnings: list[str],
    last_s: float | None = None,
) -> str | None:
    """Fewer windows than ``expected`` (results.txt's, or the runner's count): a
    TruncatedRecordingError, or (allowed) the description, also added to ``warnings``."""
    if expected is None or present >= expected:
        return None
    tail = f" (last sample at t = {last_s:.6f} s)" if last_s is not None else ""
    text = f"truncated: {what} {expected} windows, the raw data holds {present}{tail}"
    if not allow_truncated:
        raise TruncatedRecordingError(text, context=str(where), remedy="allow_truncated")
    warnings.append(text)
    return text


def published_figures(
    results: PublishedResults | None, n_windows: int, warnings: list[str]
) -> dict[str, object]:
    """Per-window published tuples in window order; missing values become NaN with a warning.
    A truncated recording (fewer windows than results.txt lists, allowed by the caller) is
    compared with its first ``n_windows`` published windows."""
    if results is not None and len(results.windows) > n_windows:
        results = replace(results, windows=results.windows[:n_windows])
    if results is None:
        warnings.append("no results.txt: no published figures to compare with")
        return {
            "published_energy_per_inference_j": (),
            "published_median_energy_per_inference_j": None,
        }
    if len(results.windows) != n_windows:
        raise TraceFileError(
            f"results.txt lists {len(results.windows)} windows, the raw data has {n_windows}",
            context=str(results.path),
        )

    def column(name: str) -> tuple[float, ...]:
        values = [getattr(w, name) for w in results.windows]
        if all(v is None for v in values):
            return ()
        if any(v is None for v in values):
            warnings.append(f"results.txt lacks {name} for some windows (NaN)")
        return tuple(float("nan") if v is None else float(v) for v in values)

    if results.median_energy_per_inference_j is None:
        warnings.append("results.txt has no 'Median energy cost' line")
    return {
        "published_energy_per_inference_j": column("energy_per_inference_j"),
        "published_median_energy_per_inference_j": results.median_energy_per_inference_j,
        "published_window_energy_j": column("energy_j"),
        "published_power_w": column("power_w"),
        "published_elapsed_s": column("elapsed_s"),
    }


def read_published(folder: Path) -> PublishedResults | None:
    path = find_file(folder, "results.txt")
    return None if path is None else parse_results_txt(path)


def import_folder(path: Path, **options: object) -> ImportedRun:
    """Import the MLCommons-runner or EEMBC-EnergyRunner energy folder at or below ``path``."""
    from energybench.traces.folders import locate

    found = locate(path)
    if found.kind == "mlcommons":
        from energybench.traces.mlcommons import import_mlcommons

        return import_mlcommons(found.path, **options)  # type: ignore[arg-type]
    if found.kind == "eembc":
        from energybench.traces.eembc import import_eembc

        return import_eembc(found.path, **options)  # type: ignore[arg-type]
    raise TraceFileError(
        "not a runner energy folder: expected results.json (MLCommons runner) or "
        "trace1-energy.bin + trace1-timestamps.json (EEMBC EnergyRunner), here or in "
        f"energy/ or power/ (found: {found.kind})",
        context=str(path),
    )
