"""Process plumbing for the firmware DUT: start ebdut-posix on pipes, bounded I/O, ending it.

Every descriptor is non-blocking and every wait bounded: a stuck or dead process costs a
logged warning and dropped bytes, never a hung lab.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from energybench.errors import ConfigError, DutError

log = logging.getLogger(__name__)

_POLL_S = 0.02


def ebdut_argv(
    binary: Path,
    *,
    energy_build: bool,
    workload: str,
    events_fd: int,
    infer_s: float,
    hold_s: float,
    name: str,
    baud: int | None,
) -> list[str]:
    """The command line of one ebdut-posix serving on stdio (``baud`` None: no wire time)."""
    argv = [
        str(binary),
        "--stdio",
        "--mode",
        "energy" if energy_build else "performance",
        "--model",
        workload,
        "--events",
        str(events_fd),
        "--infer-us",
        str(round(infer_s * 1e6)),
        "--hold-us",
        str(min(1_000_000, max(1, round(hold_s * 1e6)))),
        "--name",
        name,
    ]
    if baud is not None:
        argv += ["--baud", str(baud)]
    return argv


def start_process(argv_for: Callable[[int], list[str]]) -> tuple[subprocess.Popen[bytes], int]:
    """Start the process with an events pipe; returns it and the pipe's (non-blocking) read
    end. ``argv_for(write_fd)`` builds the command line. Its own session: a terminal's Ctrl-C
    goes to the lab, which ends the process itself."""
    read_fd, write_fd = os.pipe()
    argv = argv_for(write_fd)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            start_new_session=True,
            bufsize=0,
        )
    except OSError as exc:
        os.close(read_fd)
        raise ConfigError(f"cannot start: {exc}", context=argv[0]) from exc
    finally:
        os.close(write_fd)  # the child holds it: end of file when the process ends
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:  # all three are pipes
            os.set_blocking(stream.fileno(), False)
    os.set_blocking(read_fd, False)
    log.info("ebdut-posix pid %d: %s", process.pid, " ".join(argv))
    return process, read_fd


def end_process(process: subprocess.Popen[bytes], grace_s: float = 1.0) -> None:
    """Close its input (ebdut-posix --stdio exits at end of input), then kill; reaped."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            log.error("ebdut-posix pid %d did not die after SIGKILL", process.pid)


def close_fds(process: subprocess.Popen[bytes], events_fd: int) -> None:
    for stream in (process.stdout, process.stderr):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()
    if events_fd >= 0:
        with contextlib.suppress(OSError):
            os.close(events_fd)


def write_input(process: subprocess.Popen[bytes], data: bytes, timeout_s: float = 5.0) -> None:
    """Write to the process's stdin within ``timeout_s``; what cannot be written is dropped."""
    if process.stdin is None:
        raise DutError("started with no input pipe", context=f"ebdut-posix pid {process.pid}")
    try:
        fd = process.stdin.fileno()
    except ValueError:  # closed meanwhile (the process is being ended)
        log.warning("ebdut-posix input closed; %d bytes dropped", len(data))
        return
    view = memoryview(data)
    deadline = time.monotonic() + timeout_s
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            pass
        except OSError as exc:  # the process died
            log.warning("ebdut-posix stdin: %s; %d bytes dropped", exc, len(view))
            return
        if time.monotonic() > deadline:
            log.warning("ebdut-posix does not read its input; %d bytes dropped", len(view))
            return
        with contextlib.suppress(OSError, ValueError):
            select.select([], [fd], [], _POLL_S)


def drain(fd: int) -> bytes | None:
    """Everything readable now from a non-blocking fd; None at end of file."""
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        except OSError:
            return b"".join(chunks) if chunks else None
        if not data:
            return b"".join(chunks) if chunks else None
        chunks.append(data)
    return b"".join(chunks)


def split_lines(buffer: bytes, handle: Callable[[str], None]) -> bytes:
    """Hand each complete line (``\\n``, CR stripped) to ``handle``; returns the rest."""
    *complete, rest = buffer.split(b"\n")
    for raw in complete:
        try:
            handle(raw.rstrip(b"\r").decode("latin-1"))
        except Exception:  # a translation bug must not stop the byte relay
            log.exception("firmware DUT: handling %r failed", raw[:60])
    return rest
