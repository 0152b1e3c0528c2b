"""An append-only piecewise-constant function of time, the building block of the Timeline."""

from __future__ import annotations

import bisect

import numpy as np

from energybench.errors import ConfigError


class Steps:
    """An append-only piecewise-constant function of time: value[k] holds on [t[k], t[k+1])."""

    def __init__(self, initial: float) -> None:
        self._t: list[float] = [0.0]
        self._v: list[float] = [float(initial)]
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def set(self, t_s: float, value: float) -> None:
        value = float(value)
        if t_s < self._t[-1]:
            raise ConfigError(f"timeline is append-only: {t_s} s is before {self._t[-1]} s")
        if value == self._v[-1]:
            return
        if t_s == self._t[-1]:
            self._v[-1] = value
            if len(self._v) > 1 and self._v[-2] == value:
                self._t.pop()
                self._v.pop()
        else:
            self._t.append(float(t_s))
            self._v.append(value)
        self._arrays = None

    def at(self, t_s: float) -> float:
        return self._v[bisect.bisect_right(self._t, t_s) - 1]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Breakpoints, values, and the running integral at each breakpoint."""
        if self._arrays is None:
            t = np.asarray(self._t, dtype=np.float64)
            v = np.asarray(self._v, dtype=np.float64)
            integral = np.concatenate(([0.0], np.cumsum(v[:-1] * np.diff(t))))
            self._arrays = (t, v, integral)
        return self._arrays

    def values_at(self, times_s: np.ndarray) -> np.ndarray:
        t, v, _ = self.arrays()
        return v[np.searchsorted(t, times_s, side="right") - 1]

    def integral_at(self, times_s: np.ndarray) -> np.ndarray:
        """∫_0^t value dt at each time (exact for the piecewise-constant series)."""
        t, v, integral = self.arrays()
        k = np.searchsorted(t, times_s, side="right") - 1
        return integral[k] + v[k] * (times_s - t[k])

    def breakpoints_in(self, t0_s: float, t1_s: float) -> list[float]:
        lo = bisect.bisect_right(self._t, t0_s)
        hi = bisect.bisect_left(self._t, t1_s)
        return self._t[lo:hi]
