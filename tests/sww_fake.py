"""A small stand-in for the sww01 bench, written from the documented bytes only
(docs/dut-protocol.md#sww-dut-commands, docs/interface-board.md): an interface board on a real pty
relaying ``dut <cmd>`` to an in-process sww01 DUT (``Received command:`` echo, start/stop, ``target
activations:``), with
``ls``/``play``/``record_detections``/``print_detections``/``print_dutycycle``. Detections and
duty-cycle ticks are given by the test; every command received is kept in ``commands``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from energybench.sim.wire.pty import PtyServer

BOARD_NAME = "tinyML Enhanced Interface Board"


def frame_ticks(frames: int = 100, period: int = 3200, on: int = 1940, first: int = 150):
    """Duty-cycle start/stop ticks (10 µs) of ``frames`` frames: 32 ms period, 19.4 ms on."""
    starts = [first + k * period for k in range(frames)]
    return starts, [s + on for s in starts]


def _rows(values: list[int], per_line: int) -> list[str]:
    return [
        "".join(f"{v}, " for v in values[k : k + per_line]) for k in range(0, len(values), per_line)
    ]


class FakeSwwBench:
    """The board + DUT pair; ``with FakeSwwBench(...) as fake: fake.port``."""

    def __init__(
        self,
        *,
        files: tuple[str, ...] = ("long_wav.wav",),
        detections_ms: list[int] | None = None,
        duty_ticks: tuple[list[int], list[int]] | None = None,
        activations: int = 40,
        dut_baud: int = 115200,
        model: str = "sww01",
        fail_plays: int = 0,
    ) -> None:
        self.files = files
        self.detections_ms = detections_ms if detections_ms is not None else [40]
        self.duty_ticks = duty_ticks or frame_ticks()
        self.activations = activations
        self.dut_baud = dut_baud
        self.model = model
        self.fail_plays = fail_plays  # the first N plays fail (board error)
        self.streaming = False
        self.commands: list[str] = []  # board-level commands as received ("dut stop", "ls", ...)
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._pty = PtyServer(self._feed, name="fake-sww-board")

    @property
    def port(self) -> str:
        return self._pty.path

    def __enter__(self) -> FakeSwwBench:
        self._pty.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pty.close()

    # ---- the board ------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        with self._lock:
            for byte in data:
                if byte != 0x25:  # '%'
                    self._buffer.append(byte)
                    continue
                command = self._buffer.decode("latin-1")
                self._buffer.clear()
                self.commands.append(command)
                self._pty.write(self._board(command).encode("latin-1"))

    def _board(self, command: str) -> str:
        name, _, args = command.partition(" ")
        if name == "dut":
            lines = self._dut(args)
            relayed = "".join(f"[dut]: {x}\r\n" for x in [*lines, "m-ready"])
            return f"m-dut-passthrough({args})\r\nm-ready\r\n" + relayed
        if name == "name":
            return f"{BOARD_NAME}\r\nm-ready\r\n"
        if name == "checkbaud":
            return f"baud is: {self.dut_baud}\nm-ready\r\n"
        if name == "setbaud":
            self.dut_baud = int(args)
            return f"set baud to: {args}\nm-ready\r\n"
        if name == "ls":
            return "".join(f"{f}\r\n" for f in self.files) + "m-ready\r\n"
        if name == "record_detections":
            return "Now recording detections\r\nm-ready\r\n"
        if name == "play":
            if args not in self.files or self.fail_plays > 0:
                self.fail_plays = max(0, self.fail_plays - 1)
                return (
                    f"Attempting to play {args}\nError playing file. Check that the file exists "
                    "and is a 2-channel wav file.\nm-ready\r\n"
                )
            return f"Attempting to play {args}\nsucceeded.\nm-ready\r\n"
        if name == "print_detections":
            rows = "".join(f"{ms},\r\n" for ms in self.detections_ms)
            return f"Detection Timestamps (ms)\r\n{rows}m-ready\r\n"
        if name == "print_dutycycle":
            starts, stops = self.duty_ticks
            text = "Duty cycle start times (s)\r\n"
            text += "".join(f"{r}\r\n" for r in _rows(starts, 8)) + "\r\n"
            text += "Duty cycle stop times (s)\r\n"
            text += "".join(f"{r}\r\n" for r in _rows(stops, 8))
            return text + "m-ready\r\n"
        return "m-ready\r\n"  # unknown: a bare m-ready, as the reference board

    # ---- the DUT (sww_ref_util.c) ---------------------------------------------------------
    def _dut(self, command: str) -> list[str]:
        out = [f"Received command: {command}"]
        name = command.split(" ")[0]
        if not command:
            out = ["Empty command (only a % read).  Type 'help%' for help"]
        elif name == "name":
            out.append("m-name-dut-[ML Commons]")
        elif name == "profile":
            out += ["m-profile-[MLPerf Tiny Firmware V0.1.0]", f"m-model-[{self.model}]"]
        elif name == "start":
            if self.streaming:
                out.append("I2S Rx currently in progress. Ignoring request")
            else:
                self.streaming = True
                out += ["Listening for I2S data ... ", "DMA receive initiated."]
        elif name == "stop":
            if not self.streaming:
                out.append("I2S is already idle.  Ignoring stop request")
            else:
                self.streaming = False
                values = [((k * 37) % 256) - 128 for k in range(self.activations)]
                out += ["Streaming stopped.", "target activations: ", "["]
                out += [r.rstrip() for r in _rows(values, 16)]
                out.append("]")
        else:
            out.append(f"Unrecognized command {name}")
        return out


def write_truth(folder: Path, name: str, wav: str, length_s: float, windows: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    entry = {"wav_file": wav, "sample_rate": 16000, "length_sec": length_s}
    entry["detection_windows"] = [list(w) for w in windows]
    path.write_text(json.dumps([entry]), encoding="utf-8")
    return path


def long_truth(root: Path, windows: int = 50) -> tuple[Path, list[tuple[float, float]]]:
    """A stand-in ``sww_long_test.json``: ``windows`` wakewords every 3 s in long_wav.wav."""
    spans = [(3.0 * k + 1.0, 3.0 * k + 1.5) for k in range(windows)]
    return write_truth(
        root / "sww01", "sww_long_test.json", "long_wav.wav", 3.0 * windows, spans
    ), spans


def bench_text(port: str) -> str:
    """A bench file for the fake: no meter is opened in accuracy/performance modes."""
    return (
        '[bench]\nname = "fake sww bench"\n'
        '[meter]\ndriver = "sim_stream"\nresource = "tcp://127.0.0.1:9"\n'
        '[sync]\nmode = "digital_channel"\nline = "timestamp"\n'
        '[dut]\nport = "/dev/null"\nbaud = 115200\n'
        f'[interface]\nport = "{port}"\nbaud = 115200\n'
    )
