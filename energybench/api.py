"""The Python API: what a notebook needs, importable from ``energybench`` itself.

Run a workload on the virtual lab, then analyse, load and compare what it wrote (the examples
run as tests: ``python -m pytest energybench/api.py``):

>>> import tempfile
>>> from pathlib import Path
>>> import energybench as eb
>>> tmp = Path(tempfile.mkdtemp())
>>> quick = eb.RunOptions(min_window_s=1.0, windows=3, plots=False)  # MLPerf: 5 x 10 s
>>> with eb.virtual_lab("fast-m33", workload="kws01", folder=tmp) as lab:
...     (result,) = eb.run("kws01", lab.bench, lab.dataset, runs_dir=tmp / "runs", options=quick)
>>> result.valid, len(result.valid_windows)
(True, 3)
>>> f"{result.figures['idle_baseline_power_w'] * 1e3:.2f} mW"  # the lab DUT idles at 3 mA, 1.8 V
'5.40 mW'

The run folder, loaded (:class:`RunRecord`), re-analysed from its raw data
(:class:`Reanalysis`) and compared with itself (:class:`Comparison`):

>>> run = eb.load_run(result.folder)
>>> run.workload, run.mode
('kws01', 'energy')
>>> again = eb.analyze(result.folder, baseline=True)
>>> again.to_dict()["run"]["reproduced"]
True
>>> comparison = eb.compare(result.folder, result.folder)
>>> [(m.metric.key, m.diff.verdict) for m in comparison.metrics], comparison.exit_code
([('energy_per_inference', 'no significant change'), ('latency', 'no significant change')], 0)

Any trace file opens as a :class:`Trace` and analyses without a run folder:

>>> trace = eb.open_trace(result.folder / "trace.jls")
>>> report = eb.analyze_trace(trace)  # consecutive edges: the probe window and the 3 windows
>>> len(report.windows)
4
>>> base = eb.idle_baseline(trace, report.windows[-1].stop_position)
>>> f"{base.power_w * 1e3:.2f} mW", base.span_s >= 0.01  # a quiet span of 10 ms..1 s
('5.40 mW', True)
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from energybench.analysis.baseline import IdleBaseline, idle_baseline
from energybench.analysis.report import AnalysisReport
from energybench.analysis.report import analyze_trace as _analyze_trace
from energybench.analysis.trace import Trace
from energybench.report.compare import Comparison, compare_paths
from energybench.report.runs import RunRecord
from energybench.report.runs import find_runs as _find_runs
from energybench.report.runs import load_run as _load_run
from energybench.runner.bench import Bench
from energybench.runner.context import RunOptions
from energybench.runner.results import ModeResult
from energybench.traces.reanalysis import Reanalysis, ReanalysisOptions, reanalyze

if TYPE_CHECKING:
    from energybench.sim.lab import VirtualLab

__all__ = [
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
]


def open_trace(path: Path | str) -> Trace:
    """A ``.jls`` or ``.csv`` trace file as a file-backed :class:`Trace` (read chunk by chunk;
    a damaged JLS file is checked and recovered first, see ``docs/jls.md``)."""
    from energybench.traces.reanalysis import open_trace as _open

    return _open(Path(path))


def analyze_trace(trace: Trace, **options: Any) -> AnalysisReport:
    """Edges → windows → ∫V·I on a :class:`Trace`: keyword options of
    :func:`energybench.analysis.report.analyze_trace` (``sync_line``, ``polarity``,
    ``inferences``, ``expected_windows``, ``skip_leading_edges``, ``min_pulse_s``...)."""
    return _analyze_trace(trace, **options)


def analyze(
    path: Path | str,
    *,
    sync: str | None = None,
    polarity: str | None = None,
    inferences: int | None = None,
    windows: int | None = None,
    skip_edges: int | None = None,
    baseline: bool = False,
    **options: Any,
) -> Reanalysis:
    """What ``energybench analyze PATH`` computes, as a :class:`Reanalysis`: a trace file, a
    capture, an energybench run folder or a published runner folder, each by its own rule.
    ``baseline`` adds the idle baseline after each window; other keywords are the fields of
    :class:`~energybench.traces.reanalysis.ReanalysisOptions` (``allow_missing``...)."""
    from energybench.instruments.profiles import bounds_for_trace

    opts = ReanalysisOptions(
        sync_line=sync,
        polarity=polarity,
        inferences=inferences,
        expected_windows=windows,
        skip_edges=skip_edges,
        baseline=baseline,
        **options,
    )
    return reanalyze(path, opts, bounds_for=bounds_for_trace)


def load_run(folder: Path | str) -> RunRecord:
    """One run folder (or its results.json) as a :class:`RunRecord`: figures, windows,
    validity and provenance as written."""
    return _load_run(folder)


def find_runs(path: Path | str) -> list[RunRecord]:
    """Every energybench run at or under ``path`` (a folder of runs, a submission tree),
    oldest first."""
    return _find_runs(path)


def compare(
    a: Path | str,
    b: Path | str,
    *,
    threshold_pct: float = 0.0,
    confidence: float = 0.95,
    gate: Sequence[str] = ("energy",),
) -> Comparison:
    """B against A, as ``energybench compare A B``: per workload the differences with their
    intervals and verdicts; ``.exit_code`` is 4 when a gated figure regressed."""
    return compare_paths(a, b, threshold_pct=threshold_pct, confidence=confidence, gate=gate)


def load_bench(path: Path | str) -> Bench:
    """A bench file, every key checked (``docs/bench-file.md``)."""
    from energybench.runner.bench import load_bench as _load

    return _load(Path(path))


def run(
    workload: str | Path,
    bench: Bench | Path | str,
    dataset: Path | str,
    *,
    mode: str = "energy",
    runs_dir: Path | str = "runs",
    options: RunOptions | None = None,
) -> list[ModeResult]:
    """Run ``mode`` (``energy``, ``performance``, ``accuracy`` or ``all``) of ``workload`` on
    a bench (a :class:`Bench` or a bench file), one folder per mode under ``runs_dir``, as
    ``energybench run`` does; returns the :class:`ModeResult` of each mode."""
    from energybench.runner.run import run_workload

    if not isinstance(bench, Bench):
        bench = load_bench(bench)
    return run_workload(bench, workload, mode, Path(dataset), Path(runs_dir), options=options)


@dataclass(frozen=True)
class LabBench:
    """A running virtual lab: its :class:`Bench`, the bench file written for it, a stand-in
    dataset, and the lab itself (``lab.dut.windows`` holds the true energy of each window)."""

    lab: VirtualLab
    bench: Bench
    bench_file: Path
    dataset: Path


@contextlib.contextmanager
def virtual_lab(
    profile: str = "fast-m33",
    *,
    workload: str = "kws01",
    meter: str = "sim_stream",
    mode: str = "energy",
    folder: Path | str | None = None,
    files: int = 5,
    seed: int = 0,
) -> Iterator[LabBench]:
    """The virtual lab (simulated DUT profile ``profile``, meter ``meter`` as in
    ``energybench demo --meter``) running while the block runs; the bench file and a stand-in
    dataset of ``files`` inputs are written in ``folder`` (a new temporary folder if None)."""
    import tomllib

    from energybench.runner.bench import parse_bench
    from energybench.sim.dut.standin_data import make_standin_dataset
    from energybench.sim.lab import VirtualLab
    from energybench.sim.meters import attach_meter, bench_toml
    from energybench.workloads.definitions import load_workload

    where = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="energybench-"))
    where.mkdir(parents=True, exist_ok=True)
    dataset = make_standin_dataset(where / "data", load_workload(workload), files=files)
    with VirtualLab(profile, mode=mode, workload=workload, seed=seed) as lab:
        attach_meter(lab, meter, seed=seed)
        text = bench_toml(lab, meter)
        bench_file = where / "bench.toml"
        bench_file.write_text(text, encoding="utf-8")
        yield LabBench(lab, parse_bench(tomllib.loads(text), str(bench_file)), bench_file, dataset)
