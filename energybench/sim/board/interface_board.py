"""The MLCommons "tinyML Enhanced Interface Board" (IO manager) on its own pty
(docs/interface-board.md#commands, #passthrough).

Host ↔ board: ``%``-terminated commands, ``\\r\\n`` replies ending ``m-ready``. Dispatch is the
reference ``Menu::HandleCommand``: the first table entry that is a prefix of the buffer; exact
match → no arguments, ``<name> <args>`` → arguments, anything else with that prefix (``names``)
→ no reply at all; an empty or unknown command → a bare ``m-ready``.
``dut <cmd>`` relays to the DUT in-process (``LabDut.feed``; a FirmwareDut writes to its
process and routes its output back until ``m-ready``): ``m-dut-passthrough(<cmd>)``, ``m-ready``,
then each DUT line (read up to ``\\r\\n``, so ``\\n``-only lines merge with the next one) as
``[dut]: <line>`` up to and including ``[dut]: m-ready``. The DUT-side UART time is the DUT's
own (its baud); the host link's 115200 baud is charged for the board's own replies only (the
forwarded lines overlap the DUT's transmission). If the board's DUT baud differs from the
DUT's, or the DUT never sends ``m-ready`` (hung, withheld reply), the board waits forever like
the real one (``TX_WAIT_FOREVER``): it ignores the host until :meth:`reset`.
A consequence: the DUT's ``\n``-only oversize warning (``db load N`` > buffer) merges with
``m-ready``, so the board never sees a bare ``m-ready`` and hangs, as the real one would.
``setbaud N`` answers, stores N (1..2,000,000, else the default 9600 stays) and resets the board.
Without an SD card (``sd_card=None``, the default) ``ls`` lists nothing, ``play`` fails and
the detection/duty-cycle lists are empty; with one (a folder) the streaming-wakeword commands
work as :mod:`energybench.sim.board.sww_playback` describes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from energybench.sim.board.sww_playback import (
    PLAY_ERROR,
    SwwBoardSide,
    detections_reply,
    dutycycle_reply,
)
from energybench.sim.dut.engine import c_atoi
from energybench.sim.dut.lab_dut import LabDut
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.pty import PtyServer

log = logging.getLogger(__name__)

BOARD_NAME = "tinyML Enhanced Interface Board"
DEFAULT_DUT_BAUD = 9600
HOST_BAUD = 115200
_COMMANDS = (
    "dut",
    "name",
    "ls",
    "play",
    "setbaud",
    "checkbaud",
    "record_detections",
    "print_detections",
    "print_dutycycle",
)


class SimInterfaceBoard:
    """A simulated interface board relaying host commands to a DUT (SimDut or FirmwareDut)."""

    def __init__(
        self,
        timeline: Timeline,
        dut: LabDut,
        *,
        dut_baud: int = DEFAULT_DUT_BAUD,
        sd_card: Path | None = None,
    ) -> None:
        self.timeline = timeline
        self.dut = dut
        self.sww = SwwBoardSide(timeline, sd_card) if sd_card is not None else None
        self._flash_baud = dut_baud  # what setbaud stored in flash
        self.dut_baud = dut_baud  # huart3's rate since the last reset
        self.resets = 0
        self._buffer = bytearray()
        self._stuck = False
        self._waiting_for_dut = False
        self._lock = threading.RLock()
        self._pty = PtyServer(self.feed, name="sim-interface")

    @property
    def port(self) -> str:
        return self._pty.path

    def start(self) -> SimInterfaceBoard:
        self._pty.start()
        return self

    def stop(self) -> None:
        self._pty.close()

    def reset(self) -> None:
        """MCU reset: reload the baud from flash, drop any partial command, unstick."""
        with self._lock:
            self.dut_baud = self._flash_baud
            self._buffer.clear()
            self._stuck = False
            self._waiting_for_dut = False
            self.resets += 1

    def dut_rebooted(self) -> None:
        """The DUT booted (power cycle): a relay stuck waiting for its ``m-ready`` completes
        with the boot banner when that ends in ``m-ready``, as on the real board; a firmware
        that prints none at boot (SWW) leaves the board waiting until it is reset."""
        with self._lock:
            if not self._waiting_for_dut:
                return
            banner = self.dut.boot_banner()
            if not banner or banner[-1] != "m-ready":
                log.warning("the DUT rebooted without an m-ready: the board still waits (reset it)")
                return
            for line in banner:
                self._pty.write(f"[dut]: {line}\r\n".encode("latin-1"))
            self._waiting_for_dut = False
            self._stuck = False

    # ---- host side ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the host (pty reader thread)."""
        with self._lock:
            for byte in data:
                if self._stuck:
                    log.debug("interface board is stuck waiting for the DUT; byte ignored")
                    return
                if byte != 0x25:
                    self._buffer.append(byte)
                    continue
                command = self._buffer.decode("latin-1")
                self._buffer.clear()
                self._handle(command)

    def _send(self, text: str) -> None:
        data = text.encode("latin-1")
        self.dut.pass_time(len(data) * 10 / HOST_BAUD)
        self._pty.write(data)

    def _handle(self, buffer: str) -> None:
        if buffer:
            for name in _COMMANDS:
                if not buffer.startswith(name):
                    continue
                if len(buffer) == len(name):
                    self._action(name, "")
                elif len(buffer) > len(name) + 1 and buffer[len(name)] == " ":
                    self._action(name, buffer[len(name) + 1 :])
                return  # prefix matched but malformed: the reference sends nothing
        self._send("m-ready\r\n")

    def _action(self, name: str, args: str) -> None:
        if name == "dut":
            self._passthrough(args)
        elif name == "name":
            self._send(f"{BOARD_NAME}\r\nm-ready\r\n")
        elif name == "setbaud":
            self._set_baud(args)
        elif name == "checkbaud":
            self._send(f"baud is: {self.dut_baud}\nm-ready\r\n")
        elif name == "play":
            self._play(args)
        elif name == "record_detections":
            if self.sww is not None:
                self.sww.record()
            self._send("Now recording detections\r\nm-ready\r\n")
        elif name == "print_detections":
            self._send(detections_reply(self.sww.detections_ms() if self.sww else []))
        elif name == "print_dutycycle":
            starts, stops = self.sww.duty_cycle_ticks() if self.sww else ([], [])
            self._send(dutycycle_reply(starts, stops))
        else:  # ls
            files = self.sww.ls_lines(args) if self.sww is not None else []
            self._send("".join(files) + "m-ready\r\n")

    def _play(self, name: str) -> None:
        """``play <file>``: the whole file plays into the DUT's I2S input, then the reply ends."""
        wav = self.sww.load(name) if self.sww is not None else None
        if wav is None:
            self._send(f"Attempting to play {name}\n{PLAY_ERROR}m-ready\r\n")
            return
        self._send(f"Attempting to play {name}\n")
        play = getattr(self.dut, "play_i2s", None)
        if play is not None:
            play(wav.left, wav.sample_rate_hz)
        else:  # a DUT without an I2S input: only the time passes
            self.dut.pass_time(wav.duration_s)
        self._send("succeeded.\nm-ready\r\n")

    def _set_baud(self, args: str) -> None:
        stripped = args.lstrip(" \t\n\v\f\r")
        if not stripped[:1].isdigit() and not (stripped[:1] in "+-" and stripped[1:2].isdigit()):
            log.warning("setbaud %r: std::stoi throws; the real board faults", args)
            self._stuck = True
            return
        baud = c_atoi(args)
        if 1 <= baud <= 2_000_000:
            self._flash_baud = baud
        else:
            log.warning("setbaud %d outside 1..2000000: flash keeps %d", baud, self._flash_baud)
        # The real board answers, then resets. The reset is applied before the reply leaves so
        # that a host which has read the reply observes the reset board (same bytes on the wire).
        self.reset()
        self._send(f"set baud to: {baud}\nm-ready\r\n")

    # ---- DUT side ----------------------------------------------------------------------------
    def _passthrough(self, command: str) -> None:
        self._send(f"m-dut-passthrough({command})\r\nm-ready\r\n")
        if self.dut_baud != self.dut.baud:
            log.warning(
                "interface DUT baud %d != DUT baud %d: the DUT sees garbage, the board waits",
                self.dut_baud,
                self.dut.baud,
            )
            self._stuck = True
            return
        relay = _LineRelay(self._pty.write)
        self.dut.feed(command.encode("latin-1") + b"%", relay)
        if not relay.done:
            log.warning("no m-ready from the DUT after %r: the board waits forever", command)
            self._stuck = True
            self._waiting_for_dut = True


class _LineRelay:
    """Splits DUT output on CR LF and forwards ``[dut]: <line>`` until ``m-ready``."""

    def __init__(self, write) -> None:
        self._write = write
        self._pending = b""
        self.done = False

    def __call__(self, data: bytes) -> None:
        if self.done:
            return
        self._pending += data
        while not self.done and b"\r\n" in self._pending:
            line, self._pending = self._pending.split(b"\r\n", 1)
            self._write(b"[dut]: " + line + b"\r\n")
            self.done = line == b"m-ready"
