"""The LPM01A (PowerShield) command set of the simulator: arguments, limits and replies as the
firmware help documents them (docs/instruments/lpm01a.md#commands). A handler returns the
value printed after ``ack <command>`` (or None) and raises ValueError for an ``error`` reply whose
text becomes the ``Error detail:`` line."""

from __future__ import annotations

import math
from collections.abc import Iterable

from energybench.sim.instruments.lpm01a.lpm01a_format import format_value, parse_argument

PROMPT = "PowerShield > "
FREQUENCIES = {
    "100k": 100_000, "50k": 50_000, "20k": 20_000, "10k": 10_000, "5k": 5_000, "2k": 2_000,
    "1k": 1_000, "500": 500, "200": 200, "100": 100, "50": 50, "20": 20, "10": 10, "5": 5,
    "2": 2, "1": 1,
}  # fmt: skip
ACQ_MODE_MAX_A = {"dyn": 50e-3, "stat": 200e-3}  # help text says dyn ≤ 10 mA; ST docs 50 mA [U]
NO_CONTROL_NEEDED = {"htc", "hrc", "powershield", "version", "help", "echo", "status"}


class Lpm01aCommandSet:
    """Command handlers ``_cmd_<name>``; the simulator supplies the state and the stream."""

    @staticmethod
    def _one(args: list[str], allowed: Iterable[str] | None = None) -> str:
        if len(args) != 1:
            raise ValueError("expects one argument")
        if allowed is not None and args[0].lower() not in allowed:
            raise ValueError(f"argument '{args[0]}' not among {{{', '.join(allowed)}}}")
        return args[0].lower()

    def _cmd_htc(self, args: list[str]) -> None:
        self.host_control = True

    def _cmd_hrc(self, args: list[str]) -> None:
        self.host_control = False

    def _cmd_powershield(self, args: list[str]) -> str:
        return f"PowerShield present {self.board_id}"

    def _cmd_version(self, args: list[str]) -> str:
        return self.firmware

    def _cmd_status(self, args: list[str]) -> str:
        return "ok"

    def _cmd_echo(self, args: list[str]) -> str:
        return " ".join(args)

    def _cmd_help(self, args: list[str]) -> None:
        return None

    def _cmd_lcd(self, args: list[str]) -> None:
        if len(args) != 2 or args[0] not in ("1", "2") or len(args[1]) > 16:
            raise ValueError('usage: lcd <1|2> "<16 characters max>"')

    def _cmd_volt(self, args: list[str]) -> str | None:
        text = self._one(args)
        if text == "get":
            return format_value(self.voltage_v)
        value = parse_argument(text)
        if not 1.8 - 1e-9 <= value <= 3.3 + 1e-9:
            raise ValueError("value out of range [1800m; 3300m]")
        self.voltage_v = value
        if self.power_on:
            self.timeline.set_supply(self.timeline.now_s, voltage_v=value)
        return None

    def _cmd_freq(self, args: list[str]) -> None:
        self.freq_hz = FREQUENCIES[self._one(args, FREQUENCIES)]

    def _cmd_acqtime(self, args: list[str]) -> None:
        text = self._one(args)
        value = 0.0 if text == "inf" else parse_argument(text)
        if value != 0 and not 100e-6 <= value <= 100:
            raise ValueError("value out of range [100u; 100] or 0 or 'inf'")
        self.acqtime_s = value

    def _cmd_acqmode(self, args: list[str]) -> None:
        self.acqmode = self._one(args, ("dyn", "stat"))

    def _cmd_funcmode(self, args: list[str]) -> None:
        self._one(args, ("optim", "high"))

    def _cmd_output(self, args: list[str]) -> None:
        self.output = self._one(args, ("current", "energy"))

    def _cmd_format(self, args: list[str]) -> None:
        self.data_format = self._one(args, ("ascii_dec", "bin_hexa"))

    def _cmd_trigsrc(self, args: list[str]) -> None:
        self.trigsrc = self._one(args, ("sw", "d7"))

    def _cmd_trigdelay(self, args: list[str]) -> None:
        value = parse_argument(self._one(args))
        if not 0 <= value <= 30:
            raise ValueError("value out of range [0; 30]")
        self.trigdelay_s = value

    def _cmd_eventsrc(self, args: list[str]) -> None:
        if [a.lower() for a in args] == ["none"]:
            self.eventsrc = None
        elif len(args) == 2 and args[0].lower() == "d7" and args[1].lower() in ("fal", "ris"):
            self.eventsrc = "falling" if args[1].lower() == "fal" else "rising"
        else:
            raise ValueError("usage: eventsrc d7 <fal|ris> | none")

    def _cmd_pwr(self, args: list[str]) -> str | None:
        if not args or len(args) > 2 or (len(args) == 2 and args[1] not in ("nostatus", "status")):
            raise ValueError("usage: pwr <auto|on|off|get> [nostatus|status]")
        state = args[0].lower()
        if state == "get":
            return "on" if self.power_on else "off"
        if state not in ("auto", "on", "off"):
            raise ValueError(f"argument '{state}' not among {{auto, on, off, get}}")
        self.power_on = state == "on"
        self.timeline.set_supply(
            self.timeline.now_s, voltage_v=self.voltage_v, output_on=self.power_on
        )
        return None

    def _cmd_temp(self, args: list[str]) -> str:
        unit = self._one(args, ("degc", "degf")) if args else "degc"
        value = self.temperature_c if unit == "degc" else self.temperature_c * 9 / 5 + 32
        return f"{unit} {value:.1f}" if args else f"{value:.1f}"

    def _cmd_calib(self, args: list[str]) -> None:
        return None

    def _cmd_range(self, args: list[str]) -> str:
        low = 100e-9 if self.acqmode == "dyn" else 2e-9
        return f"{format_value(low)} {format_value(ACQ_MODE_MAX_A[self.acqmode])}"

    def _cmd_pwrend(self, args: list[str]) -> None:
        self._one(args, ("on", "off"))

    def _cmd_targrst(self, args: list[str]) -> None:
        value = parse_argument(self._one(args))
        if value != 0 and not 10e-3 <= value <= 1:
            raise ValueError("value out of range [10m; 1] or 0")

    def _cmd_currthres(self, args: list[str]) -> None:
        value = parse_argument(self._one(args))
        if value != 0 and not 100e-9 <= value <= 50e-3:
            raise ValueError("value out of range [100n; 50m] or 0")

    def _cmd_autotest(self, args: list[str]) -> str:
        return "ok"

    def _cmd_psrst(self, args: list[str]) -> None:
        self._reset_config()

    def _cmd_start(self, args: list[str]) -> None:
        limit = self._rate_limit_error()
        if limit:
            raise ValueError(limit)
        self.acquiring = True
        self._binary = self.data_format == "bin_hexa"
        self._end_sent = False
        realtime = self.timeline.pace == "realtime"  # a sw trigger starts now, by the wall clock
        now = self.timeline.wall_time_s() if realtime else self.timeline.now_s
        self._t0 = now + (self.trigdelay_s if self.trigsrc == "sw" else 0.0)
        self._next_bin = 0
        if self.idle is not None:
            self.idle.restart()
        self._event_count = 0
        self._lost_in_second = False

    def _cmd_stop(self, args: list[str]) -> None:
        if not self.acquiring:
            raise ValueError("no acquisition in progress")

    def _rate_limit_error(self) -> str | None:
        f, unlimited = self.freq_hz, self.acqtime_s == 0
        if self.output == "energy" and f > 10_000:
            return "output energy is limited to 10 kHz"
        if self.data_format == "ascii_dec":
            max_time = {10_000: 1.0, 20_000: 0.5}.get(f, math.inf if f <= 5_000 else 0.0)
            if max_time == 0.0 or (
                max_time < math.inf and (unlimited or self.acqtime_s > max_time)
            ):
                return f"ascii_dec at {f} Hz allows {max_time:g} s of acquisition at most"
        return None
