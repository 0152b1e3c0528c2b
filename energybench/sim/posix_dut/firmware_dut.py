"""FirmwareDut: the C harness's POSIX build (firmware/build/ebdut-posix) as the lab's DUT.

The real C process serves the protocol; the lab only carries bytes and translates its side
channel onto the Timeline (:mod:`energybench.sim.posix_dut.events`). The process runs with
``--stdio`` and the lab serves it on its own pty (:attr:`FirmwareDut.port`): every byte the host
writes goes to the process's stdin unchanged and every byte it prints comes back, so the port
keeps its path across power cycles, the interface board can relay to it (:meth:`feed` with a
sink routes the output to the board until the command's ``m-ready``), and input is dropped while
the supply is off. Use the DUT port or the interface board, not both at once (replies go to
one).

Physics: profile latency per inference (``--infer-us``), hold time (``--hold-us``) and, by
default, the mode's baud rate as wire time (``--baud``); currents from the profile (active
between ``infer_begin`` and ``infer_end``, idle otherwise). The C process runs on the wall
clock, so the timeline runs at realtime pace: this DUT advances it, ``lag_s`` behind the wall
clock, and sets itself as the timeline's horizon (:meth:`Timeline.set_horizon`), so an
instrument simulator that advances the timeline (idle time, the end of a capture) waits for the
DUT instead of overrunning events still in flight. The process is started in its own session (a
terminal's Ctrl-C reaches the lab, not the DUT) and exits at end of input, so it never outlives
the lab.
"""

from __future__ import annotations

import logging
import select
import subprocess
import threading
from pathlib import Path

from energybench.errors import ConfigError, DutError, DutTimeoutError
from energybench.sim.dut.profiles import MODES, WORKLOADS, DutProfile
from energybench.sim.dut.sim_dut import InferWindow, Sink
from energybench.sim.physics.timeline import Timeline
from energybench.sim.posix_dut.build import ensure_binary
from energybench.sim.posix_dut.events import FirmwareEvent, FirmwareTrack
from energybench.sim.posix_dut.proc import (
    close_fds,
    drain,
    ebdut_argv,
    end_process,
    split_lines,
    start_process,
    write_input,
)
from energybench.sim.wire.pty import PtyServer

log = logging.getLogger(__name__)

_POLL_S = 0.02
_STDERR_KEEP = 4000  # characters of the process's stderr kept for error messages
_PTY_WRITE_TIMEOUT_S = 0.05  # nobody reading the port: drop output instead of stalling events


class FirmwareDut:
    """ebdut-posix behind the lab's pty; ``start()`` boots it, ``stop()`` ends it (bounded)."""

    def __init__(
        self,
        timeline: Timeline,
        profile: DutProfile,
        *,
        mode: str = "energy",
        workload: str = "kws01",
        binary: str | Path | None = None,
        vendor_name: str = "energybench-posix",
        pin: str = "timestamp",
        emulate_baud: bool = True,
        lag_s: float = 0.2,
        boot_timeout_s: float = 10.0,
        reply_timeout_s: float = 120.0,
        serve_pty: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}", context="mode")
        if workload not in WORKLOADS:
            raise ConfigError(f"workload must be one of {WORKLOADS}", context="workload")
        if timeline.pace != "realtime":
            raise ConfigError(
                "the firmware DUT runs on the wall clock: the timeline needs pace='realtime'",
                context="timeline.pace",
            )
        self.timeline = timeline
        self.profile = profile
        self.mode = mode
        self.workload = workload
        self.baud = profile.baud_for(mode, workload)
        self.binary = ensure_binary(binary)
        self.label = f"ebdut-posix stand-in {workload} ({self.binary})"
        self.vendor_name = vendor_name
        self.emulate_baud = emulate_baud
        self.boot_timeout_s = boot_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.track = FirmwareTrack(
            timeline,
            mode=mode,
            active_current_a=profile.workload_current_a(workload),
            idle_current_a=profile.idle_current_a,
            pin=pin,
            lag_s=lag_s,
        )
        self._pty = PtyServer(self._on_pty_bytes, name="firmware-dut") if serve_pty else None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._events_fd = -1
        self._cond = threading.Condition()
        self._ready_count = 0  # m-ready lines printed by the current process
        self._sink: Sink | None = None  # where output goes while the board relays
        self._feed_lock = threading.Lock()
        self._command = bytearray()
        self._stderr = ""
        self._stopping = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The pty path a host opens with pyserial (bytes go to and from the C process)."""
        if self._pty is None:
            raise ConfigError("this FirmwareDut serves no pty", context="port")
        return self._pty.path

    @property
    def energy_build(self) -> bool:
        """True while the energy build (timestamp pin) runs."""
        return self.mode == "energy"

    def boot_banner(self) -> list[str]:
        """The harness's boot lines (firmware/src/ebdut_core.c) as a board waiting for the DUT
        relays them; a performance build's boot ``m-lap-us`` line is left out."""
        return [f"m-timestamp-mode-{self.mode}", "m-init-done", "m-ready"]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def windows(self) -> list[InferWindow]:
        """Ground truth of every completed ``infer`` window (published once final)."""
        return self.track.windows

    @property
    def events(self) -> list[FirmwareEvent]:
        """Every side-channel event so far, with its firmware µs and timeline time."""
        return list(self.track.events)

    def wait_windows(self, count: int, timeout_s: float = 5.0) -> list[InferWindow]:
        return self.track.wait_windows(count, timeout_s)

    def start(self) -> FirmwareDut:
        if self._process is None:
            self._stopping.clear()
            self.timeline.set_horizon(self.track.horizon_s)  # the process owns the clock
            self._spawn()
            if self._pty is not None:
                self._pty.start()
        return self

    def stop(self) -> None:
        """Kill the process, join the reader, close the pty (idempotent, bounded)."""
        self._stopping.set()
        self._end_process()
        self.timeline.set_horizon(None)
        if self._pty is not None:
            self._pty.close()

    def power_on(self) -> None:
        """The supply switched on again: the DUT reboots (a new process on the same port); a
        relay waiting for the old process ends, the boot banner goes to the DUT port."""
        self._respawn(self.mode)

    def flash(self, mode: str) -> None:
        """Run the other build (energy or performance timestamps): a new process, same port."""
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}", context="mode")
        self._respawn(mode)
        log.info("firmware DUT flashed with the %s build", mode)

    def _respawn(self, mode: str) -> None:
        """End the process (on purpose: no warning) and start ``mode``'s build on the same port."""
        with self._cond:
            self._sink = None
        with self._feed_lock:
            self._stopping.set()
            self._end_process()
            self.mode = mode
            self.baud = self.profile.baud_for(mode, self.workload)
            self.track.set_mode(mode)
            self._stopping.clear()
            self._spawn()

    def __enter__(self) -> FirmwareDut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self) -> None:
        def argv_for(events_fd: int) -> list[str]:
            return ebdut_argv(
                self.binary,
                energy_build=self.energy_build,
                workload=self.workload,
                events_fd=events_fd,
                infer_s=self.profile.workload_latency_s(self.workload),
                hold_s=self.profile.timestamp_hold_s,
                name=self.vendor_name,
                baud=self.baud if self.emulate_baud else None,
            )

        process, events_fd = start_process(argv_for)
        if process.stdout is None or process.stderr is None:  # start_process pipes both
            end_process(process)
            close_fds(process, events_fd)
            raise DutError("ebdut-posix started with no output pipes", context=str(self.binary))
        fds = (process.stdout.fileno(), process.stderr.fileno(), events_fd)
        self.track.restart()
        with self._cond:
            self._ready_count = 0
            self._stderr = ""
        self._process, self._events_fd = process, events_fd
        self._reader = threading.Thread(
            target=self._read_loop, args=(process, *fds), name="firmware-dut", daemon=True
        )
        self._reader.start()
        with self._cond:
            booted = self._cond.wait_for(
                lambda: (
                    (self._ready_count >= 1 and self.track.synchronised)
                    or process.poll() is not None
                ),
                timeout=self.boot_timeout_s,
            )
        if not booted or process.poll() is not None or not self.track.synchronised:
            stderr = self._stderr.strip()
            self._end_process()
            why = "exited" if booted else f"did not boot within {self.boot_timeout_s} s"
            hint = "" if self.track.synchronised else " (no clock_origin event: make -C firmware)"
            raise DutError(f"ebdut-posix {why}{hint}: {stderr}", context=str(self.binary))

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        end_process(process)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
            if self._reader.is_alive():
                log.error("firmware DUT reader thread did not stop")
        close_fds(process, self._events_fd)
        self._events_fd = -1

    # ---- host side -------------------------------------------------------------------------
    def _on_pty_bytes(self, data: bytes) -> None:
        self.feed(data)

    def feed(self, data: bytes, sink: Sink | None = None) -> None:
        """Bytes from the host to the firmware's UART RX. With ``sink`` (the interface board),
        the output goes there until one ``m-ready`` per ``%`` in ``data`` (bounded wait)."""
        self._feed(data, sink, self.reply_timeout_s)

    def _feed(self, data: bytes, sink: Sink | None, timeout_s: float) -> None:
        with self._feed_lock:
            process = self._process
            if process is None or process.poll() is not None:
                log.warning("firmware DUT is not running; %d bytes dropped", len(data))
                return
            if not self.timeline.supply_state(self.timeline.now_s)[1]:
                log.debug("unpowered DUT ignores %d bytes", len(data))
                return
            self._note_commands(data)
            with self._cond:
                target = self._ready_count + data.count(b"%")
                if sink is not None:
                    self._sink = sink
            write_input(process, data)
        if sink is None:
            return
        # outside the feed lock: a power cycle may end this process meanwhile (wakes us)
        try:
            with self._cond:
                if not self._cond.wait_for(
                    lambda: (
                        self._ready_count >= target
                        or self._process is not process
                        or process.poll() is not None
                    ),
                    timeout=timeout_s,
                ):
                    log.warning("no m-ready from ebdut-posix within %s s", timeout_s)
        finally:
            with self._cond:
                if self._sink is sink:
                    self._sink = None

    def execute(self, command: str, timeout_s: float = 30.0) -> list[str]:
        """Send ``command%`` and return the reply lines up to ``m-ready`` (tests, scripts)."""
        lines: list[str] = []
        pending = bytearray()

        def collect(data: bytes) -> None:
            pending.extend(data)
            while b"\r\n" in pending:
                line, _, rest = bytes(pending).partition(b"\r\n")
                pending[:] = rest
                lines.append(line.decode("latin-1"))

        self._feed(command.encode("latin-1") + b"%", collect, timeout_s)
        if "m-ready" not in lines:
            raise DutTimeoutError(f"no m-ready within {timeout_s} s", context=command)
        return lines

    def pass_time(self, duration_s: float) -> None:
        """Another device's activity takes ``duration_s``: the wall clock must pass it."""
        self._stopping.wait(min(max(0.0, duration_s), 1.0))

    def _note_commands(self, data: bytes) -> None:
        for byte in data:
            if byte == 0x25:
                self.track.on_command(self._command.decode("latin-1"))
                self._command.clear()
            elif len(self._command) < 200:
                self._command.append(byte)

    # ---- process side ----------------------------------------------------------------------
    def _read_loop(
        self, process: subprocess.Popen[bytes], out_fd: int, err_fd: int, events_fd: int
    ) -> None:
        """Moves output to the host, events onto the timeline, idle time forward."""
        buffers = {out_fd: b"", events_fd: b""}
        open_fds = [out_fd, events_fd, err_fd]
        while open_fds:
            wall_s = self.timeline.wall_time_s()  # before draining: what was written is read
            try:
                ready, _, _ = select.select(open_fds, [], [], _POLL_S)
            except (OSError, ValueError):
                break
            for fd in ready:
                data = drain(fd)
                if data is None:
                    open_fds.remove(fd)
                elif fd == err_fd:
                    with self._cond:
                        self._stderr = (self._stderr + data.decode("latin-1"))[-_STDERR_KEEP:]
                elif fd == out_fd:
                    self._deliver(data)
                    buffers[fd] = split_lines(buffers[fd] + data, self._on_output_line)
                else:
                    buffers[fd] = split_lines(buffers[fd] + data, self._on_event_line)
            try:
                self.track.advance_idle(wall_s)
            except Exception:
                log.exception("firmware DUT: advancing the timeline failed")
        if not self._stopping.is_set():
            log.warning(
                "ebdut-posix pid %d ended (exit %s): %s",
                process.pid,
                process.poll(),
                self._stderr.strip(),
            )
        with self._cond:
            self._cond.notify_all()

    def _deliver(self, data: bytes) -> None:
        with self._cond:
            sink = self._sink
        if sink is not None:
            sink(data)
        elif self._pty is not None:
            self._pty.write(data, timeout_s=_PTY_WRITE_TIMEOUT_S)

    def _on_output_line(self, line: str) -> None:
        self.track.on_output_line(line)
        if line == "m-ready":
            with self._cond:
                self._ready_count += 1
                self._cond.notify_all()

    def _on_event_line(self, line: str) -> None:
        self.track.on_event_line(line)
        if line.startswith("clock_origin"):
            with self._cond:
                self._cond.notify_all()
