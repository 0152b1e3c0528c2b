"""Datasets in the EEMBC layout: ``<root>/<model>/y_labels.csv`` and the input files it names.

Validated up front (every file present, every size right, labels within the class count) so a
long run never fails half-way on a bad file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from energybench.errors import WorkloadError
from energybench.workloads.definitions import Workload


@dataclass(frozen=True)
class Sample:
    """One dataset file: its inputs (one, or every window for windowed workloads) and label."""

    file: str
    label: int
    path: Path
    windows: int

    def inputs(self, workload: Workload) -> Iterator[bytes]:
        data = self.path.read_bytes()
        if not workload.windowed:
            yield data
            return
        size, stride = workload.window_bytes, workload.stride_bytes
        for start in range(0, self.windows * stride, stride):  # type: ignore[operator]
            yield data[start : start + size]  # type: ignore[operator]

    def first_input(self, workload: Workload) -> bytes:
        return next(self.inputs(workload))


@dataclass(frozen=True)
class Dataset:
    workload: Workload
    directory: Path
    samples: tuple[Sample, ...]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def total_windows(self) -> int:
        return sum(s.windows for s in self.samples)


def _rows(truth: Path) -> Iterator[tuple[int, list[str]]]:
    with truth.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [c.strip() for c in row]
            if cells and any(cells):
                yield number, cells


def load_dataset(root: Path, workload: Workload, *, limit: int | None = None):
    """Read ``<root>/<workload.name>/<truth_file>`` (or ``root`` itself if it holds the file):
    a :class:`Dataset`, or a :class:`StreamDataset` for a stream workload (sww01)."""
    if workload.streaming:
        from energybench.workloads.stream_dataset import load_stream_dataset

        return load_stream_dataset(root, workload)
    directory = root / workload.name
    if not (directory / workload.truth_file).is_file() and (root / workload.truth_file).is_file():
        directory = root
    truth = directory / workload.truth_file
    if not truth.is_file():
        raise WorkloadError(f"no {workload.truth_file} for {workload.name}", context=str(directory))
    samples, missing = [], []
    for number, cells in _rows(truth):
        where = f"{truth}:{number}"
        if len(cells) < 3:
            raise WorkloadError("expected file,classes,label[,bytes,stride]", context=where)
        try:
            classes, label = int(cells[1]), int(cells[2])
        except ValueError:
            raise WorkloadError(
                f"classes and label must be integers: {cells}", context=where
            ) from None
        if classes != workload.classes or not 0 <= label < classes:
            raise WorkloadError(
                f"label {label} / {classes} classes does not fit {workload.name} "
                f"({workload.classes} classes)",
                context=where,
            )
        path = directory / cells[0]
        if not path.is_file():
            missing.append(cells[0])
            continue
        size = path.stat().st_size
        windows = 1
        if workload.windowed:
            try:
                window = int(cells[3]) if len(cells) > 3 else workload.window_bytes
                stride = int(cells[4]) if len(cells) > 4 else workload.stride_bytes
            except ValueError:
                raise WorkloadError(
                    f"window and stride bytes must be integers: {cells}", context=where
                ) from None
            if (window, stride) != (workload.window_bytes, workload.stride_bytes):
                raise WorkloadError(
                    f"window {window}/stride {stride} differ from the workload's "
                    f"{workload.window_bytes}/{workload.stride_bytes}",
                    context=where,
                )
            if size < window:  # type: ignore[operator]
                raise WorkloadError(
                    f"{size} bytes is shorter than one {window}-byte window", context=str(path)
                )
            windows = (size - window) // stride + 1  # type: ignore[operator]
        elif size != workload.input_bytes:
            raise WorkloadError(
                f"{size} bytes, {workload.name} inputs are {workload.input_bytes}",
                context=str(path),
            )
        samples.append(Sample(cells[0], label, path, windows))
        if limit is not None and len(samples) >= limit:
            break
    if missing:
        raise WorkloadError(
            f"{len(missing)} file(s) listed in {workload.truth_file} are missing "
            f"(first: {missing[0]})",
            context=str(directory),
        )
    if not samples:
        raise WorkloadError("the truth file lists no inputs", context=str(truth))
    return Dataset(workload, directory, tuple(samples))
