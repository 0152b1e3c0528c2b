"""`submission check`: the official checker's rules (predicting its verdict), then ours:
energy recomputed from raw data, run validity, provenance, system descriptions."""

from energybench.submission.check.checker import check_tree
from energybench.submission.check.problems import EnergyFigure, OfficialVerdict, Problem, Report

__all__ = ["EnergyFigure", "OfficialVerdict", "Problem", "Report", "check_tree"]
