"""Wall time of `energybench demo` per simulated meter (prints figures; not a test).

Usage: python bench/demo_wall.py [meter ...]   (default: every meter in this checkout)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from energybench.sim.meters import available_meters


def main() -> None:
    meters = sys.argv[1:] or list(available_meters())
    for meter in meters:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "energybench", "demo", "--meter", meter, "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wall = time.monotonic() - started
        if proc.returncode != 0:
            print(f"{meter:>14}: failed ({proc.stderr.strip().splitlines()[-1:]})")
            continue
        data = json.loads(proc.stdout)
        valid = sum(1 for row in data["rows"] if row["valid"])
        print(
            f"{meter:>14}: {wall:6.1f} s wall (process), {data['wall_s']:6.1f} s in the demo, "
            f"{data['virtual_s']:7.0f} s simulated, {valid}/{len(data['rows'])} workloads valid"
        )


if __name__ == "__main__":
    main()
