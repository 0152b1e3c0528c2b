"""Links to an MLPerf Tiny DUT: direct UART, or relayed through the interface board.

A link sends one command (``<cmd>%``) and returns the DUT's reply lines up to and including
``m-ready``, with bounded waits. Both links record every exchange (time-stamped) through an
optional ``on_exchange`` callback, which the runner writes to ``log.txt``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from energybench.errors import DutError, DutTimeoutError, InstrumentTimeoutError
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

READY = "m-ready"
DUT_COMMAND_LIMIT = 80  # characters the DUT's command buffer holds (EE_CMD_SIZE)
DUT_PREFIX = "[dut]: "

ExchangeHook = Callable[[str, str], None]  # (direction "<<" or ">>", text)


class DutLink(Protocol):
    """Sends a command, returns the DUT's lines up to and including ``m-ready``."""

    name: str

    def send_command(self, command: str, timeout_s: float) -> list[str]: ...
    def read_lines_until_ready(self, timeout_s: float) -> list[str]: ...
    def read_line(self, timeout_s: float) -> str: ...
    def resync(self) -> None: ...
    def close(self) -> None: ...


class _LinkBase:
    def __init__(self, transport: BaseTransport, on_exchange: ExchangeHook | None = None) -> None:
        self.transport = transport
        self.on_exchange = on_exchange
        self.name = transport.resource

    def _note(self, direction: str, text: str) -> None:
        log.debug("%s %s %r", self.name, direction, text)
        if self.on_exchange is not None:
            self.on_exchange(direction, text)

    def _raw_line(self, deadline: float, command: str) -> str:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DutTimeoutError(f"no reply to {command!r} in time", context=self.name)
        try:
            line = self.transport.read_line(timeout_s=remaining)
        except InstrumentTimeoutError as exc:
            raise DutTimeoutError(
                f"no complete reply to {command!r} in time", context=self.name
            ) from exc
        line = line.replace("\x00", "").rstrip("\r")
        self._note(">>", line)
        return line

    def _write(self, text: str) -> None:
        self._note("<<", text)
        self.transport.write_raw(text.encode("ascii"))

    def resync(self) -> None:
        """Discard pending input after a timeout or a protocol error."""
        self.transport.clear()

    def close(self) -> None:
        self.transport.close()


def _check_command(command: str, limit: int) -> None:
    if "%" in command:
        raise DutError("a command cannot contain '%' (the terminator)", context=command)
    if len(command) > limit:
        raise DutError(
            f"command is {len(command)} characters; the DUT accepts at most {limit}",
            context=command[:40] + "...",
        )


class DirectLink(_LinkBase):
    """The DUT's UART connected straight to the host (performance and accuracy modes)."""

    def send_command(self, command: str, timeout_s: float) -> list[str]:
        _check_command(command, DUT_COMMAND_LIMIT)
        self._write(command + "%")
        return self.read_lines_until_ready(timeout_s, command)

    def read_line(self, timeout_s: float) -> str:
        return self._raw_line(time.monotonic() + timeout_s, "(unsolicited)")

    def read_lines_until_ready(self, timeout_s: float, command: str = "(unsolicited)") -> list[str]:
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while True:
            line = self._raw_line(deadline, command)
            if not line:
                continue
            lines.append(line)
            if line == READY:
                return lines


class InterfaceBoardLink(_LinkBase):
    """The DUT relayed by the interface board (IO manager): ``dut <cmd>`` / ``[dut]: <line>``."""

    def send_command(self, command: str, timeout_s: float) -> list[str]:
        _check_command(command, DUT_COMMAND_LIMIT)
        deadline = time.monotonic() + timeout_s
        self._write(f"dut {command}%")
        for expected in (f"m-dut-passthrough({command})", READY):
            line = ""
            while not line:
                line = self._raw_line(deadline, command)
            if line != expected:
                raise DutError(
                    f"interface board did not acknowledge the relay: expected {expected!r}, "
                    f"got {line!r}",
                    context=command,
                )
        return self.read_lines_until_ready(deadline - time.monotonic(), command)

    def board_command(self, command: str, timeout_s: float) -> list[str]:
        """A command for the board itself (``name``, ``checkbaud``, ``setbaud N``). A board line
        ending ``m-ready`` (a list whose last line had no line end, which the reference runner
        also accepts) is split into that line and ``m-ready``."""
        deadline = time.monotonic() + timeout_s
        self._write(command + "%")
        lines = []
        while True:
            line = self._raw_line(deadline, command)
            if line != READY and line.endswith(READY) and not line.startswith(DUT_PREFIX):
                lines += [line[: -len(READY)], READY]
                return lines
            if line:
                lines.append(line)
            if line == READY:
                return lines

    def read_line(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._raw_line(deadline, "(unsolicited)")
            if line.startswith(DUT_PREFIX):
                return line[len(DUT_PREFIX) :]

    def read_lines_until_ready(self, timeout_s: float, command: str = "(unsolicited)") -> list[str]:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        lines: list[str] = []
        while True:
            line = self._raw_line(deadline, command)
            if not line:
                continue
            if not line.startswith(DUT_PREFIX):
                log.info("%s: interface board line outside the relay: %r", self.name, line)
                continue
            text = line[len(DUT_PREFIX) :]
            lines.append(text)
            if text == READY:
                return lines


def open_link(
    port: str, baud_rate: int, *, via_board: bool, on_exchange: ExchangeHook | None = None
) -> DirectLink | InterfaceBoardLink:
    """Open the serial port ``port`` (a VISA ASRL resource or a device path) as a direct DUT
    link, or as the interface board relaying to the DUT."""
    from energybench.transport import open_transport

    transport = open_transport(port, baud_rate=baud_rate)
    return (InterfaceBoardLink if via_board else DirectLink)(transport, on_exchange)
