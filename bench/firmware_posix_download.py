"""Round-trip figures of the POSIX DUT harness over a pseudo-terminal (prints, asserts nothing).

Usage: python bench/firmware_posix_download.py [--model vww01] [--chunk-bytes 38] [--baud 0]
Builds firmware/ with make, downloads one input in `db` chunks, reads it back, runs `infer 20 0`,
and prints chunk round-trip time, download throughput and the DUT-timed inference window.
"""

from __future__ import annotations

import argparse
import re
import select
import subprocess
import time
from pathlib import Path

import serial

ROOT = Path(__file__).resolve().parent.parent
INPUT_BYTES = {"kws01": 490, "vww01": 27648, "ic01": 3072, "ad01": 2560}


def command(port: serial.Serial, text: str, timeout_s: float = 30.0) -> list[str]:
    port.write(text.encode("ascii") + b"%")
    buffer = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        buffer += port.read(port.in_waiting or 1)
        if buffer.endswith(b"m-ready\r\n"):
            return buffer.decode("ascii").split("\r\n")[:-1]
    raise TimeoutError(f"no m-ready for {text[:40]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="vww01", choices=sorted(INPUT_BYTES))
    parser.add_argument("--chunk-bytes", type=int, default=38)
    parser.add_argument("--baud", type=int, default=0)
    args = parser.parse_args()
    subprocess.run(["make", "-s", "-C", str(ROOT / "firmware")], check=True, timeout=180)
    process = subprocess.Popen(
        [str(ROOT / "firmware/build/ebdut-posix"), "--model", args.model, "--baud", str(args.baud)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if not select.select([process.stdout], [], [], 30.0)[0]:
            raise SystemExit("ebdut-posix printed no 'pty:' line within 30 s")
        path = process.stdout.readline().strip().removeprefix("pty: ")
        with serial.Serial(path, timeout=0.05) as port:
            data = bytes(i * 7 % 256 for i in range(INPUT_BYTES[args.model]))
            command(port, f"db load {len(data)}")
            start = time.perf_counter()
            chunks = 0
            for at in range(0, len(data), args.chunk_bytes):
                command(port, "db " + data[at : at + args.chunk_bytes].hex())
                chunks += 1
            download_s = time.perf_counter() - start
            start = time.perf_counter()
            lines = command(port, "db print")
            print_s = time.perf_counter() - start
            laps = [
                int(m.group(1))
                for m in map(re.compile(r"^m-lap-us-(\d+)$").match, command(port, "infer 20 0"))
                if m
            ]
        print(f"model {args.model}: {len(data)} B in {chunks} chunks of <= {args.chunk_bytes} B")
        print(
            f"download: {download_s:.3f} s, {download_s / chunks * 1e3:.3f} ms per chunk, "
            f"{len(data) / download_s / 1e3:.1f} kB/s"
        )
        print(f"db print: {len(lines) - 1} lines in {print_s * 1e3:.1f} ms")
        print(f"infer 20 0: DUT window {laps[1] - laps[0]} us")
    finally:
        process.terminate()
        process.wait(timeout=5)


if __name__ == "__main__":
    main()
