"""Simulated Keithley SMUs: the 2450/2460/2461 (SCPI) and the 2600B (TSP)."""
