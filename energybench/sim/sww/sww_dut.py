"""The simulated streaming-wakeword (sww01) DUT: its firmware on a pty, its physics on a Timeline.

A :class:`SimDut` with the SWW command engine (:mod:`energybench.sim.sww.engine`) and an I2S
input the interface board plays audio into (:meth:`SimSwwDut.play_i2s`). UART, idle policy,
faults and realtime pacing are SimDut's. Physics, in simulation time:
- UART at 115200 baud in every build (``devices_sww.yaml``);
- timestamps (boot, ``start``, ``stop``, ``timestamp``): the ``timestamp`` pin low for the
  profile's ``[sww01] timestamp_hold_s`` (default: its ``timestamp_hold_s``, a timer-measured
  hold as our firmware harness does), falling edge = the timestamp. The reference's
  ``th_delay_us(1)`` holds ~1 µs, which sampled meters miss (fw-sww-delay-hang): set
  ``timestamp_hold_s = 1e-6`` in ``[sww01]`` to simulate it; ``start`` pulses it before its
  DMA starts (energy window start), ``stop`` after stopping the DMA (window end);
- ``start`` also pulses ``processing`` high for 1 µs (duty-cycle alignment, as the reference);
- while streaming, every 512 new left-channel samples complete one DMA buffer (32 ms at
  16 kHz); the frame is processed from that instant: ``processing`` high and the load at the
  profile's ``[sww01] active_current_a`` for ``frame_latency_s``, then low and idle; a frame
  whose activation ``output[0] > 115``, and the first frame after ``start``, pulls
  ``ww_detected`` low for 1 µs ending 1 µs before ``processing`` falls. A frame due while the
  previous one is still processing waits for it (the ISR is not re-entered);
- audio the board plays while the DUT is idle is ignored; a DMA buffer left partly filled at the
  end of a ``play`` is completed by the next one (the SAI keeps its position) and discarded by
  ``stop``/``start``.
Boot: the SWW ``main()`` pulses the timestamp pin once and prints nothing (no EEMBC banner).
Ground truth of each ``start``..``stop`` is appended to :attr:`SimSwwDut.streams`.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.dut.profiles import DutProfile
from energybench.sim.dut.sim_dut import SimDut
from energybench.sim.physics.timeline import Timeline
from energybench.sim.sww.engine import ACTIVATION_BUFFER_BYTES, SwwMonitor
from energybench.sim.sww.model import DETECT_THRESHOLD, STRIDE_SAMPLES, load_sww_model

log = logging.getLogger(__name__)

SWW_BAUD = 115200
PULSE_S = 1e-6  # th_delay_us(1): one TIM16 tick
WW_PIN = "ww_detected"
PROCESSING_PIN = "processing"
SWW_PINS = ((WW_PIN, True), (PROCESSING_PIN, False))  # the pins the board listens to, idle levels


@dataclass
class SwwStream:
    """Ground truth of one ``start``..``stop`` (simulation seconds)."""

    index: int
    start_s: float  # falling edge of the start timestamp
    end_s: float | None = None  # falling edge of the stop timestamp (None while streaming)
    frame_starts_s: list[float] = field(default_factory=list)  # PROCESSING rising edges
    detections_s: list[float] = field(default_factory=list)  # WW_DETECTED falling edges
    activations: list[int] = field(default_factory=list)
    energy_j: float | None = None

    @property
    def frames(self) -> int:
        return len(self.frame_starts_s)


class SimSwwDut(SimDut):
    """A simulated SWW DUT; ``start()`` boots it on a pty."""

    def __init__(
        self,
        timeline: Timeline,
        profile: DutProfile,
        *,
        mode: str = "energy",
        model: str | Path | None = None,
        seed: int = 0,
        idle_speed: float = 1.0,
        pin: str = "timestamp",
        serve_pty: bool = True,
    ) -> None:
        for name, level in SWW_PINS:
            timeline.add_pin(name, level)
        self.streaming = False
        self.streams: list[SwwStream] = []
        self.last_activations: list[int] = []
        self._pending = np.zeros(0, dtype=np.int16)
        self._first_frame = False
        self._busy_until_s = 0.0
        self._extract_called = False
        super().__init__(
            timeline,
            profile,
            mode=mode,
            workload="sww01",
            model=model,
            seed=seed,
            idle_speed=idle_speed,
            pin=pin,
            serve_pty=serve_pty,
        )

    def _configure(self, model: str | Path | None, vendor_name: str) -> None:
        self.baud = SWW_BAUD
        self.latency_s, self.active_current_a = self.profile.sww_figures()
        self.detector = load_sww_model(model)
        self.model = self.detector  # SimDut.reset() resets it
        self.firmware = SwwMonitor(self)
        log.info("simulated sww01 DUT: %s", self.detector.label)

    def _baud_for(self, mode: str) -> int:
        return SWW_BAUD

    @property
    def label(self) -> str:
        return f"sww01 {self.detector.label}"

    def boot_banner(self) -> list[str]:
        """The SWW ``main()`` prints nothing at boot."""
        return []

    def _boot_output(self) -> None:
        self.streaming = False
        self._extract_called = False
        self._pending = np.zeros(0, dtype=np.int16)
        self.timestamp()

    # ---- hooks of the SWW command engine -----------------------------------------------------
    def timestamp(self) -> None:
        """The SWW ``th_timestamp``: the pin low for the hold (energy and performance alike)."""
        hold_s = self.profile.sww_timestamp_hold_s or self.profile.timestamp_hold_s
        with self.timeline.hold():
            t = self.timeline.now_s
            self.timeline.set_pin(self.pin, t, False)
            self.timeline.advance_to(t + hold_s)
            self.timeline.set_pin(self.pin, t + hold_s, True)
        self._stamps = [*self._stamps[-1:], (t, None)]

    def set_processing_pin(self, level: bool) -> None:
        with self.timeline.hold():
            self.timeline.set_pin(PROCESSING_PIN, self.timeline.now_s, level)

    def extract_uart_stream(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame on UART-loaded samples, at the active current for a frame's time."""
        if not self._extract_called:
            self.detector.reset_stream()  # first call since boot: zeroed model input
            self._extract_called = True
        result = self.detector.extract(samples)
        self._busy(self.latency_s, self.active_current_a)
        return result

    def start_stream(self) -> None:
        """``start``: zeroed buffers, energy-window timestamp, 1 µs PROCESSING pulse, DMA on."""
        self.detector.reset_stream()
        self._pending = np.zeros(0, dtype=np.int16)
        self._first_frame = True
        self.timestamp()
        with self.timeline.hold():
            t = self.timeline.now_s
            self.timeline.set_pin(PROCESSING_PIN, t, True)
            self.timeline.advance_to(t + PULSE_S)
            self.timeline.set_pin(PROCESSING_PIN, t + PULSE_S, False)
        self.streaming = True
        self.streams.append(SwwStream(index=len(self.streams), start_s=self._stamps[-1][0]))

    def stop_stream(self) -> list[int]:
        """``stop``: DMA off, energy-window timestamp; the stream's activations."""
        self.streaming = False
        self._pending = np.zeros(0, dtype=np.int16)
        self.timestamp()
        stream = self.streams[-1]
        stream.end_s = self._stamps[-1][0]
        stream.energy_j = self.timeline.energy_j(stream.start_s, stream.end_s)
        self.last_activations = list(stream.activations)
        return self.last_activations

    # ---- the I2S input ------------------------------------------------------------------------
    def play_i2s(self, left: np.ndarray, sample_rate_hz: float) -> None:
        """Audio on the I2S input from now on (the left channel, int16); returns when the whole
        duration has passed on the timeline, frames processed on the way."""
        if sample_rate_hz <= 0:
            raise ConfigError("sample rate must be > 0", context="sample_rate_hz")
        samples = np.asarray(left, dtype=np.int16)
        # at virtual pace the whole playback is one atomic append, so an idle-clock thread
        # cannot push the clock past a frame that is still to be processed
        atomic = self.timeline.hold() if self.timeline.pace == "virtual" else nullcontext()
        with self._lock, atomic:
            t0 = self.timeline.now_s
            end_s = t0 + samples.size / sample_rate_hz
            if self.streaming:
                self._stream(samples, t0, sample_rate_hz)
            with self.timeline.hold():
                self.timeline.advance_to(end_s)
            self.timeline.sleep_until(end_s)

    def _stream(self, samples: np.ndarray, t0: float, sample_rate_hz: float) -> None:
        carried = self._pending.size
        data = np.concatenate([self._pending, samples]) if carried else samples
        frames = data.size // STRIDE_SAMPLES
        for k in range(frames):
            if not self.streaming:  # a fault or power loss stopped the DUT
                return
            due_s = t0 + ((k + 1) * STRIDE_SAMPLES - carried) / sample_rate_hz
            self._process_frame(data[k * STRIDE_SAMPLES : (k + 1) * STRIDE_SAMPLES], due_s)
        self._pending = data[frames * STRIDE_SAMPLES :].copy()

    def _process_frame(self, chunk: np.ndarray, due_s: float) -> None:
        """One DMA-complete interrupt: features + model with PROCESSING high."""
        activation = self.detector.process(chunk)
        detect = activation > DETECT_THRESHOLD or self._first_frame
        self._first_frame = False
        stream = self.streams[-1]
        with self.timeline.hold():
            if not self.timeline.supply_state(max(due_s, self.timeline.now_s))[1]:
                self.streaming = False
                return
            t = max(due_s, self.timeline.now_s, self._busy_until_s)
            self.timeline.advance_to(t)
            end_s = t + self.latency_s
            self.timeline.set_pin(PROCESSING_PIN, t, True)
            self.timeline.set_load_current(t, self.active_current_a)
            if detect:
                fall_s = max(t, end_s - 2 * PULSE_S)
                self.timeline.advance_to(fall_s)
                self.timeline.set_pin(WW_PIN, fall_s, False)
                self.timeline.advance_to(fall_s + PULSE_S)
                self.timeline.set_pin(WW_PIN, fall_s + PULSE_S, True)
                stream.detections_s.append(fall_s)
            end_s = max(end_s, self.timeline.now_s)
            self.timeline.advance_to(end_s)
            self.timeline.set_pin(PROCESSING_PIN, end_s, False)
            self.timeline.set_load_current(end_s, self.profile.idle_current_a)
        self._busy_until_s = end_s
        stream.frame_starts_s.append(t)
        if len(stream.activations) < ACTIVATION_BUFFER_BYTES:
            stream.activations.append(activation)
        self.timeline.sleep_until(end_s)
