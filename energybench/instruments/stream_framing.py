"""The wire format of the virtual lab's Joulescope-shaped streaming source (``sim_stream``).

Client → server: ASCII command lines ending in ``\\n``:
``IDN?`` · ``RATES?`` (comma-separated supported rates in Hz) · ``GPI?`` (number of GPI lines) ·
``START <rate_hz> [PACKED] [RANGES]`` (stream from the next sample id; PACKED = GPI bits packed;
RANGES = each sample's current-range index too) · ``STOP`` · ``RANGES?`` (the current ranges' full
scale in A, comma-separated; index 0 first, the widest, as a JS220's ``i_range`` list) ·
``RANGE <index|auto>`` / ``RANGE?`` (a fixed range, or auto-ranging as the JS220 does by default).
Every command is answered by one REPLY frame (``OK ...`` or ``ERR <reason>``); ``START`` replies
``OK <first_sample_id>`` and DATA frames follow; ``STOP`` replies ``STOPPED <next_sample_id>``
after the last DATA frame, so a client reading frames in order sees every sample sent.

Server → client: frames, each a 24-byte little-endian header then ``payload_bytes`` bytes::

    offset size field
    0      4    magic            b"EBJS"
    4      1    version          1
    5      1    frame type       1 = DATA, 2 = REPLY (UTF-8 text), 3 = END (text: reason)
    6      1    flags            bit 0: GPI bits packed (little bit order, as JLS u1);
                                 bit 1: a u8 range index per sample follows the GPI lines
    7      1    n_gpi            GPI lines in a DATA frame
    8      8    first_sample_id  u64, id of the first sample of a DATA frame
    16     4    n                u32, samples in a DATA frame
    20     4    payload_bytes    u32

DATA payload: ``n`` float32 current (A), ``n`` float32 voltage (V), then per GPI line either
``n`` bytes of 0/1 (unpacked) or ``ceil(n / 8)`` bytes (packed), then (flag bit 1) ``n`` u8 range
indices into the ``RANGES?`` list. Sample ``k`` of a stream at
``rate_hz`` is the instant ``k / rate_hz`` s of simulation time. Consecutive DATA frames carry
consecutive ids; a jump in ids is samples the instrument dropped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"EBJS"
VERSION = 1
HEADER = struct.Struct("<4sBBBBQII")
HEADER_BYTES = HEADER.size  # 24
DATA, REPLY, END = 1, 2, 3
FLAG_PACKED = 0x01
FLAG_RANGES = 0x02
SUPPORTED_RATES_HZ: tuple[int, ...] = (
    2_000_000,
    1_000_000,
    500_000,
    200_000,
    100_000,
    50_000,
    20_000,
    10_000,
    5_000,
    2_000,
    1_000,
)
MAX_PAYLOAD_BYTES = 1 << 28


@dataclass(frozen=True)
class FrameHeader:
    kind: int
    flags: int
    n_gpi: int
    first_sample_id: int
    n: int
    payload_bytes: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            VERSION,
            self.kind,
            self.flags,
            self.n_gpi,
            self.first_sample_id,
            self.n,
            self.payload_bytes,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> FrameHeader:
        """Parse a header; ValueError names what is wrong."""
        magic, version, kind, flags, n_gpi, first, n, nbytes = HEADER.unpack(raw)
        if magic != MAGIC:
            raise ValueError(f"bad frame magic {magic!r} (expected {MAGIC!r})")
        if version != VERSION:
            raise ValueError(f"unsupported frame version {version} (expected {VERSION})")
        if kind not in (DATA, REPLY, END):
            raise ValueError(f"unknown frame type {kind}")
        if nbytes > MAX_PAYLOAD_BYTES:
            raise ValueError(f"frame payload of {nbytes} bytes exceeds {MAX_PAYLOAD_BYTES}")
        packed, ranges = bool(flags & FLAG_PACKED), bool(flags & FLAG_RANGES)
        expected = data_payload_bytes(n, n_gpi, packed, ranges)
        if kind == DATA and nbytes != expected:
            raise ValueError(f"DATA frame of {n} samples declares {nbytes} payload bytes")
        return cls(kind, flags, n_gpi, first, n, nbytes)


def gpi_bytes(n: int, packed: bool) -> int:
    return (n + 7) // 8 if packed else n


def data_payload_bytes(n: int, n_gpi: int, packed: bool, ranges: bool = False) -> int:
    return 8 * n + n_gpi * gpi_bytes(n, packed) + (n if ranges else 0)


def encode_data(
    first_sample_id: int,
    current_a: np.ndarray,
    voltage_v: np.ndarray,
    gpi: list[np.ndarray],
    packed: bool,
    ranges: np.ndarray | None = None,
) -> list[bytes | memoryview]:
    """Header and payload pieces of one DATA frame (to be sent back to back); ``ranges``: the
    range index of each sample (sent with flag bit 1)."""
    n = len(current_a)
    parts: list[bytes | memoryview] = []
    parts.append(memoryview(np.ascontiguousarray(current_a, dtype="<f4")).cast("B"))
    parts.append(memoryview(np.ascontiguousarray(voltage_v, dtype="<f4")).cast("B"))
    for bits in gpi:
        if packed:
            parts.append(np.packbits(bits, bitorder="little").tobytes())
        else:
            parts.append(memoryview(np.ascontiguousarray(bits, dtype=np.uint8)).cast("B"))
    if ranges is not None:
        parts.append(memoryview(np.ascontiguousarray(ranges, dtype=np.uint8)).cast("B"))
    flags = (FLAG_PACKED if packed else 0) | (FLAG_RANGES if ranges is not None else 0)
    nbytes = data_payload_bytes(n, len(gpi), packed, ranges is not None)
    return [FrameHeader(DATA, flags, len(gpi), first_sample_id, n, nbytes).pack(), *parts]


def encode_text(kind: int, text: str) -> bytes:
    payload = text.encode("utf-8")
    return FrameHeader(kind, 0, 0, 0, 0, len(payload)).pack() + payload


def decode_data(
    header: FrameHeader, payload: bytes
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray | None]:
    """Current, voltage, GPI lines (bool) and range indices (None: not sent) of a DATA
    payload, as views where possible."""
    n = header.n
    current = np.frombuffer(payload, dtype="<f4", count=n, offset=0)
    voltage = np.frombuffer(payload, dtype="<f4", count=n, offset=4 * n)
    packed = bool(header.flags & FLAG_PACKED)
    step = gpi_bytes(n, packed)
    lines = []
    for line in range(header.n_gpi):
        raw = np.frombuffer(payload, dtype=np.uint8, count=step, offset=8 * n + line * step)
        if packed:
            lines.append(np.unpackbits(raw, count=n, bitorder="little").view(bool))
        else:
            lines.append((raw != 0) if raw.max(initial=0) > 1 else raw.view(bool))
    ranges = None
    if header.flags & FLAG_RANGES:
        offset = 8 * n + header.n_gpi * step
        ranges = np.frombuffer(payload, dtype=np.uint8, count=n, offset=offset)
    return current, voltage, lines, ranges
