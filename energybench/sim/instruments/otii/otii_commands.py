"""Command handlers of the simulated Otii TCP server
(:mod:`energybench.sim.instruments.otii.otii`): one function per ``cmd``, taking the simulator
and the request's ``data`` and returning the reply's ``data`` (or raising :class:`Failure`, sent
as a typed ``error`` reply)."""

from __future__ import annotations

from typing import Any

ACE_SAMPLE_RATES_HZ = (1000, 4000, 10000, 50000)  # [U] settable on the Ace only [V API]
MAIN_VOLTAGE_RANGE_V = (0.5, 5.0)  # [U]
MAX_CURRENT_RANGE_A = (0.001, 5.0)  # [V client docstring]
OPEN_COMMANDS = {
    "otii_is_logged_in", "otii_login", "otii_logout", "otii_get_licenses", "otii_has_license",
    "otii_reserve_license", "otii_return_license",
}  # fmt: skip


class Failure(Exception):
    def __init__(self, errorcode: str, data: dict | None = None) -> None:
        super().__init__(errorcode)
        self.errorcode = errorcode
        self.data = data or {}


def need(data: dict, key: str, kind: type | tuple[type, ...]) -> object:
    if key not in data:
        raise Failure("Missing key in request", {"key": key})
    value = data[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Failure("Invalid key type", {"key": key, "expected_type": str(kind),
                                            "received_type": type(value).__name__})  # fmt: skip
    return value


def invalid(key: str, value: object) -> Failure:
    return Failure("Invalid key value", {"key": key, "value": value})


def _login(sim: Any, data: dict) -> None:
    need(data, "username", str)
    need(data, "password", str)
    sim.logged_in = True


def _licence(sim: Any, data: dict, reserve: bool) -> None:
    lid = need(data, "license_id", int)
    for lic in sim.licenses:
        if lic["id"] == lid:
            lic["reserved_to"] = "energybench" if reserve else ""
            return
    raise Failure("License could not be reserved" if reserve else "License could not be returned")


def _set_main_voltage(sim: Any, data: dict) -> None:
    value = need(data, "value", (int, float))
    lo, hi = MAIN_VOLTAGE_RANGE_V
    if not lo <= value <= hi:
        raise invalid("value", value)
    sim.main_voltage_v = float(value)
    with sim.timeline.hold():
        sim.timeline.set_supply(sim.timeline.now_s, voltage_v=float(value))


def _set_max_current(sim: Any, data: dict) -> None:
    value = need(data, "value", (int, float))
    if not MAX_CURRENT_RANGE_A[0] <= value <= MAX_CURRENT_RANGE_A[1]:
        raise invalid("value", value)
    sim.max_current_a = float(value)


def _set_main(sim: Any, data: dict) -> None:
    enable = need(data, "enable", bool)
    with sim.timeline.hold():
        sim.timeline.set_supply(sim.timeline.now_s, voltage_v=sim.main_voltage_v,
                                output_on=bool(enable))  # fmt: skip


def _set_range(sim: Any, data: dict) -> None:
    value = need(data, "range", str)
    if value not in ("low", "high"):
        raise invalid("range", value)
    sim.range = value


def _enable_channel(sim: Any, data: dict) -> None:
    channel = sim._channel(data)
    if channel in ("i1", "i2") and channel not in sim.gpi:
        raise invalid("channel", channel)
    if need(data, "enable", bool):
        sim.enabled.add(channel)
    else:
        sim.enabled.discard(channel)


def _set_samplerate(sim: Any, data: dict) -> None:
    if sim.model != "Ace":
        raise Failure("Command not valid for device type")
    sim._channel(data)
    value = need(data, "value", int)
    if value not in ACE_SAMPLE_RATES_HZ:
        raise invalid("value", value)
    sim.sample_rate_hz = value


def _start_recording(sim: Any, data: dict) -> None:
    if sim.recording is not None and sim.recording.running:
        raise Failure("Command failure", {"message": "a recording is already running"})
    analog = tuple(ch for ch in ("mc", "mv", "mp") if ch in sim.enabled)
    pins = {ch: sim.gpi[ch] for ch in ("i1", "i2") if ch in sim.enabled}
    sim.timeline.catch_up()  # realtime pace: the recording starts now by the wall clock
    sim.new_recording(pins, analog)


def _stop_recording(sim: Any, data: dict) -> None:
    if sim.recording is not None:
        sim.pass_idle_time(sim.recording)  # it recorded until now (a client may never poll)
        sim.recording.stop()


def _last_recording(sim: Any, data: dict) -> dict:
    rec = sim.recording
    if rec is None:
        return {"recording_id": -1}
    return {"recording_id": rec.recording_id, "name": f"Recording {rec.recording_id}"}


def _data_count(sim: Any, data: dict) -> dict:
    rec = sim._recording_for(data)
    channel = sim._channel(data, rec)
    if channel in rec.analog:
        sim.pass_idle_time(rec)
    return {"count": rec.count(channel, sim.faults.gpi_delay_s)}


def _channel_data(sim: Any, data: dict) -> dict:
    rec = sim._recording_for(data)
    channel = sim._channel(data, rec)
    index, count = need(data, "index", int), need(data, "count", int)
    digital = rec.transitions(channel, sim.faults.gpi_delay_s) if channel in rec.pins else None
    available = rec.count(channel) if digital is None else len(digital)
    if not 0 <= index <= available:
        raise invalid("index", index)
    if count < 0:
        raise invalid("count", count)
    if digital is not None:
        return {"data_type": "digital", "values": digital[index : index + count]}
    return rec.analog_data(channel, index, count)


def _statistics(sim: Any, data: dict) -> dict:
    rec = sim._recording_for(data)
    channel = sim._channel(data, rec)
    if channel in rec.pins:
        raise invalid("channel", channel)
    t0, t1 = need(data, "from", (int, float)), need(data, "to", (int, float))
    if t1 < t0:
        raise invalid("to", t1)
    return rec.statistics(channel, float(t0), float(t1))


def _create_project(sim: Any, data: dict) -> dict:
    sim.project_id = max(sim.project_id, 0) + 1
    return {"project_id": sim.project_id}


HANDLERS = {
    "otii_is_logged_in": lambda s, d: {"logged_in": s.logged_in},
    "otii_login": _login,
    "otii_logout": lambda s, d: setattr(s, "logged_in", False),
    "otii_get_licenses": lambda s, d: {"licenses": [dict(lic) for lic in s.licenses]},
    "otii_has_license": lambda s, d: {
        "has_license": any(
            lic["reserved_to"] for lic in s.licenses if lic["type"] == need(d, "license_type", str)
        )
    },
    "otii_reserve_license": lambda s, d: _licence(s, d, True),
    "otii_return_license": lambda s, d: _licence(s, d, False),
    "otii_get_devices": lambda s, d: {
        "devices": [{"device_id": s.device_id, "name": s.model, "type": s.model}]
    },
    "otii_get_active_project": lambda s, d: {"project_id": s.project_id},
    "otii_create_project": _create_project,
    "arc_get_version": lambda s, d: {"hw_version": "sim-1", "fw_version": "1.0.0-sim"},
    "arc_set_main_voltage": _set_main_voltage,
    "arc_get_main_voltage": lambda s, d: {"value": s.main_voltage_v},
    "arc_set_max_current": _set_max_current,
    "arc_get_max_current": lambda s, d: {"value": s.max_current_a or 0.0},
    "arc_set_main": _set_main,
    "arc_get_main": lambda s, d: {"value": s.timeline.supply_state(s.timeline.now_s)[1]},
    "arc_set_range": _set_range,
    "arc_get_range": lambda s, d: {"range": s.range},
    "arc_enable_channel": _enable_channel,
    "arc_get_channel_samplerate": lambda s, d: {"value": s.channel_rate_hz(s._channel(d))},
    "arc_set_channel_samplerate": _set_samplerate,
    "project_start_recording": _start_recording,
    "project_stop_recording": _stop_recording,
    "project_get_last_recording": _last_recording,
    "recording_get_channel_info": lambda s, d: (r := s._recording_for(d)).info(s._channel(d, r)),
    "recording_get_channel_data_count": _data_count,
    "recording_get_channel_data_index": lambda s, d: {
        "index": (r := s._recording_for(d)).index_at(
            float(need(d, "timestamp", (int, float))), s._channel(d, r)
        )
    },
    "recording_get_channel_data": _channel_data,
    "recording_get_channel_statistics": _statistics,
}
