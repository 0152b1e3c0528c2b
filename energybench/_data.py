"""Find the shipped data folders (instruments/, workloads/, calibration/).

In an installed wheel they live in ``energybench/_data/``; in a source checkout they are the
top-level folders beside the package.
"""

from __future__ import annotations

from pathlib import Path

from energybench.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent
_KINDS = ("instruments", "workloads", "calibration")


def data_dir(kind: str) -> Path:
    """The folder holding the shipped ``kind`` definitions (TOML files)."""
    if kind not in _KINDS:
        raise ConfigError(f"unknown data kind {kind!r}; expected one of {', '.join(_KINDS)}")
    for candidate in (_PACKAGE_DIR / "_data" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"shipped {kind}/ folder not found next to {_PACKAGE_DIR}", context=kind)
