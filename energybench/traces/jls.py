"""Read JLS v2 recordings (Joulescope's file format) as file-backed :class:`Trace` objects.

Samples are read on demand through ``pyjls.Reader``; memory stays O(chunk). Signals are found by
the names Joulescope tools write: ``current`` (f32, A), ``voltage`` (f32, V), optional ``power``
(ignored: power is v·i), and u1 digital lines (``gpi[0]``…``gpi[3]``, ``trigger_in`` or any other
u1 signal); a u8 ``current_range`` (the meter's range index per sample, as energybench writes it)
becomes the chunks' ``current_range`` (Joulescope's own packed u4 ``current_range`` is not
read). Each signal may start at its own device sample id (``sample_id_offset``); signals are
aligned on absolute sample ids and the trace covers the range all of them hold.

No file reaches pyjls unchecked (see :mod:`energybench.traces.jls_check`): a file its writer
never closed (a killed recording) or a damaged one is first recovered into a temporary copy
holding every intact block, and the trace says it is partial; a file that cannot be recovered is
refused with one TraceFileError. The process never crashes on a file, whatever it holds.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from energybench.analysis.trace import SampleRange, SourceInfo, Trace, TraceChunk, true_ranges
from energybench.errors import TraceFileError
from energybench.traces.jls_check import check_jls, recover_jls

log = logging.getLogger(__name__)

JLS_EPOCH_UTC_NS = 1_514_764_800 * 1_000_000_000  # 2018-01-01T00:00:00Z, the JLS time64 epoch
TIME64_ONE_S = 1 << 30
METADATA_CHUNK_META = 0x0EB1  # user-data tag of energybench's JSON metadata record
METADATA_KEY = "energybench"
SCAN_CHUNK_SAMPLES = 1 << 20
_FSR = 0  # pyjls SignalType.FSR
_U1 = 0x103  # pyjls DataType.U1
_U8 = 0x803  # pyjls DataType.U8
RANGE_SIGNAL = "current_range"
_F32 = 0x2004  # pyjls DataType.F32


def utc_ns_to_time64(utc_ns: int) -> int:
    """UTC nanoseconds since 1970 → JLS time64 (34Q30 seconds since 2018), rounded."""
    num = (int(utc_ns) - JLS_EPOCH_UTC_NS) * TIME64_ONE_S
    return (num + 500_000_000) // 1_000_000_000


def time64_to_utc_ns(t64: int) -> int:
    """JLS time64 → UTC nanoseconds since 1970, rounded (exact inverse of the above)."""
    return JLS_EPOCH_UTC_NS + (int(t64) * 1_000_000_000 + TIME64_ONE_S // 2) // TIME64_ONE_S


def _import_pyjls():
    try:
        import pyjls
    except ImportError as exc:  # pragma: no cover - pyjls is a core dependency
        raise TraceFileError("reading JLS files needs pyjls: pip install pyjls") from exc
    return pyjls


def _close(reader: Any, cleanup: Any) -> None:
    try:
        reader.close()
    finally:
        if cleanup is not None:
            cleanup()  # the recovered copy goes with its reader


class _JlsChunkReader:
    """The ``reader`` callable of a JLS-backed trace: one open pyjls.Reader, guarded by a lock."""

    def __init__(
        self,
        path: Path,
        reader: Any,
        sample_rate_hz: float,
        signals: dict,
        cleanup: Any = None,
    ) -> None:
        self.path = path
        self._reader = reader
        self._rate = sample_rate_hz
        self._signals = signals  # name -> (signal_id, sample_id_offset, data_type, block size)
        self.digital_names = tuple(
            n for n in signals if n not in ("current", "voltage", "voltage_constant", RANGE_SIGNAL)
        )
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close, reader, cleanup)

    def close(self) -> None:
        """Close the file now (a later read raises)."""
        with self._lock:
            self._finalizer()

    def _read(self, name: str, start_id: int, count: int) -> np.ndarray:
        signal_id, offset, data_type, block = self._signals[name]
        if not self._finalizer.alive:
            raise TraceFileError("the JLS file was closed", context=str(self.path))
        rel = start_id - offset
        # pyjls 0.17 returns shifted u1 bits when a read starts inside a data block of a
        # signal whose sample_id_offset is not a multiple of 8 (Joulescope files have such
        # offsets); reads from a block start are exact, so read from there and slice.
        skip = rel % block if data_type == _U1 else 0
        try:
            raw = self._reader.fsr(signal_id, rel - skip, count + skip)
        except RuntimeError as exc:
            raise TraceFileError(
                f"cannot read {count} samples of {name!r} from sample id {start_id}: {exc}",
                context=str(self.path),
            ) from exc
        if data_type == _U1:
            bits = np.unpackbits(raw, count=count + skip, bitorder="little")[skip:]
            return bits.astype(bool)
        return raw

    def statistics(self, name: str, start_id: int, increment: int, length: int) -> np.ndarray:
        """``length`` × [mean, std, min, max] of ``name`` over consecutive spans of
        ``increment`` samples from ``start_id``, from the file's summary levels (a whole hour
        of 2 MS/s in milliseconds; pyjls approximates the inner span borders, which is right
        for drawing and wrong for integrating). NaN (dropped) samples are skipped."""
        signal_id, offset, _, _ = self._signals[name]
        with self._lock:
            if not self._finalizer.alive:
                raise TraceFileError("the JLS file was closed", context=str(self.path))
            try:
                return self._reader.fsr_statistics(signal_id, start_id - offset, increment, length)
            except RuntimeError as exc:
                raise TraceFileError(
                    f"cannot read the statistics of {name!r}: {exc}", context=str(self.path)
                ) from exc

    def __call__(self, start_id: int, stop_id: int) -> TraceChunk:
        n = stop_id - start_id
        if n == 0:
            empty = np.zeros(0, dtype=np.float32)
            return TraceChunk(
                start_id, self._rate, empty, empty, {k: empty for k in self.digital_names}
            )
        with self._lock:
            current = self._read("current", start_id, n)
            voltage: np.ndarray | float
            if "voltage" in self._signals:
                voltage = self._read("voltage", start_id, n)
            else:
                voltage = self._signals["voltage_constant"]
            digital = {name: self._read(name, start_id, n) for name in self.digital_names}
            ranges = None
            if RANGE_SIGNAL in self._signals:
                ranges = self._read(RANGE_SIGNAL, start_id, n)
        return TraceChunk(start_id, self._rate, current, voltage, digital, ranges)


def read_jls(
    path: Path | str,
    *,
    source: str | None = None,
    voltage_v: float | None = None,
    scan_missing: bool = True,
) -> Trace:
    """Open a JLS v2 recording as a file-backed trace.

    ``source`` picks one source by name when the file holds several (e.g. two Joulescopes).
    ``voltage_v`` is the rail voltage for current-only recordings. With ``scan_missing`` the
    current and voltage are scanned once, chunk by chunk, for NaN runs (dropped samples), which
    become ``trace.missing``; JLS summaries skip NaN, so there is no cheaper exact way.
    """
    path = Path(path)
    pyjls = _import_pyjls()
    if not path.is_file():
        raise TraceFileError("no such JLS file", context=str(path))
    check = check_jls(path)
    recovered = None if check.clean else recover_jls(path, check)
    cleanup = recovered.remove if recovered else None
    try:
        reader = pyjls.Reader(str(recovered.path if recovered else path))
    except (RuntimeError, ValueError, OSError) as exc:
        if cleanup:
            cleanup()
        raise TraceFileError(f"not a readable JLS v2 file: {exc}", context=str(path)) from exc
    try:
        trace = _open(path, reader, source, voltage_v, scan_missing, cleanup)
    except BaseException:
        _close(reader, cleanup)
        raise
    if recovered is not None:
        log.warning(
            "%s: %s; recovered %d samples (%.6g s) up to the last complete block: the trace "
            "is PARTIAL, later samples are lost%s",
            path, check.problem, trace.n_samples, trace.n_samples / trace.sample_rate_hz,
            f" (the copy stopped at: {recovered.copy_error})" if recovered.copy_error else "",
        )  # fmt: skip
    return trace


def _select_signals(path: Path, reader: Any, source: str | None) -> tuple[Any, dict[str, Any]]:
    fsr = [s for s in reader.signals.values() if s.signal_type == _FSR and s.signal_id != 0]
    sources = {s.source_id for s in fsr}
    if source is not None:
        matching = [k for k, v in reader.sources.items() if source in (v.name, str(k))]
        if not matching:
            names = ", ".join(repr(v.name) for v in reader.sources.values() if v.source_id)
            raise TraceFileError(f"no source {source!r}; sources: {names}", context=str(path))
        sources = {matching[0]}
    with_current = sorted({s.source_id for s in fsr if s.name == "current"} & sources)
    if not with_current:
        names = ", ".join(f"{s.name} ({s.units or '-'})" for s in fsr) or "none"
        raise TraceFileError(
            f"no 'current' signal (a JLS recording needs f32 current in A); signals: {names}",
            context=str(path),
        )
    if len(with_current) > 1:
        names = ", ".join(repr(reader.sources[k].name) for k in with_current)
        raise TraceFileError(
            f"several sources record current ({names}); choose one with source=...",
            context=str(path),
        )
    source_id = with_current[0]
    return reader.sources[source_id], {s.name: s for s in fsr if s.source_id == source_id}


def _check_units(path: Path, signal: Any, unit: str) -> None:
    """Samples are used as SI values: a signal in other units (mA, µA, mV) would silently be
    off by a factor of 1000 or more, so it is refused; no units at all is taken as SI."""
    units = (getattr(signal, "units", "") or "").strip()
    if units not in ("", unit):
        raise TraceFileError(
            f"{signal.name} is recorded in {units!r}; energybench reads it as {unit!r} "
            f"(convert the file to SI units)",
            context=str(path),
        )


def _read_metadata(reader: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def on_user_data(chunk_meta: int, data: Any) -> bool:
        if chunk_meta == METADATA_CHUNK_META:
            if isinstance(data, (bytes, str)):
                try:
                    data = json.loads(data)
                except ValueError:
                    return False
            if isinstance(data, dict) and isinstance(data.get(METADATA_KEY), dict):
                found.update(data[METADATA_KEY])
        return False

    try:
        reader.user_data(on_user_data)
    except RuntimeError:  # a crashed file may end inside a user-data chunk
        log.warning("could not read the user data of a JLS file", exc_info=True)
    return found


def _open(
    path: Path,
    reader: Any,
    source: str | None,
    voltage_v: float | None,
    scan_missing: bool,
    cleanup: Any = None,
) -> Trace:
    source_def, signals = _select_signals(path, reader, source)
    current = signals["current"]
    rate = current.sample_rate
    if not rate > 0:
        raise TraceFileError(f"current has sample rate {rate}", context=str(path))
    chosen = {"current": current}
    _check_units(path, current, "A")
    if "voltage" in signals:
        _check_units(path, signals["voltage"], "V")
        chosen["voltage"] = signals["voltage"]
    elif voltage_v is None:
        raise TraceFileError(
            "the recording has no 'voltage' signal; pass voltage_v= (the rail voltage)",
            context=str(path),
        )
    for sig in signals.values():
        if sig.data_type == _U1 and sig.name not in chosen:
            chosen[sig.name] = sig
    if RANGE_SIGNAL in signals and signals[RANGE_SIGNAL].data_type == _U8:
        chosen[RANGE_SIGNAL] = signals[RANGE_SIGNAL]
    for name, sig in list(chosen.items()):
        if sig.sample_rate != rate:
            if name in ("current", "voltage"):
                raise TraceFileError(
                    f"{name} is sampled at {sig.sample_rate} Hz, current at {rate} Hz",
                    context=str(path),
                )
            log.warning(
                "%s: skipping %s (%s Hz, current is %s Hz)", path, name, sig.sample_rate, rate
            )
            del chosen[name]
        elif name not in ("current", "voltage") and sig.length == 0:
            log.warning("%s: skipping digital line %s: it holds no samples", path, name)
            del chosen[name]
    first = max(s.sample_id_offset for s in chosen.values())
    stop = min(s.sample_id_offset + s.length for s in chosen.values())
    if current.length and stop <= first:
        raise TraceFileError(
            "the signals do not overlap in sample ids: "
            + ", ".join(
                f"{n} [{s.sample_id_offset}, {s.sample_id_offset + s.length})"
                for n, s in chosen.items()
            ),
            context=str(path),
        )
    stop = max(stop, first)
    for name, sig in chosen.items():
        end = sig.sample_id_offset + sig.length
        if sig.sample_id_offset != first or end != stop:
            log.info("%s: %s holds [%d, %d); the trace uses [%d, %d)", path, name,
                     sig.sample_id_offset, end, first, stop)  # fmt: skip
    meta = _read_metadata(reader)
    table: dict[str, Any] = {
        n: (s.signal_id, s.sample_id_offset, s.data_type, max(1, s.samples_per_data))
        for n, s in chosen.items()
    }
    if "voltage" not in chosen:
        table["voltage_constant"] = float(voltage_v)  # type: ignore[arg-type]
    chunk_reader = _JlsChunkReader(path, reader, float(rate), table, cleanup)
    t0_utc_ns = _t0_utc_ns(reader, current, first)
    missing = _scan_missing(chunk_reader, first, stop, table) if scan_missing else ()
    sample_kind = meta.get("sample_kind", "point")
    return Trace(
        sample_rate_hz=float(rate),
        first_sample_id=first,
        n_samples=stop - first,
        reader=chunk_reader,
        digital_names=chunk_reader.digital_names,
        sample_kind=sample_kind if sample_kind in ("point", "bin") else "point",
        t0_utc_ns=t0_utc_ns,
        source=_source_info(path, source_def, meta, recovered=cleanup is not None),
        missing=missing,
        calibration_id=meta.get("calibration_id"),
        metadata=meta,
    )


def _t0_utc_ns(reader: Any, current: Any, first: int) -> int:
    try:
        if reader.time_map_length(current.signal_id) == 0:
            return 0
        t64 = reader.sample_id_to_timestamp(current.signal_id, first - current.sample_id_offset)
    except (RuntimeError, ValueError):
        log.warning("the JLS file has no usable UTC time map; t0_utc_ns = 0", exc_info=True)
        return 0
    return time64_to_utc_ns(int(t64))


def _source_info(
    path: Path, source_def: Any, meta: dict[str, Any], *, recovered: bool = False
) -> SourceInfo:
    saved = meta.get("source")
    if isinstance(saved, dict):
        info = SourceInfo(**{k: str(saved.get(k, "")) for k in SourceInfo.__dataclass_fields__})
    else:
        model = " ".join(p for p in (source_def.vendor, source_def.model) if p)
        info = SourceInfo(
            instrument=model or source_def.name or "",
            serial_number=source_def.serial_number or "",
            resource=str(path),
            description=f"JLS source {source_def.name!r}",
        )
    if recovered:
        note = "PARTIAL: recovered from a file its writer never closed or that was damaged"
        info = replace(info, description="; ".join(p for p in (info.description, note) if p))
    return info


def _scan_missing(
    reader: _JlsChunkReader, first: int, stop: int, table: dict[str, Any]
) -> tuple[SampleRange, ...]:
    """NaN runs of current or voltage, found chunk by chunk and merged across chunk borders."""
    ranges: list[SampleRange] = []
    analog = [n for n in ("current", "voltage") if n in table]
    for a in range(first, stop, SCAN_CHUNK_SAMPLES):
        b = min(a + SCAN_CHUNK_SAMPLES, stop)
        with reader._lock:
            bad = np.zeros(b - a, dtype=bool)
            for name in analog:
                bad |= np.isnan(reader._read(name, a, b - a))
        for r in true_ranges(bad, a):
            if ranges and ranges[-1].stop_id == r.start_id:
                ranges[-1] = SampleRange(ranges[-1].start_id, r.stop_id)
            else:
                ranges.append(r)
    return tuple(ranges)
