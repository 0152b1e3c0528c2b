"""Workload definitions, datasets in the EEMBC layout, and scoring."""
