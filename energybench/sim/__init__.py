"""The virtual lab: a simulated bench speaking the real wire protocols (tests and demo only)."""
