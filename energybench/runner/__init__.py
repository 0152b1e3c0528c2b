"""Orchestration: bench + workload + mode -> a run folder with results."""
