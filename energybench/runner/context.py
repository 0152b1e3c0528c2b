"""Options and shared state of a run, and the progress interface the CLI implements."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from energybench.errors import ConfigError
from energybench.runner.bench import Bench
from energybench.runner.mlc_format import MIN_WINDOW_S
from energybench.runner.runlog import RunLog
from energybench.workloads.dataset import Dataset
from energybench.workloads.definitions import Mode, Workload
from energybench.workloads.stream_dataset import StreamDataset


class Progress(Protocol):
    """Progress reporting (the CLI draws rich bars; the library default does nothing)."""

    def start(self, label: str, total: float) -> None: ...
    def advance(self, amount: float = 1.0) -> None: ...
    def note(self, text: str) -> None: ...


class NullProgress:
    def start(self, label: str, total: float) -> None:
        pass

    def advance(self, amount: float = 1.0) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass
class RunOptions:
    """Knobs of a run; the defaults follow the MLPerf Tiny rules."""

    min_window_s: float = MIN_WINDOW_S
    windows: int | None = None  # None: the workload's count for the mode (workloads/*.toml)
    window_margin: float = 1.10  # N is scaled so the window lasts margin x min_window_s
    max_attempts: int = 3  # per window slot (first try + re-runs)
    max_dropped_samples: int = 0  # per window; any more and the window is invalid
    infer_timeout_s: float | None = None  # None: 2 x expected + 10 s
    dut_timeout_s: float = 5.0
    verify_downloads: bool = False  # db print read-back of every download
    accuracy_limit: int | None = None  # files (None: the whole set)
    plots: bool = True
    seed: int = 0
    calibration: str = "auto"  # auto | none | a record file (runner/calibration_use.py)
    label: str | None = None  # the build under test (e.g. a commit id): compare/history group by it
    # called with the mode before a mode that needs another firmware build (the virtual lab
    # re-flashes its simulated DUT; a real bench may run a flashing command)
    flash: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(
                f"max_attempts must be >= 1, got {self.max_attempts}", context="max_attempts"
            )

    def infer_timeout(self, expected_s: float) -> float:
        if self.infer_timeout_s is not None:
            return self.infer_timeout_s
        return 2.0 * max(expected_s, 0.0) + 10.0

    def scaled_inferences(self, latency_s: float, minimum: int) -> int:
        """Inferences so that one window lasts ``window_margin x min_window_s``."""
        if not latency_s > 0 or not math.isfinite(latency_s):
            return minimum
        return max(minimum, math.ceil(self.min_window_s * self.window_margin / latency_s))


@dataclass
class RunContext:
    bench: Bench
    workload: Workload
    dataset: Dataset | StreamDataset
    options: RunOptions
    runlog: RunLog
    folder: Path
    progress: Progress = field(default_factory=NullProgress)
    provenance: dict = field(default_factory=dict)
    dut_latency_s: float | None = None  # from this run's performance mode (DUT clock)
    calibration: Any = None  # the CalibrationUse of the energy mode (None: not chosen yet)

    def windows(self, mode: Mode) -> int:
        """Windows a mode needs: the option when set, else the workload's ``[modes.<mode>]``
        count (MLPerf Tiny: 5 for performance and energy, 1 stream for sww01)."""
        if self.options.windows is not None:
            return self.options.windows
        return self.workload.counts(mode).windows
