"""A recording driven by Qoitech's own client (``otii-tcp-client``, MIT), run by the tests as a
separate process against an Otii server (the simulator): connect with automatic licensing,
list devices, set the supply, enable main current, voltage and the GPI, record for a while,
read every sample in the client's chunks, ask for statistics, switch the supply off. Prints one
JSON object with what it got, so the test can compare it with the simulator's truth.

    python tests/otii_client_session.py --port PORT [--seconds 2.0] [--voltage 1.8]
"""

from __future__ import annotations

import argparse
import json
import time

from otii_tcp_client import otii_client
from otii_tcp_client.otii import OtiiException


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--voltage", type=float, default=1.8)
    args = p.parse_args()
    client = otii_client.OtiiClient()
    otii = client.connect(host=args.host, port=args.port, try_for_seconds=5)
    out: dict = {"licenses": otii.get_licenses()}
    devices = otii.get_devices(timeout=3)
    out["devices"] = [{"id": d.id, "name": d.name, "type": d.type} for d in devices]
    arc = devices[0]
    arc.set_main_voltage(args.voltage)
    arc.set_max_current(0.5)
    for channel in ("mc", "mv", "mp", "i1"):
        arc.enable_channel(channel, True)
    out["samplerate_hz"] = arc.get_channel_samplerate("mc")
    arc.set_main(True)
    try:
        project = otii.get_active_project()
    except OtiiException:  # the client raises when no project is open (project_id -1)
        project = otii.create_project()
    project.start_recording()
    out["recording_started_s"] = time.monotonic()
    time.sleep(args.seconds)
    project.stop_recording()
    recording = project.get_last_recording()
    out["recording"] = {"id": recording.id, "name": recording.name}
    for channel in ("mc", "mv"):
        count = recording.get_channel_data_count(arc.id, channel)
        data = recording.get_channel_data(arc.id, channel, 0, count)  # chunks of 40 000
        out[channel] = {
            "count": count,
            "timestamp": data["timestamp"],
            "interval": data["interval"],
            "values": data["values"],
            "info": recording.get_channel_info(arc.id, channel),
        }
    count = recording.get_channel_data_count(arc.id, "i1")
    out["i1"] = recording.get_channel_data(arc.id, "i1", 0, count)["values"]
    end_s = out["mc"]["count"] / out["samplerate_hz"]
    out["statistics"] = {
        channel: recording.get_channel_statistics(arc.id, channel, 0.0, end_s)
        for channel in ("mc", "mp")
    }
    arc.set_main(False)
    out["main_after"] = arc.get_main()
    client.disconnect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
