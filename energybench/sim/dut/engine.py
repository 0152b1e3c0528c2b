"""The MLPerf Tiny DUT firmware's command engine, byte for byte (docs/dut-protocol.md).

Mirrors the reference ``ee_serial_callback`` / ``ee_serial_command_parser_callback`` /
``ee_profile_parse`` / ``ee_buffer_parse`` / ``ee_infer`` with their quirks: ``%`` framing where
CR/LF become part of the next command, silent truncation to 80 characters, ``strtok`` on single
spaces, C ``atoi``, 32-bit ``size_t`` printed with ``%d``, the unprefixed ``\\n``-only oversize
warning, the sic spellings, warm-up default 10, and ``db print``'s extra blank line when the size
is not a multiple of 8. Modelling choices where the firmware has undefined behaviour:
- an empty command (``%`` alone) makes ``strtok`` return NULL; newlib prints it as ``(null)``:
  ``e-[Unknown command: (null)]``;
- ``db`` writes past the buffer (overflow on real hardware) are dropped; ``db print`` prints at
  most the buffer's real size.
Physical effects (UART time, currents, timestamps, inference time) go through :class:`Hooks`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

FW_VERSION = "ULPMark for tinyML Firmware V0.0.1"
CMD_SIZE = 80
HEX_DIGITS = "0123456789abcdefABCDEF"
DEFAULT_WARMUPS = 10  # `infer N` without W
MAX_DB_INPUT_SIZE = {
    "kws01": 490,
    "vww01": 96 * 96 * 3,
    "ic01": 32 * 32 * 3,
    "ad01": 5 * 128 * 4 * 2,
}

HELP_LINES = (
    f"{FW_VERSION}\r\n",
    "\r\n",
    "help         : Print this information\r\n",
    "name         : Print the name of the device\r\n",
    "timestsamp   : Generate a timetsamp\r\n",
    "db SUBCMD    : Manipulate a generic byte buffer\r\n",
    "  load N     : Allocate N bytes and set load counter\r\n",
    "  db HH[HH]* : Load 8-bit hex byte(s) until N bytes\r\n",
    "  print [N=16] [offset=0]\r\n",
    "             : Print N bytes at offset as hex\r\n",
    "infer N [W=0]: Load input, execute N inferences after W warmup loops\r\n",
    "results      : Return the result fp32 vector\r\n",
)


class Hooks(Protocol):
    """What the firmware asks of the (simulated) hardware."""

    def emit(self, text: str) -> None: ...  # one th_printf'd line (or fragment), latin-1

    def timestamp(self) -> None: ...  # th_timestamp(): GPIO pulse or m-lap-us line

    def compute(self, inferences: int, timed: bool) -> None: ...  # n x th_infer()

    def timed_section(self) -> AbstractContextManager[object]: ...  # start pulse .. end pulse

    def infer_done(self, inferences: int, warmups: int) -> None: ...  # ground-truth record


class Model(Protocol):
    def load_tensor(self, buffer: bytes) -> str | None: ...

    def infer(self) -> None: ...

    def results_line(self) -> str: ...

    @property
    def input_bytes(self) -> int: ...


def c_atoi(text: str) -> int:
    """C ``atoi`` as newlib implements it (strtol, clamped to 32-bit)."""
    i, n = 0, len(text)
    while i < n and text[i] in " \t\n\v\f\r":
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    value = 0
    while i < n and text[i].isascii() and text[i].isdigit():
        value = value * 10 + int(text[i])
        i += 1
    return max(-(2**31), min(2**31 - 1, sign * value))


def _as_size_t(value: int) -> int:
    return value & 0xFFFFFFFF


def _as_int(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def hexdec(pair: str) -> int:
    """The byte a pair of hex digits spells, or -1 (``ee_hexdec``'s failure value)."""
    return int(pair, 16) if pair and all(c in HEX_DIGITS for c in pair) else -1


class CommandAssembler:
    """``ee_serial_callback``'s command buffer: bytes up to ``%``, the last slot overwritten once
    ``size`` characters are in (the reference's silent truncation), NUL-terminated C string."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cmd = bytearray(size + 1)
        self._pos = 0

    def feed_byte(self, byte: int) -> bytes | None:
        """The completed command (as C string bytes) on ``%``, else None."""
        if byte == 0x25:  # '%'
            self._cmd[self._pos] = 0
            command = bytes(self._cmd).split(b"\0", 1)[0]
            self._pos = 0
            return command
        self._cmd[self._pos] = byte
        self._pos = self.size if self._pos >= self.size else self._pos + 1
        return None


class EeMonitor:
    """Command assembly and dispatch of one DUT; not thread-safe (the DUT serialises calls)."""

    def __init__(self, hooks: Hooks, model: Model, *, workload: str, vendor_name: str) -> None:
        self.hooks = hooks
        self.model = model
        self.workload = workload
        self.vendor_name = vendor_name
        self.max_buffer = MAX_DB_INPUT_SIZE[workload]
        self.reset()

    def reset(self) -> None:
        """Power-on state: zeroed .bss (buffers), parser disabled until ``enable()``."""
        self._commands = CommandAssembler(CMD_SIZE)
        self.buffer = bytearray(self.max_buffer)
        self.buff_size = 0
        self.buff_pos = 0
        self.parser_enabled = False

    def enable(self) -> None:
        self.parser_enabled = True

    def feed_byte(self, byte: int) -> bytes | None:
        """``ee_serial_callback``: the completed command (as C string bytes) on ``%``."""
        return self._commands.feed_byte(byte)

    # ---- dispatch ------------------------------------------------------------------------
    def dispatch(self, command: bytes) -> None:
        """``ee_serial_command_parser_callback``: run one command, always end with m-ready."""
        if not self.parser_enabled:
            return
        tokens = [t for t in command.decode("latin-1").split(" ") if t]
        tok = tokens[0] if tokens else None
        emit = self.hooks.emit
        if tok == "name":
            emit(f"m-name-dut-[{self.vendor_name}]\r\n")
        elif tok == "timestamp":
            self.hooks.timestamp()
        elif tok is not None and self._profile_parse(tok, tokens[1:]):
            pass
        else:
            emit(f"e-[Unknown command: {tok if tok is not None else '(null)'}]\r\n")
        emit("m-ready\r\n")

    def _profile_parse(self, tok: str, args: list[str]) -> bool:
        emit = self.hooks.emit
        if tok == "profile":
            emit(f"m-profile-[{FW_VERSION}]\r\n")
            emit(f"m-model-[{self.workload}]\r\n")
        elif tok == "help":
            for line in HELP_LINES:
                emit(line)
        elif tok == "db":
            self._buffer_parse(args)
        elif tok == "infer":
            n, w = 1, DEFAULT_WARMUPS
            if args:
                i = c_atoi(args[0])
                if i <= 0:
                    emit("e-[Inference iterations must be >0]\r\n")
                    return True
                n = i
                if len(args) > 1:
                    i = c_atoi(args[1])
                    if i < 0:
                        emit("e-[Inference warmup must be >=0]\r\n")
                        return True
                    w = i
            self.infer(n, w)
        elif tok == "results":
            emit(self.model.results_line() + "\r\n")
        else:
            return False
        return True

    def infer(self, n: int, warmups: int) -> None:
        """``ee_infer``: load tensor, warm-ups, timestamp, timed loop, timestamp, results."""
        emit = self.hooks.emit
        copied = min(self.model.input_bytes, self.buff_pos, self.max_buffer)
        warning = self.model.load_tensor(bytes(self.buffer[:copied]))
        if warning:
            emit(warning)
        emit(f"m-warmup-start-{_as_int(warmups)}\r\n")
        self.hooks.compute(warmups, timed=False)
        emit("m-warmup-done\r\n")
        emit(f"m-infer-start-{_as_int(n)}\r\n")
        with self.hooks.timed_section():
            self.hooks.timestamp()
            self.hooks.compute(n, timed=True)
            self.hooks.timestamp()
        self.hooks.infer_done(n, warmups)
        emit("m-infer-done\r\n")
        emit(self.model.results_line() + "\r\n")

    def _buffer_parse(self, args: list[str]) -> None:
        emit = self.hooks.emit
        if not args:
            emit("e-[Command 'db' requires a subcommand]\r\n")
        elif args[0] == "load":
            if len(args) < 2:
                emit("e-[Command 'db load' requires the # of bytes]\r\n")
                return
            self.buff_size = _as_size_t(c_atoi(args[1]))
            if self.buff_size == 0:
                emit("e-[Command 'db load' must be >0 bytes]\r\n")
                return
            self.buff_pos = 0
            if self.buff_size > self.max_buffer:
                emit(
                    f"Supplied buffer size {_as_int(self.buff_size)} exceeds maximum of "
                    f"{self.max_buffer}\n"
                )
            else:
                emit(f"m-[Expecting {_as_int(self.buff_size)} bytes]\r\n")
        elif args[0] == "print":
            self._print_buffer()
        else:
            self._load_hex(args[0][:CMD_SIZE])

    def _print_buffer(self) -> None:
        size = min(self.buff_size, self.max_buffer)
        line = ""
        for i in range(size):
            if i % 8 == 0:
                line = "m-buffer-"
            line += f"{self.buffer[i]:02x}"
            if (i + 1) % 8 == 0 or i + 1 == size:
                self.hooks.emit(line + "\r\n")
            else:
                line += "-"
        if size % 8 != 0:
            self.hooks.emit("\r\n")

    def _load_hex(self, digits: str) -> None:
        emit = self.hooks.emit
        if len(digits) & 1:
            emit("e-[Insufficent number of hex digits]\r\n")
            return
        for k in range(0, len(digits), 2):
            pair = digits[k : k + 2]
            value = hexdec(pair)
            if value < 0:
                emit(f"e-[Invalid hex digit '{pair}']\r\n")
                return
            if self.buff_pos < self.max_buffer:
                self.buffer[self.buff_pos] = value
            self.buff_pos += 1
            if self.buff_pos == self.buff_size:
                emit("m-load-done\r\n")
                return
