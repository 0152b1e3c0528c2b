"""Trace files and importers of recorded or published raw data (reads and writes files only)."""
