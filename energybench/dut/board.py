"""The interface board's own streaming-wakeword commands (docs/interface-board.md#commands):
``ls``, ``record_detections``, ``play <file>``, ``print_detections``, ``print_dutycycle``.

Strictly parsed, every wait bounded (``play`` by the file's length + 10 s), errors naming the
command. ``print_dutycycle`` prints TIM2 ticks of 10 µs under headers that say "(s)"
(docs/reference-runner.md#runner-sww-board-isr): converted to seconds here; the board keeps
only the first 100 frames. Wiring and recording: docs/interface-board.md#streaming-wakeword.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from energybench.dut.link import DUT_PREFIX, READY, InterfaceBoardLink
from energybench.errors import DutError, DutTimeoutError

log = logging.getLogger(__name__)

TICK_S = 10e-6  # TIM2: 100 kHz
PLAY_MARGIN_S = 10.0  # beyond the file's length, as the reference runner waits
DEFAULT_TIMEOUT_S = 5.0
LIST_TIMEOUT_S = 15.0  # print_detections / print_dutycycle: up to 10,000 lines
PERIOD_SPREAD_LIMIT = 0.02
MAX_FRAMES = 100  # duty-cycle edges the board records (DeviceUnderTest.hpp)
RECORDING = "Now recording detections"
PLAYING = "Attempting to play"
PLAYED = "succeeded."
PLAY_ERROR = "Error playing file"
DETECTIONS_HEADER = "Detection Timestamps (ms)"
DUTY_START_HEADER = "Duty cycle start times (s)"
DUTY_STOP_HEADER = "Duty cycle stop times (s)"
_DETECTION = re.compile(r"^(\d+),$")
_TICKS = re.compile(r"^[0-9]+$")  # TIM2 counts: whole ticks, never seconds


@dataclass(frozen=True)
class DutyCycle:
    """The DUT's PROCESSING pin as the board recorded it; times in seconds."""

    start_s: tuple[float, ...]
    stop_s: tuple[float, ...]
    frames: int  # start/stop pairs used
    duty_cycle: float  # mean(on) / mean(period)
    period_s: float  # mean start-to-start
    processing_s: float  # mean on time: the time to process one frame
    period_spread: float  # (max - min) / mean of the periods
    warnings: list[str] = field(default_factory=list)

    @property
    def throughput_per_s(self) -> float:
        """Frames the DUT could process per second: 1 / processing time."""
        return 1.0 / self.processing_s


def duty_cycle_from_ticks(start_ticks: list[float], stop_ticks: list[float]) -> DutyCycle:
    """Pair rising (start) and falling (stop) edges: a stop before the first start is dropped
    (recording began mid-frame); each stop must fall between its own start and the next start
    (a missed edge would otherwise pair a stop with the wrong start: a negative on time)."""
    where = "print_dutycycle"
    starts = np.asarray(start_ticks, dtype=np.float64) * TICK_S
    stops = np.asarray(stop_ticks, dtype=np.float64) * TICK_S
    if starts.size < 2:
        raise DutError(
            f"{starts.size} frame start(s) recorded: no period (did the DUT process audio?)",
            context=where,
        )
    if np.any(np.diff(starts) <= 0) or np.any(np.diff(stops) <= 0):
        raise DutError("start or stop times do not increase", context=where)
    stops = stops[stops >= starts[0]]
    n = min(starts.size, stops.size)
    if n == 0:
        raise DutError("no frame stop recorded after the first start", context=where)
    nxt = np.append(starts[1:], np.inf)[:n]
    if np.any(stops[:n] > nxt) or np.any(stops[:n] < starts[:n]):
        raise DutError("start and stop times do not alternate", context=where)
    periods = np.diff(starts)
    mean_period = float(periods.mean())
    processing = float((stops[:n] - starts[:n]).mean())
    if processing <= 0:
        raise DutError("frames of zero processing time", context=where)
    spread = float((periods.max() - periods.min()) / mean_period)
    warnings = []
    if spread > PERIOD_SPREAD_LIMIT:
        warnings.append(
            f"frame periods spread {spread:.1%} (> {PERIOD_SPREAD_LIMIT:.0%}): "
            f"{periods.min() * 1e3:.3f}..{periods.max() * 1e3:.3f} ms"
        )
        log.warning("print_dutycycle: %s", warnings[-1])
    return DutyCycle(
        tuple(starts.tolist()),
        tuple(stops.tolist()),
        n,
        processing / mean_period,
        mean_period,
        processing,
        spread,
        warnings,
    )


def _ticks(lines: list[str], where: str) -> list[float]:
    values = []
    for line in lines:
        for token in (t.strip() for t in line.split(",")):
            if not token:
                continue
            if not _TICKS.match(token):
                raise DutError(f"{token!r} is not a count of 10 µs timer ticks", context=where)
            values.append(float(token))
    return values


class BoardClient:
    """The board's own commands over the same link that relays to the DUT."""

    def __init__(self, link: InterfaceBoardLink, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.link = link
        self.timeout_s = timeout_s

    def command(self, command: str, timeout_s: float | None = None) -> list[str]:
        """The board's reply lines without ``m-ready`` (relayed DUT lines are logged, dropped)."""
        try:
            lines = self.link.board_command(command, timeout_s or self.timeout_s)
        except DutTimeoutError:
            self.link.resync()  # a late reply must not be taken for the next command's
            raise
        body = []
        for line in lines[:-1] if lines and lines[-1] == READY else lines:
            if line.startswith(DUT_PREFIX):
                log.info("%s: DUT line during %r: %r", self.link.name, command, line)
                continue
            body.append(line)
        return body

    def _lines(self, command: str, timeout_s: float | None = None) -> list[str]:
        """The reply's non-empty lines, stripped."""
        return [x for x in (y.strip() for y in self.command(command, timeout_s)) if x]

    def name(self) -> str:
        body = self._lines("name")
        if len(body) != 1:
            raise DutError(f"expected one name line, got {body}", context="name")
        return body[0]

    def ls(self) -> list[str]:
        """The files on the SD card (one line each)."""
        return self._lines("ls")

    def require_files(self, names: list[str]) -> None:
        """Every named file is on the SD card, else one error naming the missing ones (a line
        is a file name, or starts with one followed by whitespace)."""
        listed = self.ls()
        present = set(listed) | {x.split()[0] for x in listed}
        missing = [n for n in names if n not in present]
        if missing:
            shown = ", ".join(listed) or "nothing"
            raise DutError(
                f"{', '.join(missing)} not on the interface board's SD card (ls lists: "
                f"{shown[:200]}); copy the WAV file(s) to the card",
                context="ls",
            )

    def record_detections(self) -> None:
        """Reset the board's timer and clear its detection and duty-cycle records."""
        body = self._lines("record_detections")
        if RECORDING not in body:
            raise DutError(f"expected {RECORDING!r}, got {body}", context="record_detections")

    def play(self, wav_file: str, length_s: float) -> None:
        """Play a WAV file to the DUT; blocks for its length (bounded: + 10 s)."""
        where = f"play {wav_file}"
        if not wav_file or any(c in wav_file for c in "%\r\n"):
            raise DutError(f"cannot send the file name {wav_file!r}", context=where)
        body = self._lines(where, length_s + PLAY_MARGIN_S)
        failed = [x for x in body if x.startswith(PLAY_ERROR)]
        if failed:
            raise DutError(f"the board could not play {wav_file}: {failed[0]}", context=where)
        if not any(x.startswith(PLAYING) for x in body) or not any(
            x.endswith(PLAYED) for x in body
        ):
            raise DutError(f"expected {PLAYING!r} ... {PLAYED!r}, got {body[:4]}", context=where)

    def print_detections(self) -> list[int]:
        """Detection times in ms since ``record_detections`` (non-decreasing)."""
        where = "print_detections"
        body = self._lines(where, LIST_TIMEOUT_S)
        if not body or body[0] != DETECTIONS_HEADER:
            first = body[0] if body else "(nothing)"
            raise DutError(f"expected {DETECTIONS_HEADER!r}, got {first!r}", context=where)
        values = []
        for line in body[1:]:
            match = _DETECTION.match(line)
            if match is None:
                raise DutError(f"{line!r} is not a '<ms>,' detection line", context=where)
            values.append(int(match.group(1)))
        if any(b < a for a, b in pairwise(values)):
            raise DutError("detection times go backwards (timer wrapped?)", context=where)
        return values

    def print_dutycycle(self) -> DutyCycle:
        """The PROCESSING pin's recorded edges, as a :class:`DutyCycle`."""
        where = "print_dutycycle"
        body = self._lines(where, LIST_TIMEOUT_S)
        if not body or body[0] != DUTY_START_HEADER or DUTY_STOP_HEADER not in body:
            raise DutError(
                f"expected {DUTY_START_HEADER!r} ... {DUTY_STOP_HEADER!r}, got {body[:2]}",
                context=where,
            )
        split = body.index(DUTY_STOP_HEADER)
        result = duty_cycle_from_ticks(
            _ticks(body[1:split], where), _ticks(body[split + 1 :], where)
        )
        if max(len(result.start_s), len(result.stop_s)) >= MAX_FRAMES:
            result.warnings.append(
                f"the board records only the first {MAX_FRAMES} frames (about "
                f"{MAX_FRAMES * result.period_s:.1f} s of the stream)"
            )
        return result
