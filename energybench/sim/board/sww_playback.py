"""The interface board's streaming-wakeword side: SD card, I2S playback, detection and
duty-cycle recording (docs/interface-board.md#commands,
#streaming-wakeword).

- SD card = a folder. ``ls [dir]`` lists its regular files (sorted, hidden ones skipped), one
  ``<name>\\r\\n`` line each. ``play <file>`` plays ``<folder>/<file>`` (see
  :func:`energybench.sim.sww.audio.read_wav` for what is accepted) into the DUT's I2S input:
  the left channel (a mono file's only channel) at the file's rate; the whole duration passes
  on the timeline before ``succeeded.`` is sent. A DUT without an I2S input just lets the time
  pass. Anything else (missing file, bad header, 24-bit...) gets the reference's error text.
- TIM2 counts 10 µs ticks (100 kHz, 32-bit) from ``record_detections``, which also clears the
  arrays. The board's EXTI interrupts are reproduced from the timeline's exact edges when a
  ``print_*`` command asks (the ISRs record in time order; nothing the host can see differs):
  WW_DETECTED falling edges as ``ms = TIM2/100``, kept only if > 10 ms after the previous kept
  one (or when TIM2 wrapped), at most 10000; PROCESSING rising (start) and falling (stop) edges, the
  first 100 of each, as raw ticks. The reference ISR's defects on the first detection (reads
  ``wwdet_timestamps[-1]``, unsigned ``ms - 10``; docs/reference-runner.md#runner-sww-board-isr) are
  not reproduced: the first falling edge is always kept.
- Output formats (line ends are our choice where docs/interface-board.md gives none: ``\\r\\n``):
  ``Detection Timestamps (ms)`` then ``<ms>,`` per detection; ``Duty cycle start times (s)``,
  value lines of up to 8 ``<ticks>, `` items, a blank line, ``Duty cycle stop times (s)``,
  value lines. Before any ``record_detections`` TIM2 counts from the board's start.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from energybench.sim.physics.timeline import Timeline
from energybench.sim.sww.audio import WavError, read_wav
from energybench.sim.sww.sww_dut import PROCESSING_PIN, SWW_PINS, WW_PIN

log = logging.getLogger(__name__)

TIM2_HZ = 100_000
MAX_TIMESTAMPS = 10000
MAX_FRAMES = 100
DEDUPE_MS = 10
PLAY_ERROR = "Error playing file. Check that the file exists and is a 2-channel wav file.\n"


class SwwBoardSide:
    """SD card and EXTI/TIM2 recording of one interface board."""

    def __init__(self, timeline: Timeline, sd_card: Path) -> None:
        self.timeline = timeline
        self.sd_card = Path(sd_card)
        for name, level in SWW_PINS:
            timeline.add_pin(name, level)
        self.tim2_zero_s = timeline.now_s

    # ---- SD card -----------------------------------------------------------------------------
    def ls_lines(self, args: str) -> list[str]:
        folder = self.sd_card / args.strip() if args.strip() else self.sd_card
        if not folder.is_dir():
            log.warning("ls %r: no such folder on the SD card", args)
            return []
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name[0] != ".")
        return [f"{name}\r\n" for name in names]

    def load(self, name: str):
        """The WAV to play, or None (the reason logged) when the board would fail."""
        path = self.sd_card / name
        if not name or not path.is_file():
            log.warning("play %r: no such file on the SD card %s", name, self.sd_card)
            return None
        try:
            return read_wav(path)
        except WavError as exc:
            log.warning("play %r: %s", name, exc)
            return None

    # ---- TIM2 and the EXTI recorders ---------------------------------------------------------
    def record(self) -> None:
        """``record_detections``: TIM2 := 0, arrays cleared."""
        self.tim2_zero_s = self.timeline.now_s

    def _ticks(self, times_s: np.ndarray) -> np.ndarray:
        ticks = np.floor((times_s - self.tim2_zero_s) * TIM2_HZ + 1e-6).astype(np.int64)
        return ticks & 0xFFFFFFFF

    def _edges(self, name: str, polarity: str) -> np.ndarray:
        return self.timeline.edges(name, polarity, self.tim2_zero_s, self.timeline.now_s)  # type: ignore[arg-type]

    def detections_ms(self) -> list[int]:
        kept: list[int] = []
        for ticks in self._ticks(self._edges(WW_PIN, "falling")).tolist():
            ms = ticks // 100
            if kept and kept[-1] <= ms <= kept[-1] + DEDUPE_MS:
                continue
            kept.append(ms)
            if len(kept) >= MAX_TIMESTAMPS:
                break
        return kept

    def duty_cycle_ticks(self) -> tuple[list[int], list[int]]:
        starts = self._ticks(self._edges(PROCESSING_PIN, "rising"))[:MAX_FRAMES]
        stops = self._ticks(self._edges(PROCESSING_PIN, "falling"))[:MAX_FRAMES]
        return starts.tolist(), stops.tolist()


def detections_reply(detections_ms: list[int]) -> str:
    """``print_detections``' reply (a board without an SD card has recorded nothing)."""
    lines = ["Detection Timestamps (ms)\r\n"]
    lines += [f"{ms},\r\n" for ms in detections_ms]
    return "".join(lines) + "m-ready\r\n"


def dutycycle_reply(starts: list[int], stops: list[int]) -> str:
    """``print_dutycycle``'s reply: start then stop ticks, 8 a line."""
    text = "Duty cycle start times (s)\r\n" + _rows(starts) + "\r\n"
    text += "Duty cycle stop times (s)\r\n" + _rows(stops)
    return text + "m-ready\r\n"


def _rows(values: list[int]) -> str:
    return "".join(
        "".join(f"{v}, " for v in values[i : i + 8]) + "\r\n" for i in range(0, len(values), 8)
    )
