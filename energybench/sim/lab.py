"""VirtualLab: one Timeline, a DUT, the interface board and instrument simulators.

The DUT is the pure-Python :class:`SimDut` (``dut="sim"``, virtual or realtime pace) or the C
harness's POSIX build run as a process (``dut="firmware"``, :class:`FirmwareDut`; the lab then
runs at realtime pace because the process runs on the wall clock, and the DUT is the timeline's
horizon: a simulator advancing it waits for the DUT; ``model``, ``seed`` and ``idle_speed``
apply to the simulated DUT only). The supply output is ON from t=0 at the profile's voltage until an
instrument simulator takes control of it. ``bench_toml()`` renders a bench file that points
the production code at the simulated resources (the runner validates it).

``workload="sww01"`` builds the streaming-wakeword DUT (:class:`SimSwwDut`, simulated only) and
gives the interface board an SD card: ``sd_card`` (a folder of WAVs) or, when none is given, a
temporary folder holding the generated stand-in WAV and its truth file
(:func:`make_standin_sd_card`; :attr:`VirtualLab.sd_card`, removed by ``stop()``). The board's
DUT baud then starts at the SWW DUT's 115200 (as if a previous session had sent ``setbaud``).
Timeline pins: ``timestamp``, and for sww01 ``ww_detected`` and ``processing``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from energybench.errors import ConfigError
from energybench.instruments.capabilities import SYNC_MODES as CAPABILITY_SYNC_MODES
from energybench.sim.board.interface_board import HOST_BAUD, SimInterfaceBoard
from energybench.sim.dut.lab_dut import DUT_KINDS, LabDut
from energybench.sim.dut.profiles import MODES, DutProfile, load_profile
from energybench.sim.dut.sim_dut import SimDut
from energybench.sim.physics.reference_resistor import ReferenceResistor
from energybench.sim.physics.timeline import Timeline
from energybench.sim.posix_dut.firmware_dut import FirmwareDut
from energybench.sim.sww.audio import make_standin_sd_card
from energybench.sim.sww.sww_dut import SWW_BAUD, SimSwwDut

log = logging.getLogger(__name__)

# the drivers' sync modes, plus the bench file's alias "hardware_trigger" (hw_trigger_start)
SYNC_MODES = (*CAPABILITY_SYNC_MODES, "hardware_trigger")
ROLES = ("meter", "supply", "rail")  # "rail": a further rail's own meter (sim/rails_lab.py)


class InstrumentSim(Protocol):
    """What an instrument simulator offers the lab."""

    resource: str
    driver: str

    def start(self) -> object: ...

    def stop(self) -> object: ...


@dataclass
class _Instrument:
    name: str
    sim: InstrumentSim
    role: str
    sync_mode: str | None


class VirtualLab:
    """A simulated bench; use as a context manager (``with VirtualLab() as lab:``)."""

    def __init__(
        self,
        profile: str | Path | DutProfile = "stm32l4r5-reference",
        *,
        mode: str = "energy",
        workload: str = "kws01",
        model: str | Path | None = None,
        realtime: bool = False,
        seed: int = 0,
        idle_speed: float = 1.0,
        vendor_name: str | None = None,
        name: str = "virtual-lab",
        dut: str = "sim",
        firmware_binary: str | Path | None = None,
        sd_card: str | Path | None = None,
        reference: ReferenceResistor | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}", context="mode")
        if dut not in DUT_KINDS:
            raise ConfigError(f"dut must be one of {DUT_KINDS}, got {dut!r}", context="dut")
        if dut == "firmware" and model is not None:
            raise ConfigError(
                "the firmware DUT runs its built-in stand-in models; a model file applies to "
                "the simulated DUT only",
                context="model",
            )
        if workload == "sww01" and dut != "sim":
            raise ConfigError("the sww01 DUT is simulated only (dut='sim')", context="dut")
        if sd_card is not None and not Path(sd_card).is_dir():
            raise ConfigError("SD card folder not found", context=str(sd_card))
        self.profile = profile if isinstance(profile, DutProfile) else load_profile(profile)
        self.mode = mode
        self.workload = workload
        self.name = name
        self.dut_kind = dut
        self.timeline = Timeline(
            supply_voltage_v=self.profile.supply_voltage_v,
            output_on=True,
            pace="realtime" if realtime or dut == "firmware" else "virtual",
        )
        self.dut: LabDut
        if dut == "firmware":
            self.dut = FirmwareDut(
                self.timeline,
                self.profile,
                mode=mode,
                workload=workload,
                binary=firmware_binary,
                vendor_name=vendor_name or "energybench-posix",
            )
        elif workload == "sww01":
            self.dut = SimSwwDut(
                self.timeline,
                self.profile,
                mode=mode,
                model=model,
                seed=seed,
                idle_speed=idle_speed,
            )
        else:
            self.dut = SimDut(
                self.timeline,
                self.profile,
                mode=mode,
                workload=workload,
                model=model,
                vendor_name=vendor_name or "unspecified",
                seed=seed,
                idle_speed=idle_speed,
            )
        self._temp_sd: Path | None = None
        self.sd_card: Path | None = Path(sd_card) if sd_card is not None else None
        try:  # the DUT holds a pty already: a failure here has no stop() to release it
            if workload == "sww01":
                if self.sd_card is None:
                    self._temp_sd = Path(tempfile.mkdtemp(prefix="energybench-sd-"))
                    self.sd_card = make_standin_sd_card(self._temp_sd, seed=seed)
                self.interface = SimInterfaceBoard(
                    self.timeline, self.dut, dut_baud=SWW_BAUD, sd_card=self.sd_card
                )
            else:
                self.interface = SimInterfaceBoard(self.timeline, self.dut, sd_card=self.sd_card)
        except BaseException:
            self.dut.stop()
            if self._temp_sd is not None:
                shutil.rmtree(self._temp_sd, ignore_errors=True)
            raise
        self.timeline.add_power_on_listener(self._on_power_on)
        self.instruments: dict[str, _Instrument] = {}
        self.reference = reference  # connected on the rail instead of the DUT while set
        if reference is not None:
            reference.connect(self.timeline)
        self._started = False
        self._idle_stop = threading.Event()
        self._idle_thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> VirtualLab:
        if self._started:
            return self
        try:
            self.dut.start()
            self.interface.start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        for inst in self.instruments.values():
            inst.sim.start()
        return self

    def _on_power_on(self, t_s: float) -> None:
        """A supply simulator switched the rail on: the DUT boots, the board hears it. At
        realtime pace the boot (which sleeps through its boot time and banner) runs on its own
        thread: the supply acknowledges at once and its data stream does not stall meanwhile,
        as a real instrument's would not."""
        if not self._started:
            return
        if self.timeline.pace == "realtime":
            threading.Thread(target=self._boot_dut, name="lab-dut-boot", daemon=True).start()
        else:
            self._boot_dut()

    def _boot_dut(self) -> None:
        try:
            self.dut.power_on()
            self.interface.dut_rebooted()
        except Exception:  # a boot on a stopping lab (closed pty) must not kill the caller
            log.exception("DUT boot after power-on failed")

    def start_idle_clock(self, speed: float = 20.0, tick_s: float = 0.005) -> None:
        """Let idle time pass at ``speed`` x wall time while nothing else moves the clock, for
        meters that only report what the timeline made final (LPM01A, Elog) and would wait
        forever on an idle DUT. The DUT's appends are atomic (``Timeline.hold``). At realtime
        pace idle time follows the wall clock whatever ``speed`` says (a clock run ahead of it
        makes the DUT sleep until the wall catches up: replies stall)."""
        if speed <= 0 or tick_s <= 0:
            raise ConfigError("idle clock speed and tick must be > 0", context="idle_clock")
        if self._idle_thread is not None:
            return
        self._idle_stop.clear()

        def run() -> None:
            last = time.monotonic()
            while not self._idle_stop.wait(tick_s):
                now = time.monotonic()
                with self.timeline.hold():
                    self.timeline.pass_idle_time(self.timeline.now_s + speed * (now - last))
                last = now

        self._idle_thread = threading.Thread(target=run, name="lab-idle-clock", daemon=True)
        self._idle_thread.start()

    def stop(self) -> None:
        """Stop every simulator and close every port (idempotent, never raises)."""
        self._idle_stop.set()
        if self._idle_thread is not None:
            self._idle_thread.join(timeout=2.0)
            self._idle_thread = None
        for inst in reversed(list(self.instruments.values())):
            try:
                inst.sim.stop()
            except Exception:
                log.exception("stopping instrument simulator %s failed", inst.name)
        for part in (self.interface, self.dut):
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)
        if self._temp_sd is not None:
            shutil.rmtree(self._temp_sd, ignore_errors=True)
            self._temp_sd = None
        self._started = False

    def __enter__(self) -> VirtualLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_instrument(
        self, name: str, sim: InstrumentSim, *, role: str = "meter", sync_mode: str | None = None
    ) -> None:
        """Attach an instrument simulator (started now if the lab runs, else with the lab)."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of {ROLES}, got {role!r}", context=name)
        sync_mode = sync_mode or getattr(sim, "sync_mode", None)
        if sync_mode is not None and sync_mode not in SYNC_MODES:
            raise ConfigError(f"sync mode must be one of {SYNC_MODES}", context=name)
        if name in self.instruments:
            raise ConfigError("an instrument with this name is already attached", context=name)
        self.instruments[name] = _Instrument(name, sim, role, sync_mode)
        if self._started:
            sim.start()

    def connect_reference(self, reference: ReferenceResistor) -> None:
        """The reference resistor on the rail from now on (the DUT off it): calibration."""
        self.reference = reference
        reference.connect(self.timeline)

    def disconnect_reference(self) -> None:
        """The DUT back on the rail from now on (the reference stays in the bench file)."""
        ReferenceResistor.disconnect(self.timeline)

    def flash(self, mode: str) -> None:
        """Re-flash the simulated DUT with another build (the runner's ``flash`` hook)."""
        self.dut.flash(mode)
        self.mode = mode

    # ---- resources -----------------------------------------------------------------------------
    def resources(self) -> dict[str, str]:
        """Name → resource string of every simulated port/instrument."""
        found = {"dut": self.dut.port, "interface": self.interface.port}
        found.update({n: i.sim.resource for n, i in self.instruments.items()})
        return found

    def _role(self, role: str) -> _Instrument | None:
        return next((i for i in self.instruments.values() if i.role == role), None)

    def bench_toml(self) -> str:
        """A bench file (TOML) for this lab."""
        p = self.profile
        meter = self._role("meter")
        supply = self._role("supply")
        max_active_a = max(p.active_current_a.values()) + p.uart_current_a
        max_current_a = math.ceil(max_active_a * 5 * 100) / 100
        sync = (meter.sync_mode if meter and meter.sync_mode else None) or (
            "hw_trigger_start" if meter else "host_timestamp"
        )
        bauds = {m: self.dut.baud if self.workload == "sww01" else p.baud_for(m, self.workload)
                 for m in MODES}  # fmt: skip
        lines = ["[bench]", f"name = {_q(self.name)}", ""]
        if meter is not None:
            lines += [
                "[meter]",
                f"driver = {_q(meter.sim.driver)}",
                f"resource = {_q(meter.sim.resource)}",
                "",
            ]
        lines += ["[supply]"]
        if supply is not None:
            lines += [f"driver = {_q(supply.sim.driver)}", f"resource = {_q(supply.sim.resource)}"]
        lines += [
            f"voltage_v = {p.supply_voltage_v}",
            f"current_limit_a = {math.ceil(max_active_a * 2 * 1000) / 1000}",
            f"max_voltage_v = {round(p.supply_voltage_v * 1.1, 3)}",
            f"max_current_a = {max_current_a}",
            "",
            "[sync]",
            f"mode = {_q(sync)}",
            'line = "timestamp"',
            'polarity = "falling"',
            "",
            "[dut]",
            f"port = {_q(self.dut.port)}",
            "baud = { " + ", ".join(f"{m} = {b}" for m, b in bauds.items()) + " }",
            f"# the simulated DUT runs its {self.mode} build",
            "",
            "[interface]",
            f"port = {_q(self.interface.port)}",
            f"baud = {HOST_BAUD}",
        ]
        if self.reference is not None:
            lines += ["", *self.reference.bench_lines()]
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A TOML basic string (JSON escaping is a subset TOML accepts)."""
    return json.dumps(text)
