"""Comparisons between runs and the HTML report: reads run folders (results.json and the raw
trace), folders of runs and submission trees; never measures."""
