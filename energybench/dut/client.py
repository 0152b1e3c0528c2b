"""MLPerf Tiny DUT protocol client: identify, download, infer, results — strictly parsed.

Unlike the reference runner it checks every reply: ``e-[...]`` and unprefixed error lines raise
:class:`DutError`; a download must end in ``m-load-done`` (optionally verified by ``db print``
read-back); the firmware's timestamp mode is detected and a mismatch is refused; the 32-bit µs
lap counter's wrap is handled.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Literal

from energybench.dut.link import DUT_COMMAND_LIMIT, READY, DutLink
from energybench.errors import DutError, DutTimeoutError

log = logging.getLogger(__name__)

TimestampMode = Literal["energy", "performance"]

COUNTER_WRAP_US = 1 << 32
DEFAULT_TIMEOUT_S = 5.0
_NAME = re.compile(r"^m-name-dut-\[([^]]*)\]$")
_MODEL = re.compile(r"^m-model-\[([^]]+)\]$")
_PROFILE = re.compile(r"^m-profile-\[([^]]+)\]$")
_RESULTS = re.compile(r"^m-results-\[([^]]*)\]$")
_LAP = re.compile(r"^m-lap-us-(\d+)$")
_MODE = re.compile(r"^m-timestamp-mode-(energy|performance)$")
_EXPECTING = re.compile(r"^m-\[Expecting (\d+) bytes\]$")
_BUFFER = re.compile(r"^m-buffer((?:-[0-9a-fA-F]{2})+)$")


@dataclass(frozen=True)
class DutIdentity:
    name: str
    profile: str
    model: str


@dataclass(frozen=True)
class InferResult:
    """One ``infer N W``: the lines, the DUT's own timing (performance builds), the outputs."""

    inferences: int
    warmups: int
    lines: tuple[str, ...]
    lap_us: tuple[int, int] | None
    results: tuple[float, ...]
    host_elapsed_s: float

    @property
    def dut_elapsed_s(self) -> float | None:
        """Elapsed time by the DUT's µs counter, wrap-safe (one wrap at most)."""
        if self.lap_us is None:
            return None
        start, end = self.lap_us
        return ((end - start) % COUNTER_WRAP_US) / 1e6


def _errors_in(lines: list[str]) -> list[str]:
    """Error lines: ``e-[...]`` and the reference firmware's unprefixed complaints."""
    bad = []
    for line in lines:
        if line.startswith("e-") or (
            not line.startswith("m-") and line and not line.startswith("ULPMark")
        ):
            bad.append(line)
    return bad


def parse_results(line: str) -> tuple[float, ...]:
    """Values of an ``m-results-[a,b,...]`` line (a trailing comma, as vww01 prints, is fine)."""
    match = _RESULTS.match(line)
    if not match:
        raise DutError(f"not a results line: {line!r}", context="results")
    try:
        return tuple(float(v) for v in match.group(1).split(",") if v.strip())
    except ValueError as exc:
        raise DutError(f"unparseable results line {line!r}", context="results") from exc


class DutClient:
    """Talks to one DUT over a :class:`DutLink`."""

    def __init__(self, link: DutLink, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.link = link
        self.timeout_s = timeout_s
        self.mode: TimestampMode | None = None

    # ---- low level ----------------------------------------------------------------------
    def command(
        self, command: str, timeout_s: float | None = None, *, allow_errors: bool = False
    ) -> list[str]:
        """Send one command; the reply lines without the final ``m-ready``."""
        try:
            lines = self.link.send_command(command, timeout_s or self.timeout_s)
        except DutTimeoutError:
            self.link.resync()
            raise
        body = self._reply_body(command, lines[:-1] if lines and lines[-1] == READY else lines)
        errors = self._errors_in(body)
        if errors and not allow_errors:
            raise DutError(f"DUT answered with an error: {' | '.join(errors)}", context=command)
        return body

    def _reply_body(self, command: str, lines: list[str]) -> list[str]:
        """The reply as the firmware means it (a subclass strips its echo here)."""
        return list(lines)

    def _errors_in(self, lines: list[str]) -> list[str]:
        return _errors_in(lines)

    # ---- identification -----------------------------------------------------------------
    def wait_for_boot(self, timeout_s: float = 10.0) -> TimestampMode:
        """Read the boot banner (after a reset or power-on); returns the timestamp mode."""
        deadline = time.monotonic() + timeout_s
        mode = None
        while True:
            line = self.link.read_line(max(0.0, deadline - time.monotonic()))
            match = _MODE.match(line)
            if match:
                mode = match.group(1)
            if line == READY and mode:
                self.mode = mode  # type: ignore[assignment]
                return self.mode  # type: ignore[return-value]

    def identify(self) -> DutIdentity:
        name = profile = model = None
        for line in self.command("name"):
            if m := _NAME.match(line):
                name = m.group(1)
        for line in self.command("profile"):
            if m := _PROFILE.match(line):
                profile = m.group(1)
            elif m := _MODEL.match(line):
                model = m.group(1)
        if name is None or model is None:
            raise DutError("DUT did not report its name and model", context="name/profile")
        return DutIdentity(name, profile or "", model)

    def probe_mode(self) -> TimestampMode:
        """Ask ``timestamp``: a performance build prints ``m-lap-us-N``, an energy build nothing."""
        lines = self.command("timestamp")
        self.mode = "performance" if any(_LAP.match(x) for x in lines) else "energy"
        return self.mode

    def require_mode(self, expected: TimestampMode) -> None:
        """Refuse to run when the firmware's timestamp mode does not match the run's mode."""
        mode = self.mode or self.probe_mode()
        if mode != expected:
            raise DutError(
                f"the DUT firmware is a {mode}-mode build; this run needs {expected} mode "
                f"(flash the {expected} firmware)",
                context="timestamp mode",
            )

    # ---- download -----------------------------------------------------------------------
    @staticmethod
    def max_chunk_bytes() -> int:
        """Bytes per ``db <hex>`` command within the DUT's 80-character buffer: 38."""
        return (DUT_COMMAND_LIMIT - len("db ")) // 2

    def load(
        self,
        data: bytes,
        *,
        chunk_bytes: int | None = None,
        verify: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        """Download ``data`` into the DUT's input buffer, checking every reply."""
        if not data:
            raise DutError("nothing to download (0 bytes)", context="db load")
        chunk = chunk_bytes or self.max_chunk_bytes()
        if not 0 < chunk <= self.max_chunk_bytes():
            raise DutError(
                f"chunk of {chunk} bytes does not fit the DUT's command buffer", context="db"
            )
        reply = self.command(f"db load {len(data)}", timeout_s)
        if not any((m := _EXPECTING.match(x)) and int(m.group(1)) == len(data) for x in reply):
            raise DutError(f"DUT did not expect {len(data)} bytes: {reply}", context="db load")
        done = False
        for offset in range(0, len(data), chunk):
            if done:
                raise DutError(
                    f"DUT reported m-load-done early, at byte {offset} of {len(data)}", context="db"
                )
            lines = self.command("db " + data[offset : offset + chunk].hex(), timeout_s)
            done = "m-load-done" in lines
        if not done:
            raise DutError(f"no m-load-done after {len(data)} bytes", context="db")
        if verify:
            echoed = self.read_buffer(len(data), timeout_s)
            if echoed != data:
                first = next(
                    (i for i, (a, b) in enumerate(zip(echoed, data, strict=False)) if a != b),
                    len(echoed),
                )
                raise DutError(
                    f"read-back differs from the download at byte {first}", context="db print"
                )

    def read_buffer(self, n_bytes: int, timeout_s: float | None = None) -> bytes:
        """The DUT's input buffer via ``db print`` (the first ``n_bytes``)."""
        out = bytearray()
        wait = timeout_s or max(self.timeout_s, n_bytes / 2000.0)
        for line in self.command("db print", wait):
            if m := _BUFFER.match(line):
                out += bytes(int(h, 16) for h in m.group(1).strip("-").split("-"))
        return bytes(out[:n_bytes])

    # ---- inference ----------------------------------------------------------------------
    def infer(self, inferences: int, warmups: int, timeout_s: float) -> InferResult:
        """Run ``infer N W`` (both arguments always sent) and check the transcript."""
        if inferences < 1 or warmups < 0:
            raise DutError("need inferences >= 1 and warmups >= 0", context="infer")
        started = time.monotonic()
        lines = self.command(f"infer {inferences} {warmups}", timeout_s)
        elapsed = time.monotonic() - started
        expected = [
            f"m-warmup-start-{warmups}",
            "m-warmup-done",
            f"m-infer-start-{inferences}",
            "m-infer-done",
        ]
        missing = [x for x in expected if x not in lines]
        if missing:
            raise DutError(f"infer transcript lacks {missing}: {lines}", context="infer")
        laps = [int(m.group(1)) for x in lines if (m := _LAP.match(x))]
        if self.mode == "performance" and len(laps) != 2:
            raise DutError(
                f"performance build printed {len(laps)} m-lap-us lines, expected 2", context="infer"
            )
        if self.mode == "energy" and laps:
            raise DutError("energy build printed m-lap-us lines", context="infer")
        results_lines = [x for x in lines if x.startswith("m-results-")]
        results = parse_results(results_lines[-1]) if results_lines else ()
        return InferResult(
            inferences,
            warmups,
            tuple(lines),
            (laps[0], laps[1]) if len(laps) == 2 else None,
            results,
            elapsed,
        )

    def results(self) -> tuple[float, ...]:
        lines = [x for x in self.command("results") if x.startswith("m-results-")]
        if not lines:
            raise DutError("no m-results line", context="results")
        return parse_results(lines[-1])
