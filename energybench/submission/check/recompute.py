"""Energy per window recomputed from the raw data in a tree, through the re-analysis the CLI's
``analyze`` uses (:func:`energybench.traces.reanalysis.reanalyze`), whoever wrote the data:

- energybench (``raw/energy/``: results.json and the recording): each window the run measured is
  found again in its raw file by the run's own rule (the two timestamp edges inside the interval
  results.json recorded, or a capture's trigger edges) and integrated again; its edges and
  energy are compared with what results.json records;
- MLCommons runner (``energy/results.json``: 1 ms energy bins, timestamp events): the runner's
  own rule, the last two events of each trial (noted when a trial has more);
- EEMBC EnergyRunner (``energy/trace1-energy.bin`` + ``trace1-timestamps.json``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from energybench.traces.reanalysis import Reanalysis, ReanalysisOptions, reanalyze

# a re-analysis of the same samples by the same rule finds the same edges (samples)
POSITION_TOLERANCE_SAMPLES = 1e-6
_SOURCES = {
    "mlcommons": "MLCommons runner results.json (1 ms bins)",
    "eembc": "EEMBC EnergyRunner trace1-energy.bin + timestamps",
}


@dataclass
class Recomputed:
    """Per valid window, in window order: energy, duration, inferences (SI units)."""

    source: str
    raw_path: Path  # the raw samples (trace file, results.json bins, energy.bin)
    windows_path: Path  # where the windows' edges are recorded
    energy_j: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    inferences: list[int] = field(default_factory=list)
    recorded_energy_j: list[float] = field(default_factory=list)  # what the run recorded
    notes: list[str] = field(default_factory=list)
    edge_problems: list[tuple[Path, str]] = field(default_factory=list)  # (raw file, problem)

    @property
    def per_inference_j(self) -> list[float]:
        return [e / n for e, n in zip(self.energy_j, self.inferences, strict=True) if n]

    @property
    def median_per_inference_j(self) -> float | None:
        values = self.per_inference_j
        return statistics.median(values) if values else None

    @property
    def mean_power_w(self) -> list[float]:
        return [e / d for e, d in zip(self.energy_j, self.duration_s, strict=True) if d]


def recompute(folder: Path) -> Recomputed:
    """The valid windows of the energy data in ``folder`` (an energybench run folder, or a
    runner's energy folder), re-analysed; EnergybenchError when that cannot be done (no raw
    data, truncated or implausible recordings, edges that do not pair)."""
    result = reanalyze(folder, ReanalysisOptions(runner_rule=True))
    if result.kind == "energybench run":
        return _energybench(result)
    raw = next(iter(sorted(result.path.glob("*energy.bin"))), result.path / "results.json")
    edges = next(iter(sorted(result.path.glob("*timestamps.json"))), raw)
    out = Recomputed(_SOURCES.get(result.kind, result.kind), raw, edges, notes=result.warnings)
    for row in result.rows:
        out.energy_j.append(row["energy_j"])
        out.duration_s.append(row["duration_s"])
        out.inferences.append(row["inferences"])
    return out


def _energybench(result: Reanalysis) -> Recomputed:
    rows = sorted((r for r in result.rows if r["valid"]), key=lambda r: r["index"])
    files = sorted({r["file"] for r in rows if r.get("file")})
    source = f"energybench {files[0]}" if len(files) == 1 else f"energybench {len(files)} captures"
    raw = result.path / files[0] if files else result.path
    out = Recomputed(source, raw, result.path / "results.json")
    out.notes = [w for w in result.warnings if "was invalid in the run" not in w]
    for row in rows:
        out.energy_j.append(row["energy_j"])
        out.duration_s.append(row["duration_s"])
        out.inferences.append(row["inferences"])
        out.recorded_energy_j.append(row["recorded_energy_j"])
        gap = row.get("position_difference") or 0.0
        if gap > POSITION_TOLERANCE_SAMPLES:
            out.edge_problems.append((
                result.path / (row.get("file") or "results.json"),
                f"window {row['index']}: the edges results.json records are {gap:.6g} samples "
                f"from the ones found again in {row.get('file')} by the run's rule",
            ))  # fmt: skip
    return out
