"""Figures of the virtual lab with the POSIX firmware as its DUT (prints, asserts nothing).

Usage: python bench/firmware_lab.py [--profile fast-m33] [--commands 200] [--infers 20]
Starts ``VirtualLab(dut="firmware")`` in energy mode, then prints: the `name` round trip through
the lab's pty bridge (median, p99), the same through the interface board, the worst delay from a
firmware event to its handling (what ``lag_s`` must exceed), late events, and how far the
timeline's ``now`` trails the wall clock.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from energybench.dut.client import DutClient
from energybench.dut.link import DirectLink, InterfaceBoardLink
from energybench.sim.lab import VirtualLab
from energybench.transport.serial_port import SerialTransport


def _round_trips(client: DutClient, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.command("name")
        times.append(time.perf_counter() - t0)
    return times


def _describe(label: str, times: list[float]) -> None:
    ms = np.array(times) * 1e3
    print(
        f"{label}: median {statistics.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms "
        f"({len(ms)} commands)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="fast-m33")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--infers", type=int, default=20)
    args = parser.parse_args()
    with VirtualLab(args.profile, dut="firmware", mode="energy", workload="kws01") as lab:
        transport = SerialTransport(lab.dut.port, 115200, timeout_s=5.0, read_termination="\n")
        client = DutClient(DirectLink(transport), timeout_s=10.0)
        _describe("name via the lab's pty (direct)", _round_trips(client, args.commands))
        client.load(bytes(490), verify=False)
        t0 = time.perf_counter()
        for k in range(args.infers):
            client.infer(1 + k % 3, 0, timeout_s=20.0)
        infer_s = time.perf_counter() - t0
        transport.close()

        board = SerialTransport(lab.interface.port, 115200, timeout_s=5.0)
        link = InterfaceBoardLink(board)
        link.board_command(f"setbaud {lab.dut.baud}", 5.0)
        _describe("name via the interface board", _round_trips(DutClient(link), args.commands))
        board.close()

        windows = lab.dut.wait_windows(args.infers, timeout_s=5.0)
        track = lab.dut.track
        print(f"{args.infers} infers in {infer_s:.3f} s; {len(windows)} windows published")
        print(f"worst event-to-handling delay: {track.max_event_delay_s * 1e3:.3f} ms")
        print(f"late events: {track.late_events} (lag_s = {track.lag_s} s)")
        trail_s = lab.timeline.wall_time_s() - lab.timeline.now_s
        print(f"timeline now trails the wall clock by {trail_s:.3f} s")


if __name__ == "__main__":
    main()
