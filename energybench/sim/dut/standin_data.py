"""Synthetic stand-in datasets in the EEMBC layout, for demos where the real inputs are not at
hand (ic01/vww01 images are not redistributable; ad01 ships one file). The inputs are seeded
random bytes of the right size and the labels are arbitrary: accuracy figures computed on them
mean nothing, and every table that shows them says "stand-in data"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from energybench.workloads.definitions import Workload

DEFAULT_FILES = {"kws01": 50, "vww01": 6, "ic01": 20, "ad01": 6}
AD_WINDOWS_PER_FILE = 6


def make_standin_dataset(
    root: Path, workload: Workload, *, files: int | None = None, seed: int = 0
) -> Path:
    """Write ``<root>/<workload>/y_labels.csv`` and its input files; returns ``root``."""
    count = files or DEFAULT_FILES.get(workload.name, 10)
    folder = Path(root) / workload.name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(count):
        label = k % workload.classes  # every class present, so AUC is defined
        name = f"standin_{k:04d}_{label}.bin"
        if workload.windowed:
            size = workload.window_bytes + (AD_WINDOWS_PER_FILE - 1) * workload.stride_bytes  # type: ignore[operator]
            values = rng.normal(0.0, 1.0 + 0.5 * label, size // 4).astype("<f4")
            data = values.tobytes()
            rows.append(f"{name},{workload.classes},{label},{workload.window_bytes},"
                        f"{workload.stride_bytes}")  # fmt: skip
        else:
            data = rng.integers(0, 256, workload.input_bytes, dtype=np.uint8).tobytes()
            rows.append(f"{name},{workload.classes},{label}")
        (folder / name).write_bytes(data)
    (folder / workload.truth_file).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Path(root)
