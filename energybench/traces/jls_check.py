"""Check a JLS v2 file's structure before pyjls sees it, and recover one its writer never closed.

pyjls 0.17 crashes the whole process (segmentation fault) opening some files whose writer was
killed: it tries to repair them in place of reading. So :func:`check_jls` walks the file in pure
Python first, chunk header by chunk header (the JLS v2 layout: a 32-byte file header whose
``length`` field is written last, on close; then chunks, each a 32-byte header with a CRC-32C,
the payload padded to 8 bytes and the payload's CRC-32C; a cleanly closed file ends with an END
chunk). Only a file that was closed and is intact goes to ``pyjls.Reader`` directly.

Any other file is recovered the way Jetperch documents (``pyjls copy``: "copy a JLS file by
replaying the data; may recover corrupted files"), in a child process so that a crash of the
library cannot take the caller down: the copy replays every intact chunk into a new, properly
closed file in a temporary folder, stopping at the first damaged one. What the recording held
after its last complete block is lost; the caller is told how much was recovered.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import google_crc32c

from energybench.errors import TraceFileError

log = logging.getLogger(__name__)

IDENTIFICATION = bytes(
    (0x6A, 0x6C, 0x73, 0x66, 0x6D, 0x74, 0x0D, 0x0A, 0x20, 0x0A, 0x20, 0x1A, 0x20, 0x20, 0xB2, 0x1C)
)
HEADER_SIZE = 32  # file header and chunk header alike
TAG_END = 0xFF
FORMAT_MAJOR = 1
RECOVERY_MIN_TIMEOUT_S = 60.0
RECOVERY_S_PER_GB = 120.0  # generous: measured ~2 s/GB plus the child's start (bench/)

_CHUNK = struct.Struct("<QQBBHIII")  # item_next, item_prev, tag, rsv, meta, length, prev, crc


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of every JLS chunk header and payload."""
    return google_crc32c.value(data)


@dataclass(frozen=True)
class JlsCheck:
    """What the structural walk found: ``problem`` is None for a closed, intact file."""

    size: int
    chunks: int  # chunk headers that verified
    intact_bytes: int  # the file up to the end of the last chunk whose header verified
    problem: str | None

    @property
    def clean(self) -> bool:
        return self.problem is None


def check_jls(path: Path | str) -> JlsCheck:
    """Walk a JLS v2 file chunk by chunk, verifying every header's and payload's CRC-32C (pyjls
    may crash, not refuse, on a damaged payload); TraceFileError if it is no JLS v2 file at all.
    Cost: reading the file once (bench/jls_check_cost.py prints it)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(HEADER_SIZE)
        if len(head) < HEADER_SIZE or head[:16] != IDENTIFICATION:
            raise TraceFileError(
                f"not a JLS v2 file ({size} bytes, no JLS file header)", context=str(path)
            )
        length, version, header_crc = struct.unpack("<QII", head[16:])
        if version >> 24 != FORMAT_MAJOR:
            raise TraceFileError(
                f"JLS format version {version >> 24}.{(version >> 16) & 0xFF} is not supported "
                f"(JLS v2 files have major version {FORMAT_MAJOR})",
                context=str(path),
            )
        offset, chunks, problem = HEADER_SIZE, 0, None
        ended = False
        while offset < size:
            raw = f.read(HEADER_SIZE)
            if len(raw) < HEADER_SIZE:
                problem = f"cut inside a chunk header at byte {offset}"
                break
            _, _, tag, _, _, payload, _, crc = _CHUNK.unpack(raw)
            if crc32c(raw[:28]) != crc:
                problem = f"damaged chunk header at byte {offset}"
                break
            end = offset + HEADER_SIZE + (payload + (-(payload + 4) % 8) + 4 if payload else 0)
            if end > size:
                problem = f"cut inside a chunk at byte {size} (it needs {end})"
                break
            if payload:  # payload, zero padding to 8 bytes, then the payload's CRC-32C
                body = f.read(end - offset - HEADER_SIZE)
                if crc32c(body[:payload]) != struct.unpack("<I", body[-4:])[0]:
                    problem = f"damaged chunk payload at byte {offset + HEADER_SIZE}"
                    break
            chunks, offset = chunks + 1, end
            if tag == TAG_END:
                ended = True
                break
    if problem is None:
        if crc32c(head[:28]) != header_crc:
            problem = "damaged file header"
        elif length == 0:
            problem = "its writer never closed it (killed or crashed while recording)"
        elif not ended or offset != size or length != size:
            problem = f"holds {size} bytes, its header says {length} (truncated or damaged)"
    return JlsCheck(size, chunks, offset if problem else size, problem)


@dataclass(frozen=True)
class Recovered:
    """A recovered copy (delete it with :meth:`remove`) and what the copy could not take."""

    path: Path
    copy_error: str | None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def recover_jls(path: Path | str, check: JlsCheck) -> Recovered:
    """Replay the intact chunks of ``path`` into a new, closed file (pyjls's copy, in a child
    process); TraceFileError in one line when nothing readable comes out of it."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix="energybench-recovered-", suffix=".jls")
    os.close(fd)
    out = Path(name)
    timeout_s = max(RECOVERY_MIN_TIMEOUT_S, check.size / 1e9 * RECOVERY_S_PER_GB)
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(path), str(out), str(check.intact_bytes)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        out.unlink(missing_ok=True)
        raise TraceFileError(
            f"{check.problem}; recovering it failed: {exc}", context=str(path)
        ) from exc
    report = _child_report(done.stdout)
    if done.returncode != 0 or report is None or not check_jls(out).clean:
        out.unlink(missing_ok=True)
        if done.returncode < 0:
            why = f"the JLS library crashed (signal {-done.returncode}) replaying it"
        else:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            why = f"replaying it failed: {tail}"
        raise TraceFileError(f"{check.problem}; cannot recover it: {why}", context=str(path))
    return Recovered(out, report.get("copy_error"))


def _child_report(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _intact_prefix(src: str, intact_bytes: int, out: str) -> None:
    """The verified chunks of ``src`` alone, under a header marking the file unclosed (pyjls's
    copy replays a damaged payload as if it were data: it must never see one)."""
    with open(src, "rb") as fi, open(out, "wb") as fo:
        head = bytearray(fi.read(HEADER_SIZE))
        head[16:24] = bytes(8)  # length 0: not closed
        head[28:32] = struct.pack("<I", crc32c(bytes(head[:28])))
        fo.write(head)
        left = intact_bytes - HEADER_SIZE
        while left > 0:
            block = fi.read(min(left, 1 << 20))
            if not block:
                break
            fo.write(block)
            left -= len(block)


def _replay(src: str, dst: str, intact_bytes: int) -> None:
    """The child: copy the intact chunks into a closed file, then prove the copy opens."""
    import pyjls

    prefix = dst + ".intact"
    _intact_prefix(src, intact_bytes, prefix)
    copy_error = None
    try:
        pyjls.copy(prefix, dst)
    except RuntimeError as exc:  # a cut tail: the copy is closed with what came before
        copy_error = str(exc)
    finally:
        os.unlink(prefix)
    with pyjls.Reader(dst) as reader:
        lengths = {s.name: s.length for s in reader.signals.values() if s.signal_id}
    print(json.dumps({"copy_error": copy_error, "lengths": lengths}), flush=True)


if __name__ == "__main__":  # the recovery child (see recover_jls)
    _replay(sys.argv[1], sys.argv[2], int(sys.argv[3]))
