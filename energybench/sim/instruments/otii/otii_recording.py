"""One recording of the simulated Otii: measured samples kept as they become final, GPI
transitions with exact timestamps, and the statistics the Otii computes over a time range.

Timestamps are seconds since the recording started; the recording starts on the instrument's
free-running sample grid (``k / sample_rate_hz`` of the timeline), so analog sample ``k`` of the
recording is the bin average over ``[t_start + k/fs, t_start + (k+1)/fs)`` of the timeline
(``"bin"`` samples, [D]: the Arc's 4 kS/s main current is assumed to average, not point-sample).
The voltage ``mv`` has its own rate: the Arc samples it at 1 kS/s while current runs at 4 kS/s
(Qoitech, "Otii and short pulses"), its sample ``j`` the average over
``[t_start + j/fv, t_start + (j+1)/fv)`` (both grids start with the recording [D]). Power ``mp``
is kept at the current's rate from the timeline's voltage [U: how the Arc derives it].
Samples are measured once (seeded noise) and stored, so data and statistics always agree.
"""

from __future__ import annotations

import math

import numpy as np

from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.timeline import Timeline

EPS = 1e-6  # of a sample: float noise far below a sample is ignored when placing times
RENDER_BLOCK = 1 << 18


def ceil_id(position: float) -> int:
    return math.ceil(position - EPS)


class _Column:
    """A float64 column that grows in place (capacity doubles): appending the samples of each
    poll stays cheap however long the recording is."""

    def __init__(self) -> None:
        self._data = np.empty(0)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data), 1024))
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end

    def view(self) -> np.ndarray:
        return self._data[: self.size]


class SimRecording:
    """The samples of one recording, extended lazily up to the timeline's final time."""

    def __init__(
        self,
        recording_id: int,
        timeline: Timeline,
        sample_rate_hz: float,
        current_model: MeasurementModel,
        voltage_model: MeasurementModel,
        pins: dict[str, str],
        analog: tuple[str, ...],
        voltage_rate_hz: float | None = None,
    ) -> None:
        self.recording_id = recording_id
        self.timeline = timeline
        self.fs = float(sample_rate_hz)
        self.rates = {"mc": self.fs, "mp": self.fs, "mv": float(voltage_rate_hz or self.fs)}
        self.grid_id = ceil_id(timeline.now_s * self.fs)  # first sample on the global grid
        self.t_start_s = self.grid_id / self.fs
        self.t_stop_s: float | None = None
        self.current_model = current_model
        self.voltage_model = voltage_model
        self.pins = dict(pins)  # channel ("i1") -> timeline pin name, enabled GPI channels only
        self.analog = analog  # enabled analog channels ("mc", "mv", "mp")
        self.initial = {ch: timeline.pin_at(pin, self.t_start_s) for ch, pin in self.pins.items()}
        self._columns = {"mc": _Column(), "mv": _Column(), "mp": _Column()}
        self.rendered = 0
        self.rendered_v = 0  # mv samples, at rates["mv"]

    @property
    def running(self) -> bool:
        return self.t_stop_s is None

    def stop(self) -> None:
        if self.t_stop_s is None:
            self.t_stop_s = max(self.timeline.now_s, self.t_start_s)

    def end_s(self) -> float:
        """Absolute time up to which the recording is final."""
        end = self.timeline.now_s if self.t_stop_s is None else self.t_stop_s
        return max(end, self.t_start_s)

    def final_count(self, rate_hz: float | None = None) -> int:
        rate = self.fs if rate_hz is None else rate_hz
        return max(0, math.floor((self.end_s() - self.t_start_s) * rate + EPS))

    # ---- analog --------------------------------------------------------------------------
    def extend(self, channel: str = "mc") -> int:
        """Measure every sample that became final; returns the channel's count."""
        target = self.final_count()
        while self.rendered < target:
            n = min(target - self.rendered, RENDER_BLOCK)
            t0 = (self.grid_id + self.rendered) / self.fs
            r = self.timeline.render(t0, self.fs, n, kind="bin")
            current = self.current_model.apply(r.current_a)
            self._columns["mc"].append(current)
            self._columns["mp"].append(current * self.voltage_model.apply(r.voltage_v))
            self.rendered += n
        fv = self.rates["mv"]
        target_v = self.final_count(fv)
        while self.rendered_v < target_v:
            n = min(target_v - self.rendered_v, RENDER_BLOCK)
            r = self.timeline.render(self.t_start_s + self.rendered_v / fv, fv, n, kind="bin")
            self._columns["mv"].append(self.voltage_model.apply(r.voltage_v))
            self.rendered_v += n
        return self.rendered_v if channel == "mv" else self.rendered

    def array(self, channel: str) -> np.ndarray:
        """The measured samples so far (a view: use it before the next :meth:`extend`)."""
        return self._columns[channel].view()

    def analog_data(self, channel: str, index: int, count: int) -> dict:
        values = self.array(channel)[index : index + count]
        rate = self.rates[channel]
        return {
            "data_type": "analog",
            "timestamp": index / rate,
            "interval": 1.0 / rate,
            "values": values.tolist(),
        }

    # ---- digital -------------------------------------------------------------------------
    def transitions(self, channel: str, delay_s: float = 0.0) -> list[dict]:
        """The initial level at timestamp 0, then every change with its exact timestamp; while
        running, changes newer than ``delay_s`` are not known yet (a GPI path slower than the
        current's)."""
        pin = self.pins[channel]
        end = self.end_s() - (delay_s if self.running else 0.0)
        times = self.timeline.edges(pin, "both", self.t_start_s, max(end, self.t_start_s))
        values = [{"timestamp": 0.0, "value": self.initial[channel]}]
        level = self.initial[channel]
        for t in times.tolist():
            if t <= self.t_start_s:
                continue
            level = not level
            values.append({"timestamp": t - self.t_start_s, "value": level})
        return values

    # ---- what the Otii reports -------------------------------------------------------------
    def count(self, channel: str, delay_s: float = 0.0) -> int:
        if channel in self.pins:
            return len(self.transitions(channel, delay_s))
        return self.extend(channel)

    def info(self, channel: str) -> dict:
        rate = self.rates.get(channel, self.fs)
        count = self.extend(channel)
        sample_rate = rate if channel in self.analog else 0
        return {"from": 0.0, "to": count / rate, "offset": 0, "sample_rate": sample_rate}

    def index_at(self, timestamp_s: float, channel: str = "mc") -> int:
        rate = self.rates.get(channel, self.fs)
        return min(max(ceil_id(timestamp_s * rate), 0), self.extend(channel))

    def statistics(self, channel: str, from_s: float, to_s: float) -> dict:
        """min/max/average of the channel and energy Σ p/fs over the bins starting in
        [from, to) ([U]: the real statistics' exact sample selection is not documented)."""
        count = self.extend()
        a = min(max(ceil_id(from_s * self.fs), 0), count)
        b = min(max(ceil_id(to_s * self.fs), a), count)
        power = self.array("mp")[a:b]
        values = power if channel == "mp" else self.array("mc")[a:b]
        if channel == "mv":  # its own, coarser grid
            rate, count_v = self.rates["mv"], self.extend("mv")
            a_v = min(max(ceil_id(from_s * rate), 0), count_v)
            values = self.array("mv")[a_v : min(max(ceil_id(to_s * rate), a_v), count_v)]
        if values.size == 0:
            return {"min": 0.0, "max": 0.0, "average": 0.0, "energy": 0.0}
        return {
            "min": float(values.min()),
            "max": float(values.max()),
            "average": float(values.mean()),
            "energy": float(np.sum(power, dtype=np.float64) / self.fs),
        }
