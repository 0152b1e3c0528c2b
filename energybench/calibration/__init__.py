"""Calibration procedures, records, corrections and the uncertainty budget."""
