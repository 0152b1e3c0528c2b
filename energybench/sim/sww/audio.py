"""WAV files for the simulated interface board's SD card, and the lab's stand-in SD card.

:func:`read_wav` accepts what the interface board's ``WaveSource`` accepts: the canonical
44-byte header (``RIFF`` size ``WAVEfmt `` 16-byte PCM fmt chunk, then ``data`` at once),
16-bit samples, 1 or 2 channels, any sample rate. The data size is the header's, cut to the
bytes present. :func:`make_standin_sd_card` writes a generated 10 s, 16 kHz stereo 16-bit WAV
with three tone bursts (NOT speech: the stand-in detector fires on them, the reference model
does not) and its truth file ``sww_standin_test.json`` in the ``sww_*_test.json`` format.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from energybench.errors import ConfigError

STANDIN_WAV = "sww_standin.wav"
STANDIN_TRUTH = "sww_standin_test.json"
STANDIN_BURSTS_S = ((1.05, 1.65), (4.05, 4.75), (7.05, 7.45))
STANDIN_RATE_HZ = 16000
STANDIN_LENGTH_S = 10.0
STANDIN_LEAD_S = 0.1  # truth windows open this long before a burst (frames end after it)


class WavError(ConfigError):
    """A file the interface board cannot play (the reason, for the log)."""


@dataclass(frozen=True)
class Wav:
    sample_rate_hz: int
    channels: int
    samples: np.ndarray  # int16, shape (frames, channels)

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz

    @property
    def left(self) -> np.ndarray:
        return self.samples[:, 0]


def read_wav(path: Path) -> Wav:
    """Parse a canonical 16-bit PCM WAV; :class:`WavError` names what the board rejects."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WavError(f"cannot read: {exc}", context=where) from exc
    if len(data) < 44:
        raise WavError("shorter than the 44-byte WAV header", context=where)
    if data[0:4] != b"RIFF" or data[8:16] != b"WAVEfmt " or data[36:40] != b"data":
        raise WavError(
            "not a canonical WAV (RIFF, WAVEfmt , data right after a 16-byte fmt)", context=where
        )
    fmt_size, audio_format, channels, rate, _, block_align, bits = struct.unpack(
        "<IHHIIHH", data[16:36]
    )
    if fmt_size != 16 or audio_format != 1:
        raise WavError(f"fmt chunk size {fmt_size} / format {audio_format}: not PCM", context=where)
    if bits != 16:
        raise WavError(f"{bits}-bit samples; 16-bit expected", context=where)
    if channels not in (1, 2) or block_align != 2 * channels:
        raise WavError(f"{channels} channels (block align {block_align})", context=where)
    if rate == 0:
        raise WavError("sample rate 0", context=where)
    (size,) = struct.unpack("<I", data[40:44])
    body = data[44 : 44 + size]
    frames = len(body) // block_align
    samples = np.frombuffer(body[: frames * block_align], dtype="<i2").reshape(frames, channels)
    return Wav(rate, channels, samples.astype(np.int16))


def write_wav(path: Path, samples: np.ndarray, sample_rate_hz: int) -> Path:
    """Write int16 ``samples`` (frames × channels) as a canonical WAV."""
    samples = np.asarray(samples, dtype="<i2")
    if samples.ndim == 1:
        samples = samples[:, None]
    channels = samples.shape[1]
    body = samples.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVEfmt "
    header += struct.pack(
        "<IHHIIHH", 16, 1, channels, sample_rate_hz, sample_rate_hz * 2 * channels, 2 * channels, 16
    )
    header += b"data" + struct.pack("<I", len(body))
    Path(path).write_bytes(header + body)
    return Path(path)


def standin_audio(
    seed: int = 0,
    sample_rate_hz: int = STANDIN_RATE_HZ,
    length_s: float = STANDIN_LENGTH_S,
    bursts_s: Sequence[tuple[float, float]] = STANDIN_BURSTS_S,
) -> np.ndarray:
    """Stereo int16: faint seeded noise plus 10 ms-faded tone bursts (1 kHz + 2.5 kHz) at
    ``bursts_s`` (start, end) in seconds."""
    rng = np.random.default_rng(seed)
    n = round(length_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    signal = rng.normal(0.0, 0.003, n)
    fade = round(0.01 * sample_rate_hz)
    for start_s, end_s in bursts_s:
        if end_s > length_s:
            continue
        i0, i1 = round(start_s * sample_rate_hz), round(end_s * sample_rate_hz)
        envelope = np.ones(i1 - i0)
        envelope[:fade] = np.linspace(0.0, 1.0, fade)
        envelope[-fade:] = np.linspace(1.0, 0.0, fade)
        tone = 0.25 * np.sin(2 * np.pi * 1000 * t[i0:i1]) + 0.15 * np.sin(
            2 * np.pi * 2500 * t[i0:i1]
        )
        signal[i0:i1] += envelope * tone
    left = np.clip(np.round(signal * 32767), -32768, 32767).astype(np.int16)
    return np.stack([left, left], axis=1)


def make_standin_sd_card(
    folder: Path,
    *,
    seed: int = 0,
    bursts_s: Sequence[tuple[float, float]] = STANDIN_BURSTS_S,
    length_s: float = STANDIN_LENGTH_S,
    wav_name: str = STANDIN_WAV,
    truth_name: str = STANDIN_TRUTH,
) -> Path:
    """Write the stand-in WAV (tone bursts at ``bursts_s``) and its truth JSON into
    ``folder``; returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    audio = standin_audio(seed, STANDIN_RATE_HZ, length_s, bursts_s)
    write_wav(folder / wav_name, audio, STANDIN_RATE_HZ)
    truth = [
        {
            "wav_file": wav_name,
            "sample_rate": STANDIN_RATE_HZ,
            "length_sec": length_s,
            "detection_windows": [[s - STANDIN_LEAD_S, e] for s, e in bursts_s],
        }
    ]
    (folder / truth_name).write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return folder
