"""Import an EEMBC EnergyRunner energy folder (``trace1-energy.bin`` + ``trace1-timestamps.json``).

``trace1-energy.bin`` is one byte 0xF1, a little-endian float32 sample rate, then one float32 per
bin holding that bin's energy in µJ (reverse-engineered from LPM01A files, see
docs/published-results.md#eembc-energy-folder; a Joulescope-era tool documents joules, hence
``energy_unit``). ``trace1-timestamps.json`` lists the timestamp-pin events in seconds. The first
``boot_events`` (default 1, the pulse ``th_timestamp_initialize()`` gives at boot) are not window
edges; the rest pair into windows (t[1], t[2]), (t[3], t[4]), …; an odd remainder is an error.
Fewer windows than results.txt lists (or script.async runs), or windows cut off by the end of the
energy file, make the folder truncated: TruncatedRecordingError unless ``allow_truncated``.

Inferences per window come from the folder's own files: the ``io dut infer N W`` commands in
log.txt (what ran), else script.async, else ``m-bm-cfg-name[ulp-ml]-key[iterInfer]-val[N]``.
The voltage is the one the energy monitor reported (``m-voltage-mv[...]`` in log.txt), else the
``emon voltage N`` command; absent both, ``default_voltage_v`` with a warning.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from energybench.analysis.trace import SourceInfo, Trace
from energybench.analysis.windows import Window
from energybench.errors import TraceFileError, TruncatedRecordingError
from energybench.traces.imported import (
    ImportedRun,
    check_truncation,
    find_file,
    published_figures,
    read_published,
)
from energybench.traces.published import PublishedResults

EnergyUnit = Literal["auto", "uJ", "J"]
UNIT_AGREEMENT = 0.05  # "auto" accepts a unit whose window energies are within 5 % of published
MAGIC = 0xF1
HEADER_BYTES = 5
DEFAULT_VOLTAGE_V = 3.0
_INFER_CMD = re.compile(r"io dut infer\s+(\d+)(?:\s+(\d+))?")
_LOG_INFER_CMD = re.compile(r'parser: Command "io dut infer\s+(\d+)')
_ITER_INFER = re.compile(r"m-bm-cfg-name\[ulp-ml\]-key\[iterInfer\]-val\[(\d+)\]")
_VOLTAGE_MV = re.compile(r"m-voltage-mv\[(\d+(?:\.\d+)?)\]")
_VOLTAGE_CMD = re.compile(r"emon voltage\s+(\d+(?:\.\d+)?)")
_SESSION = re.compile(r"m-session-start-id\[(\w+)\]")
_MONITOR = re.compile(r"m-regfile-fn\[[^\]]*energy\.bin\]-type\[emon\]-name\[(\w+)\]")


def read_energy_bin(path: Path) -> tuple[float, np.ndarray]:
    """Sample rate and per-bin energies (µJ, float64) of an EnergyRunner energy file."""
    data = path.read_bytes()
    if len(data) < HEADER_BYTES:
        raise TraceFileError(
            f"{len(data)} bytes: too short for the 5-byte header (0xF1 + float32 rate)",
            context=str(path),
        )
    if data[0] != MAGIC:
        raise TraceFileError(
            f"bad magic byte 0x{data[0]:02X} (expected 0xF1): not an EnergyRunner energy file",
            context=str(path),
        )
    rate = float(np.frombuffer(data, dtype="<f4", count=1, offset=1)[0])
    if not (math.isfinite(rate) and rate > 0):
        raise TraceFileError(f"sample rate {rate} in the header is not positive", context=str(path))
    body = len(data) - HEADER_BYTES
    if body % 4:
        raise TraceFileError(
            f"truncated: {body} bytes after the header is not a whole number of float32 samples",
            context=str(path),
        )
    return rate, np.frombuffer(data, dtype="<f4", offset=HEADER_BYTES).astype(np.float64)


def read_timestamps(path: Path) -> list[float]:
    try:
        times = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"not valid JSON: {exc}", context=str(path)) from exc
    if not isinstance(times, list) or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in times
    ):
        raise TraceFileError("expected a list of times in seconds", context=str(path))
    if times and times[0] < 0:
        raise TraceFileError(f"negative event time {times[0]} s", context=str(path))
    if any(b < a for a, b in itertools.pairwise(times)):
        raise TraceFileError(f"times are not in increasing order: {times}", context=str(path))
    return [float(t) for t in times]


def _position(t_s: float, rate: float) -> float:
    """Sample position of a time; snaps decimal-print noise (2.73 * 1000) to the integer."""
    pos = t_s * rate
    return float(round(pos)) if abs(pos - round(pos)) < 1e-6 else pos


def _text(path: Path | None) -> str:
    return "" if path is None else path.read_bytes().decode("utf-8", errors="replace")


def _inferences(log: str, script: str, n: int, warnings: list[str]) -> list[int]:
    sources = [
        ("log.txt 'io dut infer' commands", [int(x) for x in _LOG_INFER_CMD.findall(log)]),
        ("script.async 'io dut infer' commands", [int(m[0]) for m in _INFER_CMD.findall(script)]),
    ]
    iter_infer = [int(x) for x in _ITER_INFER.findall(log)]
    chosen: list[int] | None = None
    for name, counts in sources:
        if not counts:
            continue
        if len(counts) != n:
            warnings.append(f"{name}: {len(counts)} found for {n} windows; not used")
            continue
        chosen = counts
        break
    if chosen is None and iter_infer:
        chosen = [iter_infer[-1]] * n
    if chosen is None:
        warnings.append("no inference count in log.txt or script.async: inferences = 0 (unknown)")
        return [0] * n
    if iter_infer and any(c != iter_infer[-1] for c in chosen):
        warnings.append(f"inference counts {chosen} differ from iterInfer={iter_infer[-1]}")
    return chosen


def _voltage(log: str, script: str, default_v: float, warnings: list[str]) -> float:
    reported = _VOLTAGE_MV.findall(log)
    commanded, where = _VOLTAGE_CMD.findall(log), "log.txt"
    if not commanded:
        commanded, where = _VOLTAGE_CMD.findall(script), "script.async"
    if reported:
        volts = float(reported[-1]) / 1000.0
        if commanded and float(commanded[-1]) / 1000.0 != volts:
            warnings.append(
                f"{where} commands 'emon voltage {commanded[-1]}' but the monitor reported "
                f"m-voltage-mv[{reported[-1]}] in log.txt; using {volts} V"
            )
        return volts
    if commanded:
        return float(commanded[-1]) / 1000.0
    warnings.append(f"no voltage in log.txt or script.async: assuming {default_v} V")
    return default_v


def import_eembc(
    folder: Path,
    *,
    boot_events: int = 1,
    default_voltage_v: float = DEFAULT_VOLTAGE_V,
    energy_unit: EnergyUnit = "auto",
    allow_truncated: bool = False,
) -> ImportedRun:
    """Import the energy folder written by the EEMBC EnergyRunner (see module docstring).

    ``energy_unit`` is the unit of the bins: "uJ" (LPM01A files), "J", or "auto": µJ unless
    the published window energies are reproduced only by J (then J, with a warning).
    """
    folder = Path(folder)
    bins = sorted(folder.glob("*energy.bin"))
    if not bins:
        raise TraceFileError("no *energy.bin file", context=str(folder))
    bin_path = next((p for p in bins if p.name == "trace1-energy.bin"), bins[0])
    if len(bins) > 1 and bin_path.name != "trace1-energy.bin":
        raise TraceFileError(
            f"several energy files {[p.name for p in bins]}; none is trace1-energy.bin",
            context=str(folder),
        )
    ts_path = bin_path.with_name(bin_path.name.replace("energy.bin", "timestamps.json"))
    if not ts_path.is_file():
        raise TraceFileError(f"missing: the events of {bin_path.name}", context=str(ts_path))
    rate, energy = read_energy_bin(bin_path)
    times = read_timestamps(ts_path)
    if boot_events < 0 or boot_events > len(times):
        raise TraceFileError(
            f"{len(times)} events, cannot skip {boot_events} boot events", context=str(ts_path)
        )
    edges = times[boot_events:]
    if not edges:
        raise TraceFileError(
            f"no window edges: {len(times)} events, {boot_events} of them boot pulses",
            context=str(ts_path),
        )
    warnings: list[str] = []
    log_path = find_file(folder, "log.txt")
    script_path = find_file(folder, "script.async")
    log, script = _text(log_path), _text(script_path)
    published = read_published(folder)
    planned = len(_INFER_CMD.findall(script)) or None  # the windows the script runs
    expected = len(published.windows) if published is not None else planned
    what = "results.txt lists" if published is not None else "script.async runs"
    n = len(energy)
    edges = _pairable(
        edges, times, boot_events, published, expected, what, ts_path, allow_truncated
    )
    complete = [k for k in range(len(edges) // 2) if _position(edges[2 * k + 1], rate) <= n]
    if len(complete) < len(edges) // 2:
        last = _position(times[-1], rate)
        cut = (
            f"timestamp {times[-1]} s needs {math.ceil(last)} bins, {bin_path.name} has only "
            f"{n} ({n / rate:.3f} s)"
        )
        if not allow_truncated:
            raise TruncatedRecordingError(
                f"truncated: {cut}: the timestamps promise {len(edges) // 2} windows, the raw "
                f"data holds {len(complete)}",
                context=str(ts_path),
                remedy="allow_truncated",
            )
        warnings.append(f"{cut}: windows after {len(complete)} are cut off")
        edges = edges[: 2 * len(complete)]
    truncation = check_truncation(
        len(edges) // 2, expected, what, ts_path, allow_truncated, warnings, n / rate
    )
    if published is not None and len(published.windows) > len(edges) // 2:
        published = replace(published, windows=published.windows[: len(edges) // 2])
    voltage = _voltage(log, script, default_voltage_v, warnings)
    counts = _inferences(log, script, len(edges) // 2, warnings)
    windows = tuple(
        Window(k, _position(a, rate), _position(b, rate), counts[k])
        for k, (a, b) in enumerate(zip(edges[::2], edges[1::2], strict=True))
    )
    figures = published_figures(published, len(windows), warnings)
    if published is not None:
        _check_published(published, windows, edges, warnings)
    joules_per_unit = _unit_scale(energy, windows, published, energy_unit, warnings)
    monitor = _MONITOR.search(log)
    trace = Trace.from_arrays(
        energy * joules_per_unit * rate / voltage,
        voltage,
        rate,
        sample_kind="bin",
        source=SourceInfo(
            instrument=f"EEMBC EnergyRunner ({monitor[1] if monitor else 'energy monitor'})",
            resource=str(bin_path),
            description="energy bins from trace1-energy.bin; current = E / (V / rate)",
        ),
    )
    session = _SESSION.search(log)
    files = (bin_path, ts_path, *(p for p in (find_file(folder, "results.txt"), log_path,
                                                script_path) if p))  # fmt: skip
    return ImportedRun(
        trace=trace,
        windows=windows,
        runner="eembc",
        path=folder,
        voltage_v=voltage,
        files=files,
        session_id=session[1] if session else None,
        warnings=tuple(warnings),
        rule=f"EEMBC EnergyRunner: {boot_events} boot event(s), then consecutive pairs",
        expected_windows=expected,
        truncation=truncation,
        **figures,  # type: ignore[arg-type]
    )


def _pairable(
    edges: list[float],
    times: list[float],
    boot_events: int,
    published: PublishedResults | None,
    expected: int | None,
    what: str,
    ts_path: Path,
    allow_truncated: bool,
) -> list[float]:
    """The window edges, paired. An odd count is either another number of events before the
    windows (they would then pair into the expected windows) or a last window cut off (fewer
    windows than expected); results.txt's window start times decide between the two when it
    has them. A cut-off window is dropped when allowed; anything else is an error."""
    if len(edges) % 2 == 0:
        return edges
    text = (
        f"{len(edges)} events after {boot_events} boot pulse(s) do not pair into windows "
        f"(odd edge count): {times}"
    )
    if expected is None:
        raise TraceFileError(text, context=str(ts_path))
    boot = len(times) - 2 * expected
    starts = [w.start_s for w in published.windows] if published is not None else []
    other_boot = boot >= 0 and boot != boot_events and _starts_match(times[boot::2], starts)
    cut = len(edges) // 2 < expected and _starts_match(edges[::2], starts)
    if cut and not other_boot:
        if not allow_truncated:
            raise TruncatedRecordingError(
                f"truncated: {text}; the last window has no end; {what} {expected} windows, "
                f"the raw data holds {len(edges) // 2}",
                context=str(ts_path),
                remedy="allow_truncated",
            )
        return edges[:-1]
    if other_boot:
        raise TraceFileError(
            f"{text}; {what} {expected} windows: {boot} event(s) before them would pair"
            + (" (or the last window was cut off)" if cut else ""),
            context=str(ts_path),
            remedy="skip_edges",
            skip_edges=boot,
        )
    raise TraceFileError(text, context=str(ts_path))


def _starts_match(starts: list[float], published: list[float | None]) -> bool:
    """Whether window starts agree with results.txt's (within its 10 ms print resolution);
    True when results.txt gives none to compare with."""
    pairs = [(a, b) for a, b in zip(starts, published, strict=False) if b is not None]
    return all(abs(a - b) <= 0.011 for a, b in pairs)


def _check_published(published, windows, edges, warnings: list[str]) -> None:
    """Published window k must be the pair ending at event k; inference counts must agree."""
    for window, pw in zip(windows, published.windows, strict=True):
        expected_number = 2 * (window.index + 1)
        if pw.number != expected_number:
            warnings.append(
                f"results.txt window {pw.number} taken as window {window.index} "
                f"(expected number {expected_number})"
            )
        start = edges[2 * window.index]
        if pw.start_s is not None and abs(pw.start_s - start) > 0.011:
            warnings.append(
                f"results.txt window {pw.number} starts at {pw.start_s} s, the timestamps at "
                f"{start} s"
            )
        if pw.inferences is not None and window.inferences and pw.inferences != window.inferences:
            raise TraceFileError(
                f"window {pw.number}: results.txt says {pw.inferences} inferences, the log "
                f"{window.inferences}",
                context=str(published.path),
            )


def _unit_scale(energy, windows, published, energy_unit: str, warnings: list[str]) -> float:
    """Joules per bin unit. "auto" checks the published window energies when there are any."""
    if energy_unit in ("uJ", "J"):
        return 1e-6 if energy_unit == "uJ" else 1.0
    if energy_unit != "auto":
        raise TraceFileError(f"energy_unit must be 'auto', 'uJ' or 'J', got {energy_unit!r}")
    pairs = [
        (float(np.sum(energy[round(w.start_position) : round(w.stop_position)])), pw.energy_j)
        for w, pw in zip(windows, published.windows if published else (), strict=False)
        if pw.energy_j
    ]
    if not pairs:
        return 1e-6
    ratio = float(np.median([raw / published_j for raw, published_j in pairs]))  # units per J
    if abs(ratio * 1e-6 - 1) <= UNIT_AGREEMENT:
        return 1e-6
    if abs(ratio - 1) <= UNIT_AGREEMENT:
        warnings.append("the energy bins reproduce the published energies only as joules: J used")
        return 1.0
    warnings.append(
        f"with µJ bins the window energies are {ratio * 1e-6:.4g} x the published ones "
        "(neither µJ nor J agrees); µJ used"
    )
    return 1e-6
