"""Wall time of the simulated DUT: an MLPerf-style energy run over the pty, and raw inference.

Usage: python bench/sim_dut_speed.py [--model-dir ../shared/mlperf-tiny/models]
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import serial

from energybench.sim.lab import VirtualLab


def _command(port: serial.Serial, text: str, timeout_s: float = 30.0) -> bytes:
    port.write(text.encode() + b"%")
    data, deadline = b"", time.monotonic() + timeout_s
    while not data.endswith(b"m-ready\r\n"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r}: {data[-80:]!r}")
        data += port.read(max(1, port.in_waiting))
    return data


def energy_run(model_dir: Path | None) -> None:
    """5 windows of ~10 s (reference KWS: 231 inferences of 43.4 ms) over the real pty."""
    with VirtualLab("stm32l4r5-reference", mode="energy", model=model_dir) as lab:
        data = np.random.default_rng(0).integers(-128, 128, 490, dtype=np.int8).tobytes()
        wall0 = time.perf_counter()
        with serial.Serial(lab.dut.port, lab.dut.baud, timeout=0.05) as port:
            for _ in range(5):
                _command(port, "db load 490")
                for k in range(0, 490, 26):
                    _command(port, "db " + data[k : k + 26].hex())
                _command(port, "infer 231 10")
        wall = time.perf_counter() - wall0
        sim = lab.timeline.now_s
        print(
            f"energy run 5 x infer 231 (+19 db commands each) over the pty: "
            f"{wall:.3f} s wall for {sim:.1f} s simulated ({sim / wall:.0f}x), "
            f"window {lab.dut.windows[-1].duration_s:.3f} s, "
            f"{lab.dut.windows[-1].energy_j / 231 * 1e6:.1f} uJ/inf, model {lab.dut.model.label}"
        )


def in_process(model_dir: Path | None, n: int = 1000) -> None:
    with VirtualLab("fast-m33", model=model_dir, idle_speed=0) as lab:
        data = bytes(490)
        lab.dut.execute("db load 490")
        for k in range(0, 490, 38):
            lab.dut.execute("db " + data[k : k + 38].hex())
        wall0 = time.perf_counter()
        for _ in range(n):
            lab.dut.execute("infer 1 0")
        wall = time.perf_counter() - wall0
    print(f"in-process 'infer 1 0' x{n}: {wall / n * 1e3:.3f} ms wall each ({lab.dut.model.label})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    energy_run(args.model_dir)
    in_process(args.model_dir)


if __name__ == "__main__":
    main()
