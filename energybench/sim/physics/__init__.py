"""The physical truth of a simulated bench (its Timeline) and how instruments distort it."""
