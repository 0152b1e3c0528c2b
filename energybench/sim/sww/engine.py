"""The streaming-wakeword (sww01) DUT firmware's command engine
(docs/dut-protocol.md#sww-dut-commands).

Mirrors the reference ``process_command`` / ``load_or_print_buff`` (``sww_ref_util.c``): ``%``
framing into a 1028-character buffer (saturating like the EEMBC one), the echo ``Received
command: <full command>`` before anything else, ``strtok`` on spaces, ``strcmp`` dispatch on the
first token, ``Unrecognized command <full command>`` (the whole command, not the first token),
the empty-command text, and ``m-ready`` after every command. Modelling choices:
- ``help`` prints the reference text including its missing ``\\r\\n`` after the ``start``,
  ``stop`` and ``state`` lines; the string's trailing ``%`` (a lone conversion character given
  to printf) prints nothing;
- ``db load`` without a size prints the error with ``(null)`` (newlib's ``%s`` of NULL);
  ``db print_i16`` uses the reference's int16 list format (``]`` after the last value);
- ``extract_uart_stream`` runs one frame on the first 512 int16 of the ``db`` buffer (mono),
  sharing the streaming front end's state, and prints ``m-features-[%+3d, ...]`` (40) and
  ``m-activations-[%+3d, %+3d, %+3d]``; the model input history is zeroed on its first call
  since boot (the reference's static ``num_calls``; we zero the sample block too);
- the debug commands ``run_model``, ``extract``, ``infer_wav``, ``i2scap`` and ``log`` have
  no simulated payload: they answer ``Unrecognized command ...`` (and log a warning) rather
  than invent output;
- ``state`` prints the reference's two lines with SAI status 0 and state 1 (idle) or 34 (Rx).
Physics (streaming, timestamps, pins) goes through the :class:`SwwHooks` the DUT implements.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from energybench.sim.dut.engine import HEX_DIGITS, CommandAssembler, c_atoi, hexdec

log = logging.getLogger(__name__)

CMD_SIZE = 1028
I2S_BUFFER_BYTES = 2048
ACTIVATION_BUFFER_BYTES = 64000  # g_gp_buff_bytes: activations kept per stream
VENDOR_NAME = "ML Commons"
FW_VERSION = "MLPerf Tiny Firmware V0.1.0"
MODEL_NAME = "sww01"
HELP_TEXT = (
    "name        -- print out an identifying message\r\n"
    "run_model   -- run the NN model. An optional  argument class0, class1, or class2 runs the "
    "model\r\n"
    "               on a selected input that is expected to return 0 (WW), 1 (silent), or "
    "2(other)\r\n"
    "extract     -- run the feature extractor on the first block of a predefined wav form "
    "(test_wav_marvin)\r\n"
    "i2scap      -- Captures about 1s of stereo audio over an I2S link\r\n"
    "start       -- Start wakeword detection.  Repeatedly runs feature extraction and model on "
    "incoming I2S wav data"
    "stop        -- Stop wakeword detection"
    "state       -- print out the current operating mode (as int) and status of the I2S link"
    "log         -- The I2S capture function can write debug messages to a log. Prints and "
    "clears that log.\r\n"
    "help        -- Print this help message\r\n"
)
_DEBUG_ONLY = ("run_model", "extract", "infer_wav", "i2scap", "log")
_STATUS_LEGEND = (
    "    Status: 0=OK, 1=Error, 2=Busy, 3=Timeout; State: 0=Reset, 1=Ready, 2=Busy (internal "
    "process), 18=Busy (Tx), 34=Busy (Rx)\r\n"
)


class SwwHooks(Protocol):
    """What the command engine asks of the simulated DUT."""

    streaming: bool

    def emit(self, text: str) -> None: ...  # one th_printf

    def timestamp(self) -> None: ...  # the timestamp pin pulse

    def start_stream(self) -> None: ...  # zero buffers, timestamp, PROCESSING pulse, DMA on

    def stop_stream(self) -> list[int]: ...  # DMA off, timestamp; the activations

    def set_processing_pin(self, level: bool) -> None: ...

    def extract_uart_stream(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def format_int8_list(values: list[int]) -> list[str]:
    """``print_vals_int8``: ``[`` then 16 values a line as ``%d, `` (the last ``%d  ``), ``]``."""
    return [*_value_lines(values, last=" "), "]\r\n"]


def format_int16_list(values: list[int]) -> list[str]:
    """``print_vals_int16``: ``[`` then 16 values a line, ``]`` after the last value."""
    return _value_lines(values, last="]")


def _value_lines(values: list[int], last: str) -> list[str]:
    """``[`` then 16 values a line as ``%d, ``, the last one ``%d<last> ``; ``[`` alone if none."""
    lines: list[str] = []
    for i in range(0, len(values), 16):
        row = values[i : i + 16]
        parts = [f"{v}{last if i + j == len(values) - 1 else ','} " for j, v in enumerate(row)]
        lines.append(("[" if i == 0 else "") + "".join(parts) + "\r\n")
    return lines or ["["]


class SwwMonitor:
    """Command assembly and dispatch of the SWW firmware; the DUT serialises calls."""

    def __init__(self, hooks: SwwHooks) -> None:
        self.hooks = hooks
        self.reset()

    def reset(self) -> None:
        """Power-on state: empty command buffer, zeroed I2S buffer, no db transfer."""
        self._commands = CommandAssembler(CMD_SIZE)
        self.buffer = bytearray(I2S_BUFFER_BYTES)
        self._db_loading = False
        self._transfer_size = 0
        self._bytes_loaded = 0

    def enable(self) -> None:
        """The SWW firmware has no parser gate; kept for the DUT's boot sequence."""

    def feed_byte(self, byte: int) -> bytes | None:
        """``ee_serial_callback``: the completed command on ``%``."""
        return self._commands.feed_byte(byte)

    def dispatch(self, command: bytes) -> None:
        """``process_command``: echo, run, ``m-ready``."""
        full = command.decode("latin-1")
        emit = self.hooks.emit
        emit(f"Received command: {full}\r\n")
        args = [t for t in full.split(" ") if t][:8]
        cmd = args[0] if args else None
        if cmd == "name":
            emit(f"m-name-dut-[{VENDOR_NAME}]\r\n")
        elif cmd == "profile":
            emit(f"m-profile-[{FW_VERSION}]\r\n")
            emit(f"m-model-[{MODEL_NAME}]\r\n")
        elif cmd == "start":
            self._start()
        elif cmd == "stop":
            self._stop()
        elif cmd == "state":
            state = 34 if self.hooks.streaming else 1
            emit(f"g_i2s_status=0, SAI state={state}\r\n")
            emit(_STATUS_LEGEND)
            emit(f"g_i2s_state = {1 if self.hooks.streaming else 0}, g_int16s_read=0\r\n")
        elif cmd == "db":
            self._db(args[1:])
        elif cmd == "help":
            emit(HELP_TEXT)
        elif cmd == "timestamp":
            self.hooks.timestamp()
        elif cmd == "extract_uart_stream":
            samples = np.frombuffer(bytes(self.buffer[:1024]), dtype="<i2")
            features, outputs = self.hooks.extract_uart_stream(samples)
            emit("m-features-[" + ", ".join(f"{int(v):+3d}" for v in features) + "]\r\n")
            emit("m-activations-[" + ", ".join(f"{int(v):+3d}" for v in outputs) + "]\r\n")
        elif cmd in ("proc_hi", "proc_lo"):
            self.hooks.set_processing_pin(cmd == "proc_hi")
        elif cmd is None:
            emit("Empty command (only a % read).  Type 'help%' for help\r\n")
        else:
            if cmd in _DEBUG_ONLY:
                log.warning("SWW debug command %r is not simulated", cmd)
            emit(f"Unrecognized command {full}\r\n")
        emit("m-ready\r\n")

    def _start(self) -> None:
        emit = self.hooks.emit
        if self.hooks.streaming:
            emit("I2S Rx currently in progress. Ignoring request\r\n")
            return
        emit("Listening for I2S data ... \r\n")
        self.hooks.start_stream()
        emit("DMA receive initiated.\r\n")

    def _stop(self) -> None:
        emit = self.hooks.emit
        if not self.hooks.streaming:
            emit("I2S is already idle.  Ignoring stop request\r\n")
            return
        activations = self.hooks.stop_stream()
        emit("Streaming stopped.\r\n")
        emit("target activations: \r\n")
        for line in format_int8_list(activations):
            emit(line)

    # ---- db ----------------------------------------------------------------------------------
    def _db(self, args: list[str]) -> None:
        emit = self.hooks.emit
        sub = args[0] if args else None
        if sub is None:
            emit(
                "Error: db requires a sub-command: 'db load <Nbytes>'; 'db print [Nbytes]', "
                "'db <hexstring>'\r\n"
            )
        elif sub == "load":
            size_text = args[1] if len(args) > 1 else None
            size = c_atoi(size_text) if size_text is not None else 0
            if size == 0:
                emit(
                    f"Error: Transfer size ({size_text if size_text is not None else '(null)'})"
                    " must be valid int; greater than 0.\r\n"
                )
                emit("Usage: 'db load N'; N>0\r\n")
                self._db_loading = False
                return
            self._db_loading = True
            self._transfer_size = size
            self._bytes_loaded = 0
            emit(f"Expecting {size} bytes\r\n")
        elif sub[0] in HEX_DIGITS:
            self._load_hex(sub)
        elif sub == "getptr":
            emit(f"m-buff-ptr-{self._bytes_loaded}\r\n")
        elif sub == "setptr":
            if len(args) > 1:
                self._bytes_loaded = c_atoi(args[1])
            else:
                emit("Error: setptr requires a numeric argument: 'db setptr 123%'")
        elif sub == "print":
            count = c_atoi(args[1]) if len(args) > 1 else 0
            if count <= 0 or count > I2S_BUFFER_BYTES:
                count = I2S_BUFFER_BYTES
            emit("m-buffer-" + "-".join(f"{b:02x}" for b in self.buffer[:count]) + "\r\n")
        elif sub == "print_i16":
            count = c_atoi(args[1]) if len(args) > 1 else 0
            if count <= 0 or count > I2S_BUFFER_BYTES // 2:
                count = I2S_BUFFER_BYTES // 2
            values = [
                int.from_bytes(self.buffer[2 * i : 2 * i + 2], "little", signed=True)
                for i in range(count)
            ]
            for line in format_int16_list(values):
                emit(line)
        else:
            emit(f"Error: db: Unrecognized sub-command {sub}\r\n")

    def _load_hex(self, digits: str) -> None:
        emit = self.hooks.emit
        if not self._db_loading:
            emit("Error: Must issue db load <Nbytes> command before transmitting data.\r\n")
            return
        if len(digits) % 2:
            emit(
                "Error: number of hex digits in data string must be even. "
                f"Received {len(digits)}\r\n"
            )
            emit("Still waiting for data\r\n")
            return
        for i in range(0, len(digits), 2):
            pair = digits[i : i + 2]
            value = hexdec(pair)
            if value < 0:
                emit(
                    f"Error: Received non-hex digit in character pair '{pair}' at location "
                    f"{i + 2}\r\n"
                )
                emit("Canceling segment upload. Still waiting for data\r\n")
                return
            if 0 <= self._bytes_loaded < I2S_BUFFER_BYTES:
                self.buffer[self._bytes_loaded] = value
            self._bytes_loaded += 1
            if self._bytes_loaded >= I2S_BUFFER_BYTES or self._bytes_loaded >= self._transfer_size:
                self._db_loading = False
                emit("m-load-done\r\n")
                return
        emit(f"{self._bytes_loaded} bytes received\r\n")
