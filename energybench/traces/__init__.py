"""Trace files and importers of recorded or published raw data (reads and writes files only).

- :func:`open_recording` opens whatever a path holds: a ``.jls`` or ``.csv`` trace, or an
  MLCommons-runner / EEMBC-EnergyRunner energy folder (or the benchmark folder above it).
- ``jls``: :func:`read_jls`; ``jls_writer``: :class:`JlsWriter`, :func:`write_jls`;
  ``csv_io``: :func:`read_csv`, :func:`write_csv`; ``imported``: :class:`ImportedRun`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from energybench.errors import TraceFileError

if TYPE_CHECKING:
    from energybench.analysis.trace import Trace
    from energybench.traces.imported import ImportedRun

__all__ = ["open_recording"]


def open_recording(path: Path | str, **options: object) -> Trace | ImportedRun:
    """Open a trace file (→ Trace) or a runner energy folder (→ ImportedRun).

    ``options`` go to the reader or importer (e.g. ``skip_leading_events=True`` for MLCommons
    folders, ``boot_events=`` for EEMBC folders, ``voltage_v=`` for current-only JLS files).
    """
    path = Path(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jls":
            from energybench.traces.jls import read_jls

            return read_jls(path, **options)  # type: ignore[arg-type]
        if suffix == ".csv":
            from energybench.traces.csv_io import read_csv

            return read_csv(path, **options)  # type: ignore[arg-type]
        if path.name.endswith(("results.json", "energy.bin", "timestamps.json")):
            path = path.parent
    if path.is_dir():
        from energybench.traces.imported import detect_runner, import_folder

        if detect_runner(path) is not None:
            return import_folder(path, **options)
    what = "no such file or folder" if not path.exists() else "unrecognised recording"
    raise TraceFileError(
        f"{what}: expected a .jls or .csv trace file, an MLCommons runner energy folder "
        "(results.json), an EEMBC EnergyRunner energy folder (trace1-energy.bin + "
        "trace1-timestamps.json), or a benchmark folder holding energy/ or power/",
        context=str(path),
    )
