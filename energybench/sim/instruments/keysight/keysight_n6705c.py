"""Simulated Keysight N6705C DC Power Analyzer with N6781A/N6785A SMU modules, over SCPI/TCP.

Channel 1 sources the DUT rail (its output is applied to the timeline with ``set_supply``) and
digitizes its current and voltage; a second module in VMETer emulation digitizes the voltage of the
DUT's timestamp pin (pin level × the I/O voltage), the documented way to see both window edges on an
N6705 (docs/instruments/keysight-n6705c.md#trigger). Scope-mode arrays are point samples at the
accepted (quantised) interval; Elog records are bin averages. Behaviour where the real instrument is
unverified (marked [U] in docs/instruments/keysight-n6705c.md) is chosen and documented here:

- ``FETC:ARR:CURR?``/``VOLT?`` block until the acquisition completes, at most ``fetch_timeout_s``
  of wall time; an acquisition still untriggered then queues ``-230,"Data corrupt or stale"``
  and answers an empty block (``#10``, or an empty line in ASCII).
- Elog records not fetched within ``elog_fifo_s`` of virtual time are lost, oldest first; the
  next ``FETC:ELOG?`` queues ``+313,"Elog FIFO overflow; <n> records lost"``.
- ``STAT:OPER:COND?`` bits as the N6705C Operating and Service Guide (p.350) lists them: 2 = output
  off, 5 = MEAS-active from ``INIT:ACQ`` until the acquisition is over (through the wait for its
  trigger); bit 3 is "not used" and always 0. In virtual time a triggered acquisition completes at
  once, so bit 5 clears as soon as the trigger is found; at realtime pace, when the wall clock
  reaches its end.
"""

from __future__ import annotations

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.instruments.keysight import keysight_n6705c_acq as acq
from energybench.sim.instruments.keysight.keysight_n6705c_acq import (
    Acquisition,
    Channel,
    ElogSession,
    Wiring,
)
from energybench.sim.instruments.keysight.keysight_n6705c_meas import (
    MeasurementCommands,
    scpi_number,
)
from energybench.sim.physics.measurement import MeasurementModel, pick_range
from energybench.sim.physics.timeline import Timeline
from energybench.sim.wire.scpi_server import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    Request,
    ScpiError,
    ScpiFaults,
    ScpiInstrument,
    ScpiServer,
    binary_block,
)

IDENTITY = "Keysight Technologies,N6705C,MY56000001,D.03.01"


class N6705Instrument(MeasurementCommands, ScpiInstrument):
    """The SCPI command set and state of the simulated mainframe."""

    identity = IDENTITY

    def __init__(
        self,
        timeline: Timeline,
        *,
        modules: tuple[str, ...],
        measurement: MeasurementModel | None,
        voltage_measurement: MeasurementModel | None,
        seed: int,
        wiring: Wiring,
        fetch_timeout_s: float,
        settle_s: float,
        elog_fifo_s: float,
    ) -> None:
        super().__init__()
        for module in modules:
            if module not in acq.SMU_MODULES:
                raise ConfigError(
                    f"unsupported module {module!r} (use {acq.SMU_MODULES})", context="modules"
                )
        self.timeline = timeline
        self.modules = modules
        self.wiring = wiring
        self.fetch_timeout_s = fetch_timeout_s
        self.settle_s = settle_s
        self.elog_fifo_s = elog_fifo_s
        self._measurement = (measurement, voltage_measurement)
        self._seed = seed
        # seconds of command latency, drawn per output change (0: applied at once): a real
        # supply acts a little after the command, at no fixed phase of any meter's sample clock
        self.latency_jitter_s = 0.0
        self._jitter = np.random.default_rng(seed + 4242)
        self._last_applied_s = 0.0
        self.reset()
        self._register()

    # ---- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.channels: dict[int, Channel] = {}
        for n, module in enumerate(self.modules, start=1):
            i_model, v_model = acq.make_models(*self._measurement, self._seed + 10 * n)
            self.channels[n] = Channel(n, module, current_model=i_model, voltage_model=v_model)
        self.pins = {n: {"function": "DIO", "polarity": "POS"} for n in range(1, 8)}
        self.real_format = False
        self.big_endian = True
        self.acquisitions: dict[int, Acquisition] = {}
        self.elog: ElogSession | None = None
        for rail in {self.timeline, *self.wiring.rails.values()}:
            rail.set_supply(self.timeline.now_s, output_on=False)

    def _channels(self, request: Request) -> list[Channel]:
        numbers = request.channels() or [1]
        for n in numbers:
            if n not in self.channels:
                raise ScpiError(DATA_OUT_OF_RANGE, "Data out of range; no such channel")
        return [self.channels[n] for n in numbers]

    def _setting(self, pattern: str, attribute: str, parse, query=None) -> None:
        """A per-channel setting ``HEADER <value>,(@list)`` with its query ``HEADER? (@list)``."""

        def write(request: Request) -> None:
            channels = self._channels(request)
            values = [parse(request, ch) for ch in channels]
            for ch, value in zip(channels, values, strict=True):
                setattr(ch, attribute, value)
                self._applied(ch, attribute)

        def read(request: Request) -> str:
            return ",".join(self._format(getattr(ch, attribute)) for ch in self._channels(request))

        self.command(pattern, write)
        self.command(pattern + "?", query or read)

    @staticmethod
    def _format(value: object) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, np.integer)):
            return f"{int(value):+d}"
        if isinstance(value, float):
            return scpi_number(value)
        return str(value)

    def _applied(self, ch: Channel, attribute: str) -> None:
        """Channel 1's source state drives the DUT rail (another output's, a rail wired to it)."""
        rail = self.wiring.rail(self.timeline, ch.number)
        if rail is None or attribute not in ("voltage_v", "output_on", "emulation"):
            return
        on = ch.output_on and ch.sources
        if not self.latency_jitter_s:
            rail.set_supply(self.timeline.now_s, voltage_v=ch.voltage_v, output_on=on)
            return
        with self.timeline.hold():  # no idle advance between reading now and the append
            t_s = self.timeline.now_s + float(self._jitter.uniform(0.0, self.latency_jitter_s))
            t_s = self._last_applied_s = max(t_s, self._last_applied_s)
            rail.set_supply(t_s, voltage_v=ch.voltage_v, output_on=on)

    # ---- command table -------------------------------------------------------------------
    def _register(self) -> None:
        def volt(r: Request, ch: Channel) -> float:
            return r.float_arg(0, 0.0, acq.SOURCE_MAX[ch.module][0])

        def curr(r: Request, ch: Channel) -> float:
            return r.float_arg(0, 0.0, acq.SOURCE_MAX[ch.module][1])

        def onoff(r: Request, ch: Channel) -> bool:
            return r.bool_arg(0)

        def choice(options):
            def parse(r: Request, ch: Channel) -> str:
                text = r.arg(0).upper()
                for option in options:
                    if text.startswith(option):
                        return option
                raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")

            return parse

        def points(r: Request, ch: Channel) -> int:
            return int(r.float_arg(0, 1, acq.MAX_POINTS))

        def offset(r: Request, ch: Channel) -> int:
            return int(r.float_arg(0, -(acq.MAX_POINTS - 1), 2e9))

        def crange(r: Request, ch: Channel) -> float:
            ranges = acq.CURRENT_RANGES_A[ch.module]
            return pick_range(ranges, r.float_arg(0, 0.0, max(ranges)))

        def vrange(r: Request, ch: Channel) -> float:
            ranges = acq.VOLTAGE_RANGES_V[ch.module]
            return pick_range(ranges, r.float_arg(0, 0.0, max(ranges)))

        def source(r: Request, ch: Channel) -> str:
            text = r.arg(0).upper()
            for name in ("BUS", "IMM", "EXT"):
                if text.startswith(name):
                    return name
            if text.startswith("PIN") and text[3:].isdigit() and 1 <= int(text[3:]) <= 7:
                return f"PIN{int(text[3:])}"
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")

        s = self._setting
        s("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "voltage_v", volt)
        s("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", "current_a", curr)
        s("[SOURce]:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]", "current_limit_a", curr)
        s("[SOURce]:VOLTage:PROTection[:LEVel]", "ovp_v", lambda r, ch: r.float_arg(0, 0, 22.0))
        s("[SOURce]:EMULation", "emulation", choice(acq.EMULATIONS))
        s("OUTPut[:STATe]", "output_on", onoff)
        s("SENSe:FUNCtion:CURRent", "func_current", onoff)
        s("SENSe:FUNCtion:VOLTage", "func_voltage", onoff)
        s("SENSe:SWEep:POINts", "points", points)
        s("SENSe:SWEep:OFFSet:POINts", "offset_points", offset)
        s("SENSe:CURRent[:DC]:RANGe[:UPPer]", "current_range_a", crange)
        s("SENSe:VOLTage[:DC]:RANGe[:UPPer]", "voltage_range_v", vrange)
        s("TRIGger:ACQuire:SOURce", "trigger_source", source)
        s("SENSe:ELOG:FUNCtion:CURRent", "elog_current", onoff)
        s("SENSe:ELOG:FUNCtion:VOLTage", "elog_voltage", onoff)
        s("TRIGger:ELOG:SOURce", "elog_trigger_source", source)
        # The interval settings read back as accepted (quantised), not as requested.
        s(
            "SENSe:SWEep:TINTerval",
            "tint_request_s",
            lambda r, ch: r.float_arg(0, 0, acq.TINT_MAX_S),
            self._tint_query,
        )
        s(
            "SENSe:ELOG:PERiod",
            "elog_period_request_s",
            lambda r, ch: r.float_arg(0, 0, 60.0),
            self._elog_period_query,
        )
        self.command("SYSTem:CHANnel[:COUNt]?", lambda r: f"{len(self.channels):+d}")
        self.command("SYSTem:CHANnel:MODel?", self._model_query)
        self.command(
            "DIGital:PIN:FUNCtion",
            self._pin_setter("function", ("DIO", "DINP", "TINP", "TOUT", "FAUL", "INH")),
        )
        self.command("DIGital:PIN:FUNCtion?", lambda r: self._pin(r)["function"])
        self.command("DIGital:PIN:POLarity", self._pin_setter("polarity", ("POS", "NEG")))
        self.command("DIGital:PIN:POLarity?", lambda r: self._pin(r)["polarity"])
        self.command("FORMat[:DATA]", self._set_format)
        self.command("FORMat[:DATA]?", lambda r: "REAL" if self.real_format else "ASC")
        self.register_byte_order()
        self.command("INITiate[:IMMediate]:ACQuire", self._init_acquisition)
        self.command("TRIGger:ACQuire[:IMMediate]", self._bus_trigger)
        self.command("ABORt:ACQuire", self._abort_acquisition)
        self.command("FETCh:ARRay:CURRent[:DC]?", lambda r: self._fetch_array(r, 0))
        self.command("FETCh:ARRay:VOLTage[:DC]?", lambda r: self._fetch_array(r, 1))
        self.command("STATus:OPERation:CONDition?", self._condition)
        self.command("INITiate[:IMMediate]:ELOG", self._init_elog)
        self.command("TRIGger:ELOG[:IMMediate]", self._bus_trigger_elog)
        self.command("ABORt:ELOG", self._abort_elog)
        self.command("FETCh:ELOG?", self._fetch_elog)

    def _model_query(self, request: Request) -> str:
        return ",".join(ch.module for ch in self._channels(request))

    def _pin(self, request: Request) -> dict[str, str]:
        n = request.suffix(1, default=-1)
        if n not in self.pins:
            raise ScpiError(DATA_OUT_OF_RANGE, "Data out of range; no such pin")
        return self.pins[n]

    def _pin_setter(self, key: str, options: tuple[str, ...]):
        def handler(request: Request) -> None:
            pin = self._pin(request)
            text = request.arg(0).upper()
            match = [o for o in options if text.startswith(o)]
            if not match:
                raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")
            pin[key] = match[0]

        return handler

    def _set_format(self, request: Request) -> None:
        text = request.arg(0).upper()
        if text.startswith("REAL"):
            self.real_format = True
        elif text.startswith("ASC"):
            self.real_format = False
        else:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal parameter value")

    def _block(self, values: np.ndarray) -> bytes | str:
        if self.real_format:
            return binary_block(values, "f4", big_endian=self.big_endian)
        return ",".join(scpi_number(float(v)) for v in values)


class SimKeysightN6705C:
    """An N6705C mainframe with SMU modules, served on 127.0.0.1 (``resource``)."""

    driver = "keysight_n6705c"

    def __init__(
        self,
        timeline: Timeline,
        *,
        measurement: MeasurementModel | None = None,
        voltage_measurement: MeasurementModel | None = None,
        seed: int = 0,
        module: str = "N6781A",
        channels: int = 2,
        modules: tuple[str, ...] | None = None,
        pin_name: str = "timestamp",
        digital_pin: int = 1,
        ext_wired: bool = True,
        io_voltage_v: float = 1.8,
        rails: dict[int, Timeline] | None = None,
        fetch_timeout_s: float = 10.0,
        settle_s: float = 0.05,
        elog_fifo_s: float = 20.0,
        faults: ScpiFaults | None = None,
    ) -> None:
        self.timeline = timeline
        self.instrument = N6705Instrument(
            timeline,
            modules=modules or (module,) * channels,
            measurement=measurement,
            voltage_measurement=voltage_measurement,
            seed=seed,
            wiring=Wiring(pin_name, digital_pin, ext_wired, io_voltage_v, dict(rails or {})),
            fetch_timeout_s=fetch_timeout_s,
            settle_s=settle_s,
            elog_fifo_s=elog_fifo_s,
        )
        if faults is not None:
            self.instrument.faults = faults
        self.server = ScpiServer(self.instrument)

    @property
    def resource(self) -> str:
        return self.server.resource

    @property
    def faults(self) -> ScpiFaults:
        return self.instrument.faults

    @property
    def log(self) -> list[str]:
        """Every command the instrument executed, in order."""
        return self.instrument.log

    def start(self) -> SimKeysightN6705C:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> SimKeysightN6705C:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
