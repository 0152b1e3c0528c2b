"""The official checker's summary CSV: an unquoted header, then one row per accepted result
with every value double-quoted. The rows are built in a pandas DataFrame the way that tool
builds them (empty object columns, one row appended at a time), so column types, and with them
number formats such as ``0`` vs ``0.0``, come out as in its file and the two can be diffed."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = (
    "Organization",
    "Availability",
    "Division",
    "BoardName",
    "SystemDesc",
    "Model",
    "MlperfModel",
    "Result",
    "ResultUnit",
    "Accuracy",
    "HasPower",
    "Power",
    "PowerUnit",
    "HostProcessorModelName",
    "HostProcessorFrequency",
    "HostProcessorMemory",
    "AcceleratorModelName",
    "AcceleratorFrequency",
    "AcceleratorMemory",
    "HardwareNotes",
    "InferenceFramework",
    "SoftwareLibraries",
    "SoftwareNotes",
    "FalsePositives",  # from v1.3 on
    "FalseNegatives",
    "DutyCycle",
)


def write_summary_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts keyed by :data:`COLUMNS`) as the official summary CSV."""
    import pandas as pd

    frame = pd.DataFrame()
    for column in COLUMNS:
        frame.insert(len(frame.columns), column, None)
    for row in rows:
        frame.loc[len(frame)] = {c: row.get(c) for c in COLUMNS}
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        frame[:0].to_csv(handle, index=False, quoting=csv.QUOTE_NONE)
        frame.to_csv(handle, index=False, header=False, quoting=csv.QUOTE_ALL, quotechar='"')
    return Path(path)
