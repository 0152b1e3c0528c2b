"""The streaming-wakeword DUT (sww01) command engine (docs/dut-protocol.md#sww-dut-commands).

Every command is echoed first (``Received command: <cmd>``) and ends with ``m-ready``; unknown
or empty commands answer ``Unrecognized command ...`` / ``Empty command ...``. ``start`` begins
streaming (timestamp pulse = energy-window start); ``stop`` ends it (pulse = window end) and dumps
``target activations:`` as a bracketed int8 list, or reports the DUT idle. Strictly parsed: the
echo must name the command sent, and each reply must be the one its command documents.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from energybench.dut.client import DutClient
from energybench.errors import DutError

log = logging.getLogger(__name__)

ECHO = "Received command: "
START_LISTENING = "Listening for I2S data"
START_DONE = "DMA receive initiated."
START_BUSY = "I2S Rx currently in progress"
STOP_DONE = "Streaming stopped."
STOP_IDLE = "I2S is already idle"
ACTIVATIONS = "target activations:"
_ERROR_PREFIXES = ("Unrecognized command", "Empty command", "e-")
_LIST = re.compile(r"\[(.*?)\]", re.DOTALL)
_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class StopResult:
    """``stop``: whether the DUT was streaming, and the activations it dumped if so."""

    was_streaming: bool
    activations: tuple[int, ...] = ()


def parse_activations(lines: list[str], where: str = "stop") -> tuple[int, ...]:
    """The int8 list after ``target activations:`` (16 per line, bracketed, maybe across
    lines; commas and/or spaces between values)."""
    at = next((k for k, x in enumerate(lines) if x.strip().startswith(ACTIVATIONS)), None)
    if at is None:
        raise DutError(f"no {ACTIVATIONS!r} dump in the reply", context=where)
    text = "\n".join([lines[at].strip()[len(ACTIVATIONS) :], *lines[at + 1 :]])
    match = _LIST.search(text)
    if match is None or text[: match.start()].strip():
        raise DutError(
            f"the {ACTIVATIONS!r} dump is not one bracketed list (truncated?)", context=where
        )
    if text[match.end() :].strip():
        raise DutError(
            f"unexpected text after the activations list: {text[match.end() :].strip()[:60]!r}",
            context=where,
        )
    values = []
    for token in re.split(r"[,\s]+", match.group(1).strip()):
        if not token:
            continue
        if not _INT.match(token) or not -128 <= int(token) <= 127:
            raise DutError(f"activation {token!r} is not an int8", context=where)
        values.append(int(token))
    return tuple(values)


class SwwClient(DutClient):
    """The sww01 DUT through a :class:`~energybench.dut.link.DutLink` (the interface board's
    relay in every mode: the board plays the audio and records the detections)."""

    def _reply_body(self, command: str, lines: list[str]) -> list[str]:
        """The reply without the firmware's ``Received command: <cmd>`` echo (required)."""
        if not lines or lines[0].rstrip() != ECHO + command:
            first = lines[0] if lines else "(nothing)"
            raise DutError(
                f"expected the echo {ECHO + command!r}, got {first!r}: not the sww01 firmware?",
                context=command,
            )
        return list(lines[1:])

    def _errors_in(self, lines: list[str]) -> list[str]:
        return [x for x in lines if x.startswith(_ERROR_PREFIXES)]

    def probe_mode(self):  # type: ignore[override]
        raise DutError(
            "the sww01 firmware has no timestamp-mode builds to probe (one build runs every "
            "mode: start/stop always pulse the timestamp pin)",
            context="timestamp",
        )

    def start(self, timeout_s: float | None = None) -> None:
        """``start``: streaming begins (the DUT pulses the timestamp pin)."""
        body = [x.strip() for x in self.command("start", timeout_s)]
        if any(x.startswith(START_BUSY) for x in body):
            raise DutError("the DUT is already streaming (stop it first)", context="start")
        if not any(x.startswith(START_LISTENING) for x in body) or not any(
            x.startswith(START_DONE) for x in body
        ):
            raise DutError(
                f"expected {START_LISTENING!r} and {START_DONE!r}, got {body}", context="start"
            )

    def stop(self, timeout_s: float | None = None) -> StopResult:
        """``stop``: streaming ends (timestamp pulse) and the activations are dumped; an idle
        DUT says so and does not pulse."""
        body = self.command("stop", timeout_s)
        stripped = [x.strip() for x in body]
        if any(x.startswith(STOP_IDLE) for x in stripped):
            return StopResult(False)
        if STOP_DONE not in stripped:
            raise DutError(f"expected {STOP_DONE!r}, got {stripped[:3]}", context="stop")
        return StopResult(True, parse_activations(body[stripped.index(STOP_DONE) + 1 :]))
