"""Find or build firmware/build/ebdut-posix, the POSIX build of the C DUT harness.

The virtual lab runs it as its DUT (``--dut firmware``). The binary is rebuilt with ``make`` when
it is missing or older than a source file under ``firmware/`` (an exclusive lock serialises
concurrent builds from parallel tests); a missing ``make`` or C compiler is one ConfigError
naming the tool.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

from energybench.errors import ConfigError

log = logging.getLogger(__name__)

FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "firmware"
BINARY_NAME = "ebdut-posix"
ENV_BINARY = "ENERGYBENCH_EBDUT"  # an explicit binary path overrides the build
BUILD_TIMEOUT_S = 300.0
_SOURCE_SUFFIXES = (".c", ".h")
_LOCK_POLL_S = 0.1


def default_binary() -> Path:
    return FIRMWARE_DIR / "build" / BINARY_NAME


def _newest_source_mtime(firmware_dir: Path) -> float:
    newest = (firmware_dir / "Makefile").stat().st_mtime
    for folder in ("src", "include", "ports/posix"):
        for path in (firmware_dir / folder).rglob("*"):
            if path.suffix in _SOURCE_SUFFIXES:
                newest = max(newest, path.stat().st_mtime)
    return newest


def _needs_build(binary: Path, firmware_dir: Path) -> bool:
    if not binary.is_file():
        return True
    return binary.stat().st_mtime < _newest_source_mtime(firmware_dir)


def build_tools_missing() -> str | None:
    """Why the firmware cannot be built here (the missing tool), or None."""
    if shutil.which("make") is None:
        return "make is not installed (needed to build firmware/; install make and a C compiler)"
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None and shutil.which("gcc") is None:
        return f"no C compiler ({compiler!r} or gcc) on PATH (needed to build firmware/)"
    return None


def ensure_binary(binary: str | Path | None = None, *, timeout_s: float = BUILD_TIMEOUT_S) -> Path:
    """The ebdut-posix to run: ``binary``, else $ENERGYBENCH_EBDUT, else the tree's (built)."""
    explicit = binary or os.environ.get(ENV_BINARY)
    if explicit:
        path = Path(explicit)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ConfigError("not an executable file", context=f"firmware binary {path}")
        return path
    firmware_dir = FIRMWARE_DIR
    if not (firmware_dir / "Makefile").is_file():
        raise ConfigError(
            "the firmware sources are not next to this energybench (not a source checkout); "
            f"pass the path of a built {BINARY_NAME}",
            context=str(firmware_dir),
        )
    path = default_binary()
    if not _needs_build(path, firmware_dir):
        return path
    missing = build_tools_missing()
    if missing and path.is_file():
        log.warning("%s is older than its sources but cannot be rebuilt: %s", path, missing)
        return path
    if missing:
        raise ConfigError(missing, context=f"make -C {firmware_dir}")
    (firmware_dir / "build").mkdir(exist_ok=True)
    with open(firmware_dir / "build" / ".build-lock", "w") as lock:
        _lock_build(lock, firmware_dir, timeout_s)  # another process may be building
        if _needs_build(path, firmware_dir):
            log.info("building %s with make", path)
            try:
                result = subprocess.run(
                    ["make", "-s", "-C", str(firmware_dir), f"build/{BINARY_NAME}"],
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                )
            except subprocess.TimeoutExpired as exc:
                raise ConfigError(
                    f"make did not finish within {timeout_s:.0f} s",
                    context=f"make -C {firmware_dir}",
                ) from exc
            if result.returncode != 0:
                raise ConfigError(
                    f"build failed:\n{result.stdout}{result.stderr}".rstrip(),
                    context=f"make -C {firmware_dir}",
                )
    return path


def _lock_build(lock: IO[str], firmware_dir: Path, timeout_s: float) -> None:
    """Take the build lock, waiting for another process's build at most ``timeout_s`` (its
    ``make`` is bounded by the same timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"another build held the lock for more than {timeout_s:.0f} s",
                    context=str(firmware_dir / "build" / ".build-lock"),
                ) from None
            time.sleep(_LOCK_POLL_S)
