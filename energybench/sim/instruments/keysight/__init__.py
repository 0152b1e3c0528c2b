"""Simulated Keysight instruments: the N6705C power analyzer with its SMU modules, the B2900 SMU."""
