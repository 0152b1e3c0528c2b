"""Simulated Nordic Semiconductor instruments (the Power Profiler Kit II) on a pseudo-terminal."""
