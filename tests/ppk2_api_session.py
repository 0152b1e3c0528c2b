"""Samples read from a PPK2 (the simulator) by the ``ppk2-api`` package (IRNAS, GPL-2.0), run by
the tests as a separate process: energybench never imports it. Metadata, source-meter mode at
3.3 V, DUT on, stream until 20 000 samples, stop, DUT off. Prints one JSON object with the number
of samples, their mean in µA (after 100), the R0 it read from the metadata and how many D0
samples were low.

    python tests/ppk2_api_session.py PORT
"""

from __future__ import annotations

import json
import sys
import time

from ppk2_api.ppk2_api import PPK2_API


def main(port: str) -> None:
    ppk = PPK2_API(port, timeout=1)
    ppk.get_modifiers()
    ppk.use_source_meter()
    ppk.set_source_voltage(3300)
    ppk.toggle_DUT_power("ON")
    ppk.start_measuring()
    samples, bits = [], []
    deadline = time.monotonic() + 10
    while len(samples) < 20000 and time.monotonic() < deadline:
        data = ppk.get_data()
        if data:
            values, raw = ppk.get_samples(data)
            samples += values
            bits += raw
        time.sleep(0.01)
    ppk.stop_measuring()
    ppk.toggle_DUT_power("OFF")
    d0 = ppk.digital_channels(bits)[0]
    print(
        json.dumps(
            {
                "n": len(samples),
                "mean_ua": sum(samples[100:]) / len(samples[100:]),
                "r0": ppk.modifiers["R"]["0"],
                "d0_low": d0.count(0),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
