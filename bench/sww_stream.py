"""Wall time of one simulated sww01 stream (stand-in and, if present, the reference model) per
simulated second of audio (prints figures; not a test).

Usage: python bench/sww_stream.py [MODEL_DIR] [WAV]
       (defaults: ../shared/mlperf-tiny/models and ../shared/.../sww01/short_wav_easy10s.wav)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from energybench.sim.lab import VirtualLab
from energybench.sim.sww.audio import STANDIN_WAV, read_wav

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "mlperf-tiny"


def run(model: Path | None, wav_path: Path | None) -> None:
    with VirtualLab("stm32l4r5-reference", workload="sww01", model=model, idle_speed=0.0) as lab:
        assert lab.sd_card is not None
        wav = read_wav(wav_path or lab.sd_card / STANDIN_WAV)
        dut = lab.dut
        dut.execute("start")
        started = time.perf_counter()
        dut.play_i2s(wav.left, wav.sample_rate_hz)
        wall_s = time.perf_counter() - started
        dut.execute("stop")
        stream = dut.streams[-1]
        print(
            f"{dut.label[:60]:<60} {wav.duration_s:6.1f} s audio, {stream.frames} frames, "
            f"{wall_s:6.3f} s wall ({wall_s / wav.duration_s * 1e3:6.2f} ms per audio second), "
            f"{len(stream.detections_s)} detections"
        )


def main() -> None:
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED / "models"
    short_wav = SHARED / "datasets" / "sww01" / "short_wav_easy10s.wav"
    wav = Path(sys.argv[2]) if len(sys.argv) > 2 else short_wav
    run(None, None)
    if model_dir.exists() and wav.exists():
        run(model_dir, wav)


if __name__ == "__main__":
    main()
