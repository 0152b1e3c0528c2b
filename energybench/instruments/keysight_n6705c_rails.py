"""Several DUT rails on one N6705B/C: further outputs digitized in the same scope-mode
acquisition as the main one (one ``INIT:ACQ`` over the channel list, one trigger, the same
sample ids: the N6705 Operating and Service Guide, "Measurement Triggers": the channels named in
a list are triggered together), each sourcing its own rail (docs/rails.md).

:class:`RailOutput` is the :class:`~energybench.instruments.capabilities.PowerSupply` of one
further output over the driver's connection; :class:`N6705Rails` the driver's part that adds
the rail channels to a capture and fetches their arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from energybench.analysis.trace import SourceInfo, Trace
from energybench.errors import AcquisitionError, ConfigError
from energybench.instruments.catalogue import supply_check
from energybench.instruments.supply_limits import SafetyLimits, require_current_limit

if TYPE_CHECKING:
    from energybench.instruments.keysight_n6705c import KeysightN6705C


def _fmt(value: float) -> str:
    return f"{value:.9g}"


class RailOutput:
    """One further output of the mainframe as a supply (its rail's voltage and limit)."""

    def __init__(self, driver: KeysightN6705C, channel: int, limits: SafetyLimits) -> None:
        self.driver = driver
        self.channel = channel
        self.resource = f"{driver.resource} output {channel}"
        self.supply_check = supply_check("keysight_n6705c", limits)  # this rail's own limits
        self.supply_check.use_model(driver.module(channel))
        self._current_limit_a: float | None = None

    def set_voltage(self, voltage_v: float) -> None:
        voltage_v = self.supply_check.voltage(voltage_v)
        ch = f"(@{self.channel})"
        self.driver.send_batch([f"EMUL PS2Q,{ch}", f"VOLT {_fmt(voltage_v)},{ch}"])

    def set_current_limit(self, current_a: float) -> None:
        current_a = self.supply_check.current_limit(current_a)
        self.driver.send_batch([f"CURR:LIM {_fmt(current_a)},(@{self.channel})"])
        self._current_limit_a = current_a

    def set_output(self, enabled: bool) -> None:
        require_current_limit(self._current_limit_a is not None, enabled, f"OUTP (@{self.channel})")
        self.driver.send_batch([f"OUTP {'ON' if enabled else 'OFF'},(@{self.channel})"])

    def output_enabled(self) -> bool:
        reply = self.driver.transport.query(f"OUTP? (@{self.channel})").strip()
        return reply in ("1", "+1", "ON")


class N6705Rails:
    """The rail channels of a :class:`KeysightN6705C` capture (a mixin of the driver)."""

    rail_channels: dict[int, float | None]  # output -> its current range (None: the widest)
    _rail_ranges_a: dict[int, float]

    def set_rail_channels(self: KeysightN6705C, ranges_a: dict[int, float | None]) -> None:
        """Digitize these further outputs with the main one in every capture."""
        for channel, range_a in ranges_a.items():
            if not 1 <= channel <= self.max_channel:
                top = self.max_channel
                raise ConfigError(f"must be 1..{top}, got {channel}", context="channel")
            if channel in (self.channel, self.sync_channel):
                what = "the main rail" if channel == self.channel else "the sync channel"
                raise ConfigError(f"output {channel} is {what}", context="channel")
            if range_a is not None and not range_a > 0:
                raise ConfigError(f"must be > 0 A, got {range_a}", context="current_range_a")
        self.rail_channels = dict(ranges_a)

    def rail_output(self: KeysightN6705C, channel: int, limits: SafetyLimits) -> RailOutput:
        if not 1 <= channel <= self.max_channel or channel == self.channel:
            raise ConfigError(f"output {channel} cannot source a further rail", context="channel")
        return RailOutput(self, channel, limits)

    def _rail_capture_commands(self: KeysightN6705C, measure_voltage: bool) -> list[str]:
        batch = []
        for channel, range_a in self.rail_channels.items():
            ch = f"(@{channel})"
            batch += [
                f"SENS:FUNC:CURR ON,{ch}",
                f"SENS:FUNC:VOLT {'ON' if measure_voltage else 'OFF'},{ch}",
                f"SENS:CURR:RANG {'MAX' if range_a is None else _fmt(range_a)},{ch}",
            ]
        return batch

    def _query_rail_ranges(self: KeysightN6705C) -> None:
        self._rail_ranges_a = {
            n: self._query_float(f"SENS:CURR:RANG? (@{n})") for n in self.rail_channels
        }

    def _fetch_rails(
        self: KeysightN6705C, n: int, first: int, rate_hz: float, measure_voltage: bool, remaining
    ) -> dict[int, Trace]:
        """Each rail channel's arrays as a trace on the main capture's sample ids."""
        traces = {}
        for channel in self.rail_channels:
            current = self._fetch_array("CURR", channel, n, remaining())
            if measure_voltage:
                voltage: np.ndarray | float = self._fetch_array("VOLT", channel, n, remaining())
            else:
                voltage = self._query_float(f"VOLT? (@{channel})")
            limit = self._rail_ranges_a.get(channel)
            if limit and np.any(np.abs(current) >= limit * (1 - 1e-6)):
                raise AcquisitionError(
                    f"output {channel}: current reached the {limit:g} A range (over-range): "
                    "use a wider range",
                    context=self.resource,
                )
            info = self.info
            source = SourceInfo(
                instrument=f"{info.vendor} {info.model}" if info else "Keysight N6705",
                serial_number=info.serial_number if info else "",
                resource=self.resource,
                description=f"channel {channel}: scope arrays (rail)",
            )
            traces[channel] = Trace.from_arrays(
                current, voltage, rate_hz, first_sample_id=first, source=source
            )
        return traces
