"""Workload definitions: the TOML files in the top-level workloads/ folder (or a user's path).

Two kinds: ``single`` (kws01/vww01/ic01/ad01: inputs downloaded with ``db``, one ``infer`` per
window) and ``stream`` (sww01: the interface board plays WAV files to the DUT, which detects
wakewords on its own; no input size or classes, scored by TP/FN/FP against a truth JSON)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from energybench._data import data_dir
from energybench.errors import WorkloadError

Mode = Literal["performance", "energy", "accuracy"]
MODES: tuple[Mode, ...] = ("performance", "energy", "accuracy")
_DTYPES = {"int8": 1, "uint8": 1, "float32": 4}
KINDS = ("single", "stream")
_METRICS = {"single": ("top1", "auc"), "stream": ("f1",)}


@dataclass(frozen=True)
class ModeCounts:
    """Inferences and warm-ups per window, and the number of windows, for one mode."""

    inferences: int
    warmups: int
    windows: int = 1


@dataclass(frozen=True)
class StreamQuality:
    """The closed-division target of a stream workload (sww01: at most 8 FP and 8 FN) and the
    number of truth windows the official checker requires (TP + FN == 50, the long file)."""

    max_false_positives: int
    max_false_negatives: int
    checker_windows: int

    def met(self, false_positives: int, false_negatives: int) -> bool:
        return (
            false_positives <= self.max_false_positives
            and false_negatives <= self.max_false_negatives
        )


@dataclass(frozen=True)
class Workload:
    """One workload. ``input_bytes``/``input_dtype``/``classes``/``quality_target`` are None for
    a ``stream`` workload, whose target is ``stream_quality``."""

    name: str
    benchmark: str
    description: str
    input_bytes: int | None
    input_dtype: str | None
    classes: int | None
    metric: Literal["top1", "auc", "f1"]
    quality_target: float | None
    truth_file: str
    reference_model: str
    modes: dict[str, ModeCounts]
    window_bytes: int | None = None
    stride_bytes: int | None = None
    source: Path | None = None
    kind: Literal["single", "stream"] = "single"
    stream_quality: StreamQuality | None = None

    def counts(self, mode: Mode) -> ModeCounts:
        try:
            return self.modes[mode]
        except KeyError:
            raise WorkloadError(f"no [modes.{mode}] section", context=str(self.source)) from None

    @property
    def windowed(self) -> bool:
        return self.window_bytes is not None

    @property
    def streaming(self) -> bool:
        return self.kind == "stream"


def _field(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise WorkloadError(f"missing field {key!r}", context=where)
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WorkloadError(f"field {key!r} must be {kind.__name__}, got {value!r}", context=where)
    return value


def _modes(table: dict, where: str) -> dict[str, ModeCounts]:
    modes = {}
    for mode, counts in table.get("modes", {}).items():
        if mode not in MODES:
            raise WorkloadError(f"unknown mode [modes.{mode}]", context=where)
        sub = f"{where} [modes.{mode}]"
        modes[mode] = ModeCounts(
            _field(counts, "inferences", int, sub),
            _field(counts, "warmups", int, sub),
            counts.get("windows", 1),
        )
        if modes[mode].inferences < 1 or modes[mode].warmups < 0 or modes[mode].windows < 1:
            raise WorkloadError("need inferences >= 1, warmups >= 0, windows >= 1", context=sub)
    return modes


def _stream_quality(table: dict, where: str) -> StreamQuality:
    quality = StreamQuality(
        _field(table, "max_false_positives", int, where),
        _field(table, "max_false_negatives", int, where),
        _field(table, "checker_windows", int, where),
    )
    if min(quality.max_false_positives, quality.max_false_negatives) < 0:
        raise WorkloadError("max_false_positives/negatives must be >= 0", context=where)
    if quality.checker_windows < 1:
        raise WorkloadError("checker_windows must be >= 1", context=where)
    return quality


def _refuse(table: dict, keys: tuple[str, ...], kind: str, where: str) -> None:
    present = [k for k in keys if k in table]
    if present:
        raise WorkloadError(
            f"field(s) {', '.join(present)} do not apply to a {kind} workload", context=where
        )


def load_workload_file(path: Path) -> Workload:
    """Parse and validate one workload TOML file (fields checked per kind)."""
    where = str(path)
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WorkloadError(f"cannot read workload definition: {exc}", context=where) from exc
    kind = table.get("kind", "single")
    if kind not in KINDS:
        raise WorkloadError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", context=where)
    metric = _field(table, "metric", str, where)
    if metric not in _METRICS[kind]:
        allowed = " or ".join(repr(m) for m in _METRICS[kind])
        raise WorkloadError(f"metric of a {kind} workload must be {allowed}", context=where)

    def common() -> dict:
        return dict(
            name=_field(table, "name", str, where),
            benchmark=_field(table, "benchmark", str, where),
            description=table.get("description", ""),
            metric=metric,
            truth_file=_field(table, "truth_file", str, where),
            reference_model=table.get("reference_model", ""),
            modes=_modes(table, where),
            source=Path(path),
            kind=kind,
        )

    if kind == "stream":
        _refuse(
            table,
            ("input_bytes", "input_dtype", "classes", "quality_target", "window_bytes",
             "stride_bytes"),
            kind,
            where,
        )  # fmt: skip
        return Workload(
            input_bytes=None,
            input_dtype=None,
            classes=None,
            quality_target=None,
            stream_quality=_stream_quality(table, where),
            **common(),  # type: ignore[arg-type]
        )
    _refuse(table, ("max_false_positives", "max_false_negatives", "checker_windows"), kind, where)
    dtype = _field(table, "input_dtype", str, where)
    if dtype not in _DTYPES:
        raise WorkloadError(f"input_dtype must be one of {sorted(_DTYPES)}", context=where)
    input_bytes = _field(table, "input_bytes", int, where)
    if input_bytes <= 0 or input_bytes % _DTYPES[dtype]:
        raise WorkloadError(f"input_bytes must be a positive multiple of {dtype}", context=where)
    window = _field(table, "window_bytes", int, where) if "window_bytes" in table else None
    stride = _field(table, "stride_bytes", int, where) if "stride_bytes" in table else None
    if (window is None) != (stride is None):
        raise WorkloadError("window_bytes and stride_bytes go together", context=where)
    if window is not None and min(window, stride) <= 0:  # type: ignore[type-var]
        raise WorkloadError("window_bytes and stride_bytes must be positive", context=where)
    return Workload(
        input_bytes=input_bytes,
        input_dtype=dtype,
        classes=_field(table, "classes", int, where),
        quality_target=_field(table, "quality_target", float, where),
        window_bytes=window,
        stride_bytes=stride,
        **common(),  # type: ignore[arg-type]
    )


def load_workload(name_or_path: str | Path) -> Workload:
    """A shipped workload by name (``kws01``) or a user's definition file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return load_workload_file(candidate)
    path = data_dir("workloads") / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(shipped_workloads())
        raise WorkloadError(f"unknown workload (shipped: {known})", context=str(name_or_path))
    return load_workload_file(path)


def shipped_workloads() -> list[str]:
    return sorted(p.stem for p in data_dir("workloads").glob("*.toml"))
