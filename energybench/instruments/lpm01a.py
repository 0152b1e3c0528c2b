"""STMicroelectronics X-NUCLEO-LPM01A (PowerShield) driver: supply and streaming meter.

Serial at 3 686 400 baud, ASCII commands acknowledged ``ack <command> [value]`` or refused ``error
<command>`` + ``Error detail: …`` (docs/instruments/lpm01a.md). Unlike the MLCommons runner
(docs/reference-runner.md#runner-defects: last-two-events, 1ms-events, lpm-regex, timestamp-width,
unbounded-waits, stale-lpm-output) every wait is bounded, stale output is purged before each
exchange and at connect, acknowledgements must name the exact command, and the data stream is parsed
strictly (lpm01a_stream). Energy output (1 kHz, ≤ 10 kHz) becomes ``bin`` samples of current at the
set voltage; current output ``point`` samples (≤ 5 kHz continuous in ascii_dec, ≤ 100 kHz in
bin_hexa, whose record framing is [D] and carries no event markers). ``eventsrc d7 fal`` events
become the digital line ``d7`` (sync mode ``event_marker``).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from energybench.analysis.trace import TraceChunk
from energybench.errors import (
    ConfigError,
    InstrumentError,
    InstrumentTimeoutError,
)
from energybench.instruments.capabilities import (
    InstrumentInfo,
    StreamRequest,
    StreamSettings,
    SyncMode,
    SyncSpec,
)
from energybench.instruments.catalogue import supply_check
from energybench.instruments.lpm01a_stream import (
    HexaParser,
    Lpm01aStreamStats,
    StreamAssembler,
    strip_prompt,
)
from energybench.instruments.shutdown import (
    CONFIRM_STEP,
    ShutdownReport,
    ShutdownStep,
    confirm_output_off,
    run_shutdown_steps,
)
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

BAUD_RATE = 3_686_400
FREQUENCIES_HZ = {
    100_000: "100k", 50_000: "50k", 20_000: "20k", 10_000: "10k", 5_000: "5k", 2_000: "2k",
    1_000: "1k", 500: "500", 200: "200", 100: "100", 50: "50", 20: "20", 10: "10", 5: "5",
    2: "2", 1: "1",
}  # fmt: skip
MAX_ENERGY_RATE_HZ = 10_000
MAX_ASCII_CONTINUOUS_HZ = 5_000
DYNAMIC_MAX_A = 50e-3  # help text: 10 mA; ST literature: 50 mA [U]
MAX_CHUNK_SAMPLES = 1 << 16
MIN_FIRMWARE = (1, 0, 6)


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.strip().split("."))
    except ValueError:
        return (0,)


RELEASED_OFF_STEP = "pwr off (confirmed before host control was released)"


class Lpm01a:
    """The PowerShield: :class:`PowerSupply` and :class:`StreamingMeter` (event markers)."""

    kind = "supply+meter"
    max_channel = 1
    transport_options = (("timeout_s", float),)  # open() passes it to the serial port
    sync_modes: tuple[SyncMode, ...] = ("event_marker",)
    identity_pattern = r"STMicroelectronics,X-NUCLEO-LPM01A"

    def __init__(
        self,
        transport: BaseTransport,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        *,
        output: str = "energy",
        data_format: str = "ascii_dec",
        reply_timeout_s: float = 2.0,
    ) -> None:
        if channel != 1:
            raise ConfigError("the LPM01A has one channel", context="channel")
        if output not in ("energy", "current"):
            raise ConfigError(f"output must be energy or current, got {output!r}", context="output")
        if data_format not in ("ascii_dec", "bin_hexa"):
            raise ConfigError(
                f"data_format must be ascii_dec or bin_hexa, got {data_format!r}",
                context="data_format",
            )
        self.transport = transport
        self.limits = limits
        self.supply_check = supply_check("lpm01a", limits)  # 1.8..3.3 V from the profile
        self.output = output
        self.data_format = data_format
        self._hexa: HexaParser | None = None
        self.reply_timeout_s = reply_timeout_s
        self.info: InstrumentInfo | None = None
        self._lock = threading.RLock()
        self._replies: collections.deque[str] = collections.deque(maxlen=256)
        self._voltage_v = 3.3  # the firmware default
        self._current_limit_a: float | None = None
        self._settings: StreamSettings | None = None
        self._assembler: StreamAssembler | None = None
        self._acquiring = False
        self._completed = False
        self._controlled = False
        self._released_off = False  # pwr off was confirmed before host control was released
        self.stale_lines = 0

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits | None = None, **kw) -> Lpm01a:
        """Open the serial port at 3 686 400 baud, purge stale output and take host control."""
        from energybench.transport import open_transport

        timeout_s = kw.pop("timeout_s", 2.0)
        transport = open_transport(
            resource, baud_rate=BAUD_RATE, timeout_s=timeout_s, write_termination="\r\n"
        )
        try:
            driver = cls(transport, limits, **kw)
            driver.connect()
        except BaseException:  # a refused option or a failed connect must not hold the port
            with contextlib.suppress(Exception):
                transport.close()
            raise
        return driver

    @property
    def resource(self) -> str:
        return self.transport.resource

    # ---- exchanges -------------------------------------------------------------------
    def _pump(self, deadline: float) -> None:
        """Read one line (or a block of a binary stream) and route it: stream data to the
        assembler, replies to the queue."""
        if self._acquiring and self._hexa is not None:
            timeout_s = max(1e-3, deadline - time.monotonic())
            self._hexa.feed(self.transport.read_some(1 << 16, timeout_s))
            if self._hexa.completed:
                self._acquiring, self._completed = False, True
            return
        line = self.transport.read_line(max(1e-3, deadline - time.monotonic()))
        text = strip_prompt(line)
        if self._acquiring and self._assembler is not None and self._assembler.feed(line):
            return
        if text.startswith("Acquisition completed"):
            self._acquiring, self._completed = False, True
        elif text.startswith(("ack", "error", "Error detail")):
            self._replies.append(text)
        elif text:
            self.stale_lines += 1
            log.debug("%s: ignored line %r", self.resource, text)

    def command(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command; the text after ``ack <command>``; InstrumentError on ``error``."""
        deadline = time.monotonic() + (timeout_s or self.reply_timeout_s)
        with self._lock:
            if not self._acquiring:
                self.transport.clear()  # stale output of a past session (runner-stale-lpm-output)
            self._replies.clear()
            self.transport.write(command)
            ack, error = f"ack {command}", f"error {command}"
            while True:
                while self._replies:
                    reply = self._replies.popleft()
                    if reply == ack or reply.startswith(ack + " "):
                        return reply[len(ack) :].strip()
                    if reply == error:
                        raise InstrumentError(
                            f"refused: {self._error_detail(deadline)}",
                            context=f"{self.resource} {command!r}",
                        )
                if time.monotonic() >= deadline:
                    raise InstrumentTimeoutError(
                        "no acknowledgement", context=f"{self.resource} {command!r}"
                    )
                try:
                    self._pump(deadline)
                except InstrumentTimeoutError:
                    continue

    def _error_detail(self, deadline: float) -> str:
        while True:
            while self._replies:
                reply = self._replies.popleft()
                if reply.startswith("Error detail"):
                    return reply.partition(":")[2].strip()
            if time.monotonic() >= deadline:
                return "(no Error detail line)"
            try:
                self._pump(deadline)
            except InstrumentTimeoutError:
                return "(no Error detail line)"

    def connect(self) -> None:
        """Take host control; stop an acquisition left running by an earlier session."""
        seen = self.stale_lines
        try:
            self.command("htc")
        except InstrumentError:  # refused while a stale acquisition streams
            self._stop_stale()
            self.command("htc")
        else:
            if self.stale_lines > seen:  # accepted, but data lines are still streaming
                self._stop_stale()
        self._controlled = True

    def _stop_stale(self) -> None:
        log.warning("%s: stopping an acquisition left running", self.resource)
        with self._lock:
            self.transport.write("stop")
            deadline = time.monotonic() + self.reply_timeout_s * 5
            while time.monotonic() < deadline:
                try:
                    line = self.transport.read_line(max(1e-3, deadline - time.monotonic()))
                except InstrumentTimeoutError:
                    break
                if "Acquisition completed" in line:
                    break
            self.transport.clear()

    def identify(self) -> InstrumentInfo:
        board = self.command("powershield").removeprefix("PowerShield present").strip()
        version = self.command("version")
        if _version_tuple(version) < MIN_FIRMWARE:
            log.warning("%s: firmware %s is older than 1.0.6 (eventsrc needs it)", board, version)
        self.info = InstrumentInfo(
            "STMicroelectronics", "X-NUCLEO-LPM01A", board, version, self.resource
        )
        return self.info

    # ---- PowerSupply -----------------------------------------------------------------
    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        millivolts = round(voltage_v * 1000)
        if abs(millivolts - voltage_v * 1000) > 1e-6:
            raise ConfigError(f"the LPM01A sets whole millivolts, got {voltage_v!r} V")
        self.command(f"volt {millivolts}m", timeout_s=self.reply_timeout_s * 5)  # self-calibrates
        self._voltage_v = millivolts / 1000

    def set_current_limit(self, current_a: float) -> None:
        """The LPM01A has no programmable limit: checked against the bench limits, recorded."""
        self._current_limit_a = self.supply_check.current_limit(current_a)

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._current_limit_a is not None, enabled, f"{self.resource} pwr on")
        self.command("pwr on nostatus" if enabled else "pwr off")

    def output_enabled(self) -> bool:
        return self.command("pwr get") == "on"

    # ---- StreamingMeter --------------------------------------------------------------
    def native_sample_rate_hz(self, sync: SyncSpec | None = None) -> float:
        """The fastest rate this configuration streams: 100 kHz current (10 kHz energy) in
        bin_hexa, else continuous ascii_dec's 5 kHz (event markers need ascii_dec)."""
        if self.data_format != "bin_hexa":
            return float(MAX_ASCII_CONTINUOUS_HZ)
        return float(MAX_ENERGY_RATE_HZ if self.output == "energy" else max(FREQUENCIES_HZ))

    def configure_stream(self, request: StreamRequest) -> StreamSettings:
        rate = round(request.sample_rate_hz)
        if rate not in FREQUENCIES_HZ or abs(rate - request.sample_rate_hz) > 1e-9:
            raise ConfigError(
                f"{request.sample_rate_hz:g} Hz is not an LPM01A rate "
                f"({', '.join(FREQUENCIES_HZ.values())})",
                context="sample_rate_hz",
            )
        if self.output == "energy" and rate > MAX_ENERGY_RATE_HZ:
            raise ConfigError("energy output is limited to 10 kHz", context="sample_rate_hz")
        binary = self.data_format == "bin_hexa"
        if not binary and rate > MAX_ASCII_CONTINUOUS_HZ:
            raise ConfigError(
                "continuous ascii_dec streaming is limited to 5 kHz; use data_format='bin_hexa'",
                context="sample_rate_hz",
            )
        if binary and request.sync is not None:
            raise ConfigError(
                "event markers are not documented for bin_hexa; use ascii_dec for event_marker",
                context="sync",
            )
        if binary and not hasattr(self.transport, "read_some"):
            raise ConfigError(
                f"{type(self.transport).__name__} cannot read a binary stream",
                context="data_format",
            )
        if request.current_range_a is not None and request.current_range_a > DYNAMIC_MAX_A:
            raise ConfigError(
                f"{request.current_range_a:g} A exceeds the dynamic-mode range (50 mA)",
                context="current_range_a",
            )
        events = request.sync is not None
        commands = ["acqmode dyn", "acqtime inf", "trigdelay 0", "trigsrc sw"]
        if events:
            sync = request.sync
            if sync.mode != "event_marker" or sync.line.lower() not in ("d7", ""):
                raise ConfigError(
                    f"the LPM01A marks events from d7 only (event_marker), got {sync}",
                    context="sync",
                )
            if self.info and _version_tuple(self.info.firmware) < MIN_FIRMWARE:
                raise ConfigError(
                    f"event markers need firmware >= 1.0.6, the board has {self.info.firmware}",
                    context="sync",
                )
            commands.append(f"eventsrc d7 {'fal' if sync.polarity == 'falling' else 'ris'}")
        commands += [
            f"output {self.output}",
            f"format {self.data_format}",
            f"freq {FREQUENCIES_HZ[rate]}",
        ]
        for command in commands:
            self.command(command)
        self._settings = StreamSettings(
            sample_rate_hz=float(rate),
            sample_kind="bin" if self.output == "energy" else "point",
            digital_names=("d7",) if events else (),
            voltage_v=self._voltage_v,
        )
        return self._settings

    def start(self) -> None:
        settings = self._settings
        if settings is None:
            raise ConfigError("configure_stream() before start()", context=self.resource)
        scale = settings.sample_rate_hz / self._voltage_v if self.output == "energy" else 1.0
        self._assembler = StreamAssembler(
            settings.sample_rate_hz, scale, self._voltage_v, bool(settings.digital_names)
        )
        self._completed = False
        self._hexa = HexaParser(self._assembler) if self.data_format == "bin_hexa" else None
        self.command("start")
        self._acquiring = True

    @property
    def stats(self) -> Lpm01aStreamStats:
        return self._assembler.stats if self._assembler else Lpm01aStreamStats()

    def chunks(self, timeout_s: float) -> Iterator[TraceChunk]:
        """Chunks (one per TimeStamp second) until the acquisition completes; a silence longer
        than ``timeout_s`` raises InstrumentTimeoutError."""
        assembler = self._assembler
        if assembler is None:
            raise ConfigError("start() before chunks()", context=self.resource)
        while True:
            with self._lock:
                if self._completed or not self._acquiring:
                    chunk = assembler.take(final=True)
                    if chunk is not None:
                        yield chunk
                    return
                self._pump(time.monotonic() + timeout_s)
                chunk = None
                if assembler.ready or assembler.pending_samples > MAX_CHUNK_SAMPLES:
                    chunk = assembler.take()
            if chunk is not None:
                yield chunk

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop and wait (bounded) for ``Acquisition completed``; samples stay for chunks()."""
        if not self._acquiring:
            return
        deadline = time.monotonic() + (timeout_s or self.reply_timeout_s * 5)
        with self._lock:
            self.transport.write("stop")
            while self._acquiring:
                if time.monotonic() >= deadline:
                    raise InstrumentTimeoutError(
                        "no 'Acquisition completed' after stop", context=f"{self.resource} stop"
                    )
                try:
                    self._pump(deadline)
                except InstrumentTimeoutError:
                    continue

    # ---- board ---------------------------------------------------------------------------
    def calibrate(self, timeout_s: float = 30.0) -> None:
        """Board self-calibration (``calib``); redo after a temperature shift of > 5 °C."""
        self.command("calib", timeout_s=timeout_s)

    def temperature_c(self) -> float:
        reply = self.command("temp degc")
        try:
            return float(reply.split()[-1])
        except (ValueError, IndexError):
            raise InstrumentError(f"bad temperature reply {reply!r}", context="temp") from None

    def set_lcd(self, line: int, text: str) -> None:
        if line not in (1, 2) or len(text) > 16 or '"' in text:
            raise ConfigError("lcd line is 1 or 2, text ≤ 16 characters without quotes")
        self.command(f'lcd {line} "{text}"')

    # ---- shutdown --------------------------------------------------------------------
    def safe_shutdown(self) -> ShutdownReport:
        """Stop, power off (acknowledged, then read back with ``pwr get``), release host
        control; idempotent, never raises."""
        report = run_shutdown_steps(self.resource, [("stop", self.stop)])
        self._acquiring = False  # after a failed stop too: the next commands purge stale output
        if not self._controlled:  # host control released (or never taken): pwr is refused
            if self._released_off:  # a repeated shutdown: what the first one confirmed
                report.steps.append(ShutdownStep(RELEASED_OFF_STEP, True, output=True))
            return report
        steps = [
            ("pwr off", lambda: self.command("pwr off")),
            (CONFIRM_STEP, confirm_output_off(self, self.resource)),
        ]
        if self._controlled:
            steps.append(("hrc", lambda: self.command("hrc")))
        powered = run_shutdown_steps(self.resource, steps, output=("pwr off", CONFIRM_STEP))
        self._released_off = powered.output_off is True
        self._controlled = False
        return report.merge(powered)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing must not raise
            self.transport.close()

    def __enter__(self) -> Lpm01a:
        return self

    def __exit__(self, *exc: object) -> None:
        self.safe_shutdown()
        self.close()
