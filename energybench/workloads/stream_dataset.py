"""The dataset of a stream workload (sww01): ``<root>/sww01/<truth json>``, the WAV files it
names living on the interface board's SD card (checked with ``ls`` when the board is reached).

Without the official truth file (``sww_long_test.json``), a folder holding exactly one other
``sww_*_test.json`` is used with a warning, and the result is marked not submission-valid: the
checker needs TP + FN == 50, the long file's wakewords (docs/mlperf-rules.md#sww-scoring)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from energybench.errors import WorkloadError
from energybench.workloads.definitions import Workload
from energybench.workloads.sww import SwwTruth, load_sww_truth

log = logging.getLogger(__name__)

FALLBACK_GLOB = "sww_*_test.json"


@dataclass(frozen=True)
class StreamDataset:
    """The streams of a truth file; ``problems`` say why a run on it cannot be submitted."""

    workload: Workload
    directory: Path
    truth_path: Path
    streams: tuple[SwwTruth, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.streams)

    @property
    def samples(self) -> tuple:
        """No downloadable inputs (the board plays the WAVs)."""
        return ()

    @property
    def wav_files(self) -> list[str]:
        return sorted({s.wav_file for s in self.streams})

    @property
    def truth_windows(self) -> int:
        return sum(len(s.windows_s) for s in self.streams)


def _truth_path(root: Path, workload: Workload) -> tuple[Path, list[str]]:
    """The official truth file, else the only ``sww_*_test.json`` (with the reason why)."""
    for directory in (root / workload.name, root):
        official = directory / workload.truth_file
        if official.is_file():
            return official, []
    directory = root / workload.name if (root / workload.name).is_dir() else root
    found = sorted(directory.glob(FALLBACK_GLOB))
    if len(found) == 1:
        problem = f"truth file {found[0].name} is not the official {workload.truth_file}"
        log.warning("%s: %s", directory, problem)
        return found[0], [problem]
    if found:
        names = ", ".join(p.name for p in found)
        raise WorkloadError(
            f"no {workload.truth_file} for {workload.name}, and {len(found)} other truth files "
            f"({names}): keep one, or name the one to use as {workload.truth_file}",
            context=str(directory),
        )
    raise WorkloadError(
        f"no {workload.truth_file} (nor any {FALLBACK_GLOB}) for {workload.name}",
        context=str(directory),
    )


def load_stream_dataset(root: Path, workload: Workload) -> StreamDataset:
    """Read and validate the truth file of a stream workload (every stream and window)."""
    if not workload.streaming:
        raise WorkloadError(f"{workload.name} is not a stream workload", context=workload.name)
    truth, problems = _truth_path(Path(root), workload)
    streams = tuple(load_sww_truth(truth))
    quality = workload.stream_quality
    windows = sum(len(s.windows_s) for s in streams)
    if quality is not None and windows != quality.checker_windows:
        problems.append(
            f"{truth.name} holds {windows} truth window(s); the submission checker requires "
            f"TP + FN == {quality.checker_windows}"
        )
    return StreamDataset(workload, truth.parent, truth, streams, tuple(problems))
