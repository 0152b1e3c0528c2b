"""A PNG per energy window: the current around the window with its two edges marked.

Long windows are drawn as a min/max envelope per pixel column (every spike stays visible)
without loading more than one window's samples; matplotlib runs headless (Agg)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from energybench.analysis.trace import Trace

log = logging.getLogger(__name__)

COLUMNS = 2000


def _envelope(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if y.size <= 2 * COLUMNS:
        return t, y, y
    n = (y.size // COLUMNS) * COLUMNS
    shaped = y[:n].reshape(COLUMNS, -1)
    with warnings.catch_warnings():  # columns of missing (NaN) samples stay empty
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            t[:n].reshape(COLUMNS, -1)[:, 0],
            np.nanmin(shaped, axis=1),
            np.nanmax(shaped, axis=1),
        )


def plot_window(
    path: Path,
    trace: Trace,
    start_position: float | None,
    stop_position: float | None,
    title: str,
) -> Path | None:
    """Write the PNG; returns its path (None, logged, when plotting fails)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        chunk = trace.read(trace.first_sample_id, trace.stop_sample_id)
        t = np.arange(chunk.n_samples) / trace.sample_rate_hz
        tt, lo, hi = _envelope(t, np.asarray(chunk.current_a, dtype=np.float64) * 1e3)
        fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
        ax.plot(tt, hi, lw=0.7, color="tab:blue", drawstyle="steps-post")
        if lo is not hi:  # min/max envelope: every spike stays visible
            ax.plot(tt, lo, lw=0.7, color="tab:blue", drawstyle="steps-post")
            ax.fill_between(tt, lo, hi, color="tab:blue", alpha=0.3, lw=0, step="post")
        for pos, label in ((start_position, "start"), (stop_position, "end")):
            if pos is not None:
                x = trace.time_s(pos)
                ax.axvline(x, color="tab:red", lw=1.0)
                ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), color="tab:red")
        ax.set_xlabel("time in the window's interval (s)")
        ax.set_ylabel("current (mA)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path
    except Exception as exc:
        log.error("cannot plot %s: %s", path, exc)
        return None
