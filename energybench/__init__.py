"""energybench: energy-measurement-first benchmarking for TinyML systems.

The Python API (:mod:`energybench.api`) is importable from here; it loads on first use, so
``import energybench`` stays fast::

    import energybench as eb
    result = eb.analyze("examples/sample.jls", skip_edges=1, baseline=True)
"""

from __future__ import annotations

from typing import Any

from energybench._version import __version__

_API = (
    "AnalysisReport",
    "Bench",
    "Comparison",
    "IdleBaseline",
    "LabBench",
    "ModeResult",
    "Reanalysis",
    "RunOptions",
    "RunRecord",
    "Trace",
    "analyze",
    "analyze_trace",
    "compare",
    "find_runs",
    "idle_baseline",
    "load_bench",
    "load_run",
    "open_trace",
    "run",
    "virtual_lab",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """The API's names, imported from :mod:`energybench.api` when first asked for."""
    if name in _API:
        import importlib  # by name: the layers below read energybench._version, never the API

        value = getattr(importlib.import_module("energybench.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'energybench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
