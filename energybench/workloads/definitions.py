"""Workload definitions: the TOML files in the top-level workloads/ folder (or a user's path)."""

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
_NOT_RUNNABLE = {
    "sww01": "the streaming wakeword benchmark is not run by energybench yet (its DUT streams "
    "audio from the interface board); score a reference runner's detections with "
    "`energybench score-sww TRUTH DETECTIONS`",
}


@dataclass(frozen=True)
class ModeCounts:
    """Inferences and warm-ups per window, and the number of windows, for one mode."""

    inferences: int
    warmups: int
    windows: int = 1


@dataclass(frozen=True)
class Workload:
    name: str
    benchmark: str
    description: str
    input_bytes: int
    input_dtype: str
    classes: int
    metric: Literal["top1", "auc"]
    quality_target: float
    truth_file: str
    reference_model: str
    modes: dict[str, ModeCounts]
    window_bytes: int | None = None
    stride_bytes: int | None = None
    source: Path | None = None

    def counts(self, mode: Mode) -> ModeCounts:
        try:
            return self.modes[mode]
        except KeyError:
            raise WorkloadError(f"no [modes.{mode}] section", context=str(self.source)) from None

    @property
    def windowed(self) -> bool:
        return self.window_bytes is not None


def _field(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise WorkloadError(f"missing field {key!r}", context=where)
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise WorkloadError(f"field {key!r} must be {kind.__name__}, got {value!r}", context=where)
    return value


def load_workload_file(path: Path) -> Workload:
    """Parse and validate one workload TOML file."""
    where = str(path)
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WorkloadError(f"cannot read workload definition: {exc}", context=where) from exc
    dtype = _field(table, "input_dtype", str, where)
    if dtype not in _DTYPES:
        raise WorkloadError(f"input_dtype must be one of {sorted(_DTYPES)}", context=where)
    metric = _field(table, "metric", str, where)
    if metric not in ("top1", "auc"):
        raise WorkloadError("metric must be 'top1' or 'auc'", context=where)
    input_bytes = _field(table, "input_bytes", int, where)
    if input_bytes <= 0 or input_bytes % _DTYPES[dtype]:
        raise WorkloadError(f"input_bytes must be a positive multiple of {dtype}", context=where)
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
    window = table.get("window_bytes")
    stride = table.get("stride_bytes")
    if (window is None) != (stride is None):
        raise WorkloadError("window_bytes and stride_bytes go together", context=where)
    return Workload(
        name=_field(table, "name", str, where),
        benchmark=_field(table, "benchmark", str, where),
        description=table.get("description", ""),
        input_bytes=input_bytes,
        input_dtype=dtype,
        classes=_field(table, "classes", int, where),
        metric=metric,  # type: ignore[arg-type]
        quality_target=_field(table, "quality_target", float, where),
        truth_file=_field(table, "truth_file", str, where),
        reference_model=table.get("reference_model", ""),
        modes=modes,
        window_bytes=window,
        stride_bytes=stride,
        source=Path(path),
    )


def load_workload(name_or_path: str | Path) -> Workload:
    """A shipped workload by name (``kws01``) or a user's definition file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return load_workload_file(candidate)
    path = data_dir("workloads") / f"{name_or_path}.toml"
    if not path.is_file() and str(name_or_path) in _NOT_RUNNABLE:
        raise WorkloadError(_NOT_RUNNABLE[str(name_or_path)], context=str(name_or_path))
    if not path.is_file():
        known = ", ".join(shipped_workloads())
        raise WorkloadError(f"unknown workload (shipped: {known})", context=str(name_or_path))
    return load_workload_file(path)


def shipped_workloads() -> list[str]:
    return sorted(p.stem for p in data_dir("workloads").glob("*.toml"))
