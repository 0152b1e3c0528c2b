"""The pure analysis core (numpy/scipy, no I/O): trace model, edges, windows, integration,
statistics."""
