"""Trace files and importers of recorded or published raw data (reads and writes files only).

- :func:`open_recording` opens whatever a path holds: a ``.jls`` or ``.csv`` trace, an
  energybench run folder, or an MLCommons-runner / EEMBC-EnergyRunner energy folder (or the
  benchmark folder above it); ``folders.locate`` says which, without reading it all.
- ``reanalysis``: :func:`~energybench.traces.reanalysis.reanalyze`, the analysis of any of them
  by its own rule, with plausibility and truncation checks (``energybench analyze``).
- ``jls``: :func:`read_jls`; ``jls_writer``: :class:`JlsWriter`, :func:`write_jls`;
  ``csv_io``: :func:`read_csv`, :func:`write_csv`; ``imported``: :class:`ImportedRun`;
  ``energybench_run``: :class:`EnergybenchRun`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energybench.analysis.trace import Trace
    from energybench.traces.energybench_run import EnergybenchRun
    from energybench.traces.imported import ImportedRun

__all__ = ["open_recording"]


def open_recording(path: Path | str, **options: object) -> Trace | ImportedRun | EnergybenchRun:
    """Open a trace file (→ Trace), an energybench run folder (→ EnergybenchRun) or a runner
    energy folder (→ ImportedRun); a folder with only results.txt raises NoRawDataError.

    ``options`` go to the reader or importer (e.g. ``skip_leading_events=True`` for MLCommons
    folders, ``boot_events=`` for EEMBC folders, ``voltage_v=`` for current-only JLS files).
    """
    from energybench.traces.folders import locate, require_raw_data

    found = locate(path)
    require_raw_data(found)
    if found.kind == "trace":
        if found.path.suffix.lower() == ".jls":
            from energybench.traces.jls import read_jls

            return read_jls(found.path, **options)  # type: ignore[arg-type]
        from energybench.traces.csv_io import read_csv

        return read_csv(found.path, **options)  # type: ignore[arg-type]
    if found.kind == "energybench":
        from energybench.traces.energybench_run import read_energybench_run

        return read_energybench_run(found.path)
    from energybench.traces.imported import import_folder

    return import_folder(found.path, **options)
