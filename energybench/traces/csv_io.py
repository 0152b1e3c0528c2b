"""Read and write traces as CSV: ``time_s,current_a,voltage_v[,<digital line>...]``.

A header row is required. Optional ``# key=value`` comment lines before it carry what the columns
cannot (``sample_rate_hz``, ``first_sample_id``, ``t0_utc_ns``, ``sample_kind``), so a trace
written here reads back with the same sample ids; ``# energybench={...}`` lines (JSON) carry the
recording's metadata (the writer's ``metadata`` before the header, ``closed`` as the last line
once the writer finished), read into ``Trace.metadata``. Time must be uniform and increasing;
the sample rate comes from the time column (checked against ``sample_rate_hz`` when given).
Digital columns hold 0 or 1; ``nan`` current or voltage marks a missing sample. CSV traces live
in memory.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from energybench.analysis.trace import SampleKind, Trace
from energybench.errors import TraceFileError

REQUIRED_COLUMNS = ("time_s", "current_a", "voltage_v")
TIME_TOLERANCE_PERIODS = 0.01  # allowed deviation of a time stamp from the uniform grid
_META_KEYS = ("sample_rate_hz", "first_sample_id", "t0_utc_ns", "sample_kind")
METADATA_PREFIX = "# energybench="
TAIL_BYTES = 4096  # the closing metadata line is within the file's last bytes


def metadata_line(metadata: Mapping[str, Any]) -> str:
    """One ``# energybench={...}`` comment line (JSON) holding ``metadata``."""
    return METADATA_PREFIX + json.dumps(dict(metadata), separators=(",", ":")) + "\n"


def _parse_metadata(path: Path, text: str, found: dict[str, Any]) -> None:
    try:
        value = json.loads(text[len(METADATA_PREFIX) :])
    except ValueError as exc:
        raise TraceFileError(
            f"unreadable metadata line {text[:60]!r}: {exc}", context=str(path)
        ) from exc
    if isinstance(value, dict):
        found.update(value)


def _tail_metadata(path: Path, found: dict[str, Any]) -> None:
    """The ``closed`` record a finished writer appended (absent in a cut file)."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - TAIL_BYTES))
        tail = f.read().decode("utf-8", errors="replace").splitlines()
    for line in tail[1:] if len(tail) > 1 else tail:
        if line.startswith(METADATA_PREFIX):
            _parse_metadata(path, line.strip(), found)


def _read_header(path: Path, extra: dict[str, Any]) -> tuple[dict[str, str], list[str], int]:
    """Comment metadata, column names and the 1-based line number of the header; the
    ``# energybench=`` lines go into ``extra``."""
    meta: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith(METADATA_PREFIX):
                _parse_metadata(path, text, extra)
                continue
            if text.startswith("#"):
                key, sep, value = text[1:].partition("=")
                if sep and key.strip() in _META_KEYS:
                    meta[key.strip()] = value.strip()
                continue
            columns = [c.strip() for c in next(csv.reader([text]))]
            return meta, columns, line_no
    raise TraceFileError("empty CSV file: a header row is required", context=str(path))


def _find_bad_row(path: Path, header_line: int, n_columns: int, digital: list[str]) -> None:
    """Slow path after a fast parse failed: raise with the first bad line's number."""
    with path.open(newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if line_no <= header_line or not row or row[0].lstrip().startswith("#"):
                continue
            if len(row) != n_columns:
                raise TraceFileError(
                    f"line {line_no}: {len(row)} values, the header has {n_columns} columns",
                    context=str(path),
                )
            for k, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    name = (REQUIRED_COLUMNS + tuple(digital))[k]
                    raise TraceFileError(
                        f"line {line_no}: column {name!r} holds {cell!r}, not a number",
                        context=str(path),
                    ) from None
    raise TraceFileError("the CSV could not be parsed", context=str(path))


def read_csv(path: Path | str) -> Trace:
    """Read a CSV trace (see the module docstring for the format)."""
    path = Path(path)
    if not path.is_file():
        raise TraceFileError("no such CSV file", context=str(path))
    extra: dict[str, Any] = {}
    meta, columns, header_line = _read_header(path, extra)
    _tail_metadata(path, extra)
    if tuple(columns[:3]) != REQUIRED_COLUMNS:
        raise TraceFileError(
            f"line {header_line}: header starts {columns[:3]}, expected "
            f"{list(REQUIRED_COLUMNS)} then digital line columns",
            context=str(path),
        )
    digital = columns[3:]
    if len(set(columns)) != len(columns) or any(not d for d in digital):
        raise TraceFileError(
            f"line {header_line}: duplicate or empty column names", context=str(path)
        )
    try:
        data = np.loadtxt(
            path, delimiter=",", skiprows=header_line, comments="#", dtype=np.float64, ndmin=2
        )
    except ValueError:
        _find_bad_row(path, header_line, len(columns), digital)
        raise  # pragma: no cover - _find_bad_row always raises
    if data.shape[0] < 2:
        raise TraceFileError("a CSV trace needs at least 2 samples", context=str(path))
    if data.shape[1] != len(columns):
        _find_bad_row(path, header_line, len(columns), digital)
    line_of = functools.partial(_row_line_number, path, header_line)  # only for errors
    rate = _check_time(path, data[:, 0], line_of, meta)
    bits = {}
    for k, name in enumerate(digital, start=3):
        col = data[:, k]
        bad = np.flatnonzero((col != 0) & (col != 1))
        if bad.size:
            raise TraceFileError(
                f"line {line_of(bad[0])}: digital column {name!r} holds {col[bad[0]]:g}, "
                "expected 0 or 1",
                context=str(path),
            )
        bits[name] = col == 1
    kind = meta.get("sample_kind", "point")
    if kind not in ("point", "bin"):
        raise TraceFileError(f"sample_kind {kind!r} must be 'point' or 'bin'", context=str(path))
    sample_kind: SampleKind = "bin" if kind == "bin" else "point"
    try:
        first_id = int(meta.get("first_sample_id", 0))
        t0_utc_ns = int(meta.get("t0_utc_ns", 0))
    except ValueError as exc:
        raise TraceFileError(f"bad metadata comment: {exc}", context=str(path)) from exc
    current, voltage = data[:, 1].copy(), data[:, 2].copy()
    missing_mask = np.isnan(current) | np.isnan(voltage)
    current[missing_mask] = np.nan  # from_arrays lists current's NaN runs as missing
    trace = Trace.from_arrays(
        current,
        voltage,
        rate,
        digital=bits,
        first_sample_id=first_id,
        sample_kind=sample_kind,
        t0_utc_ns=t0_utc_ns,
    )
    return dataclasses.replace(trace, metadata=extra) if extra else trace


def _row_line_number(path: Path, header_line: int, row: int) -> int:
    """The file line number of data row ``row`` (0-based; comments and blank lines skipped).
    Read again only to name a bad row in an error."""
    rows = 0
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            text = line.strip()
            if line_no > header_line and text and not text.startswith("#"):
                if rows == row:
                    return line_no
                rows += 1
    raise TraceFileError(f"data row {row} not found", context=str(path))  # pragma: no cover


def _check_time(
    path: Path, t: np.ndarray, line_of: Callable[[int], int], meta: dict[str, str]
) -> float:
    dt = np.diff(t)
    bad = np.flatnonzero(~(dt > 0))
    if bad.size:
        k = bad[0] + 1
        raise TraceFileError(
            f"line {line_of(k)}: time_s {t[k]:.9g} does not increase (previous {t[k - 1]:.9g})",
            context=str(path),
        )
    rate = (len(t) - 1) / (t[-1] - t[0])
    if "sample_rate_hz" in meta:
        try:
            declared = float(meta["sample_rate_hz"])
        except ValueError as exc:
            raise TraceFileError(f"bad sample_rate_hz comment: {exc}", context=str(path)) from exc
        if abs(declared - rate) > 1e-6 * declared:
            raise TraceFileError(
                f"time column gives {rate:.9g} Hz, the sample_rate_hz comment {declared:.9g} Hz",
                context=str(path),
            )
        rate = declared
    grid = t[0] + np.arange(len(t)) / rate
    off = np.abs(t - grid) * rate
    tolerance = TIME_TOLERANCE_PERIODS + 1e-9 * rate  # plus the 1 ns print resolution
    bad = np.flatnonzero(off > tolerance)
    if bad.size:
        k = bad[0]
        raise TraceFileError(
            f"line {line_of(k)}: time_s {t[k]:.9g} is {off[k]:.3g} sample periods off the uniform "
            f"{rate:.9g} Hz grid (non-uniform time)",
            context=str(path),
        )
    return float(rate)


def write_csv(
    path: Path | str,
    trace: Trace,
    *,
    chunk_samples: int = 1 << 18,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a trace as CSV chunk by chunk (time relative to the first sample, 1 ns resolution)
    with ``metadata`` before the header and a ``closed`` record as the last line.

    The file appears under its name only once complete (written as ``<name>.partial``, then
    renamed), so a writer killed mid-way never leaves a CSV whose last row is cut short."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as f:
            f.write(f"# sample_rate_hz={trace.sample_rate_hz!r}\n")
            f.write(f"# first_sample_id={trace.first_sample_id}\n")
            f.write(f"# t0_utc_ns={trace.t0_utc_ns}\n")
            f.write(f"# sample_kind={trace.sample_kind}\n")
            if metadata:
                f.write(metadata_line({"run": dict(metadata)}))
            f.write(",".join(REQUIRED_COLUMNS + trace.digital_names) + "\n")
            for chunk in trace.chunks(chunk_samples):
                ids = np.arange(chunk.first_sample_id, chunk.stop_sample_id)
                columns = [
                    (ids - trace.first_sample_id) / trace.sample_rate_hz,
                    chunk.current_a.astype(np.float64),
                    chunk.voltage_array().astype(np.float64),
                    *(chunk.digital[name].astype(np.float64) for name in trace.digital_names),
                ]
                fmt = ["%.9f", "%.17g", "%.17g"] + ["%d"] * len(trace.digital_names)
                np.savetxt(f, np.column_stack(columns), fmt=fmt, delimiter=",")
            f.write(metadata_line({"closed": {"n_samples": trace.n_samples}}))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
