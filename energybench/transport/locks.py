"""Exclusive use of a bench: advisory locks the operating system drops when their holder dies.

:class:`HolderLock` is an ``flock`` on a small file that also records who holds it (pid, host,
command line, start time), so a second run is refused with one line naming the holder. The
lock belongs to the open file: a holder that exits, crashes or is killed with SIGKILL releases
it at once, and the next run takes it over (the stale holder record left in the file is simply
overwritten: there is no stale-lock timeout to wait for or to get wrong). A holder that ends
normally removes its lock file. ``flock`` locks are
reliable on local file systems; on NFS they may not be, so keep bench files on a local disk.

:func:`resource_lock_path` names the lock of one instrument or port resource, in a per-machine
folder, so two bench files naming the same instrument also exclude each other (resources are
compared as spelled, case-insensitively: two spellings of one instrument are not recognised).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from energybench.errors import BenchBusyError

log = logging.getLogger(__name__)

LOCK_DIR_NAME = "energybench-locks"
LOCK_DIR_ENV = "ENERGYBENCH_LOCK_DIR"
MAX_ATTEMPTS = 10


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("__main__.py", "energybench"):
        argv[0] = "energybench"
    return shlex.join(argv)


def holder_record() -> dict[str, object]:
    """Who this process is, as a lock file records it."""
    return {
        "pid": os.getpid(),
        "host": platform.node(),
        "command": _command_line(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe_holder(record: dict | None) -> str:
    if not record:
        return "another process (it left no holder record)"
    return (
        f"pid {record.get('pid', '?')} on {record.get('host', '?')} since "
        f"{record.get('started_utc', '?')} ({record.get('command', '?')})"
    )


class HolderLock:
    """An exclusive, non-blocking ``flock`` on ``path`` recording its holder; BenchBusyError
    naming the holder when another process has it. Re-entrant in this process is not
    supported: a second HolderLock on the same path here is refused like any other."""

    def __init__(self, path: Path | str, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> HolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(MAX_ATTEMPTS):
            fd = self._lock_fd()
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed the file as we opened it: lock the new one
        else:
            raise BenchBusyError("the lock file keeps being replaced", context=self.what)
        with contextlib.suppress(OSError):  # read-only: nothing to record
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder_record()) + "\n").encode(), 0)
        self._fd = fd
        return self

    def _lock_fd(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # another user's lock file: lock it read-only, record nothing
            fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read_record(fd)
            os.close(fd)
            raise BenchBusyError(
                f"in use by {describe_holder(record)}; wait for that run to end or stop it "
                f"(kill -TERM {record.get('pid', '<pid>') if record else '<pid>'})",
                context=self.what,
                lock_file=str(self.path),
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def release(self) -> None:
        """Remove the lock file, then drop the lock (a process that opened the file meanwhile
        sees it was replaced and locks the new one)."""
        if self._fd is not None:
            if _same_file(self._fd, self.path):
                with contextlib.suppress(OSError):
                    self.path.unlink()
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> HolderLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        held, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def _read_record(fd: int) -> dict | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()
        record = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def lock_dir() -> Path:
    """The machine's folder of resource locks: ``$ENERGYBENCH_LOCK_DIR`` when set (e.g. a test
    session of its own), else ``energybench-locks`` in $XDG_RUNTIME_DIR or the temp folder."""
    override = os.environ.get(LOCK_DIR_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / LOCK_DIR_NAME


def resource_lock_path(resource: str) -> Path:
    """The lock file of one resource string (an instrument address or a serial port)."""
    key = resource.strip().lower()
    slug = re.sub(r"[^a-z0-9]+", "_", key).strip("_")[:60]
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return lock_dir() / f"{slug}-{digest}.lock"


def bench_file_lock_path(bench_file: Path) -> Path:
    """``<bench file>.lock`` beside the bench file; in the lock folder when that folder is
    not writable (e.g. an example bench file inside an installed package)."""
    bench_file = Path(bench_file).resolve()
    beside = bench_file.with_name(bench_file.name + ".lock")
    if os.access(bench_file.parent, os.W_OK):
        return beside
    return resource_lock_path(f"bench-file:{bench_file}")
