"""A two-rail DUT on the virtual lab (docs/rails.md): the core rail is the lab's timeline, the
I/O rail a :class:`~energybench.sim.physics.rails.RailTimeline` following the DUT's activity
through its own profile, each measured:

- ``keysight_n6705c``: one N6705C, output 1 sources the core, output 2 the I/O rail, a third
  module in VMETer digitizes the timestamp pin; both outputs in the same scope captures;
- ``sim_stream``: two Joulescope-like meters, one per rail, each seeing the timestamp pin on
  its own GPI (the DUT's sync line shared); the I/O rail is powered by the board.

:func:`rails_bench_toml` renders the bench file that declares the rails; the truth of a window
is each rail's ``energy_j`` over it (:meth:`LabRails.truth_j`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from energybench.errors import ConfigError
from energybench.sim.error_models import LAB_FIGURES
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, bench_toml, sim_meter, toml_value
from energybench.sim.physics.rails import IoRailProfile, RailTimeline, add_io_rail

RAIL_METERS = ("sim_stream", "keysight_n6705c")
MAIN_RAIL, IO_RAIL = "core", "io"
IO_OUTPUT, SYNC_OUTPUT = 2, 3  # N6705C outputs of the I/O rail and of the VMETer sync module


@dataclass
class LabRails:
    """The lab's I/O rail, how it is measured, and the bench-file lines that declare it."""

    io: RailTimeline
    rail_meter: str
    main_sim: Any
    io_sim: Any = None  # the I/O rail's own meter (None: an output of the main one)
    meter_options: dict[str, Any] = field(default_factory=dict)
    rail_lines: list[str] = field(default_factory=list)

    def truth_j(self, lab: VirtualLab, t0_s: float, t1_s: float) -> dict[str, float]:
        """Exact energy of each rail over [t0, t1)."""
        return {MAIN_RAIL: lab.timeline.energy_j(t0_s, t1_s), IO_RAIL: self.io.energy_j(t0_s, t1_s)}


def attach_two_rails(
    lab: VirtualLab,
    rail_meter: str = "sim_stream",
    *,
    measurement: Any = None,
    seed: int = 0,
    io_profile: IoRailProfile | None = None,
) -> LabRails:
    """Give the lab's DUT an I/O rail and attach the meters that measure both rails."""
    rail_meter = sim_meter(rail_meter).name
    if rail_meter not in RAIL_METERS:
        raise ConfigError(
            f"the two-rail lab measures with {' or '.join(RAIL_METERS)}, not {rail_meter}",
            context="rail_meter",
        )
    profile = io_profile or IoRailProfile()
    io_limit_a = round(max(profile.idle_a, profile.active_a, profile.uart_a) * 4, 4)
    if rail_meter == "keysight_n6705c":
        io = add_io_rail(lab.timeline, lab.profile, profile, output_on=False)  # output 2 powers it
        sim = attach_meter(
            lab, rail_meter, measurement=measurement, seed=seed, channels=3,
            rails={IO_OUTPUT: io},
        )  # fmt: skip
        lines = [
            f"channel = {IO_OUTPUT}",
            f"voltage_v = {profile.voltage_v}",
            f"current_limit_a = {io_limit_a}",
            f"max_voltage_v = {round(profile.voltage_v * 1.1, 3)}",
            f"max_current_a = {io_limit_a * 2}",
        ]
        return LabRails(io, rail_meter, sim, None, {"sync_channel": SYNC_OUTPUT}, lines)
    io = add_io_rail(lab.timeline, lab.profile, profile)  # powered by the board
    main = attach_meter(lab, rail_meter, measurement=measurement, seed=seed)
    meter = sim_meter(rail_meter)
    io_sim = meter.build(io, measurement=measurement, seed=seed + 1)
    lab.add_instrument(f"{rail_meter}_{IO_RAIL}", io_sim, role="rail", sync_mode=meter.sync_mode)
    options = ", ".join(f"{k} = {toml_value(v)}" for k, v in meter.bench_options.items())
    lines = [
        f"driver = {toml_value(meter.name)}",
        f"resource = {toml_value(io_sim.resource)}",
        f"line = {toml_value(meter.line)}",
        f"options = {{ {options} }}",
    ]
    return LabRails(io, rail_meter, main, io_sim, {}, lines)


def rails_bench_toml(
    lab: VirtualLab, rails: LabRails, *, lab_figures: bool = True, **bench_options: Any
) -> str:
    """The lab's bench file with ``[meter] rail`` and the I/O rail's ``[rails.io]``; with
    ``lab_figures`` both meters state the figures of their true error model the profile lacks
    (:data:`~energybench.sim.error_models.LAB_FIGURES`)."""
    options = {**rails.meter_options, **bench_options}
    text = bench_toml(lab, rails.rail_meter, lab_figures=lab_figures, **options)
    text = text.replace("[meter]\n", f"[meter]\nrail = {toml_value(MAIN_RAIL)}\n", 1)
    lines = list(rails.rail_lines)
    if lab_figures and rails.io_sim is not None:  # the rail's own meter states its figures too
        table = LAB_FIGURES[sim_meter(rails.rail_meter).name].to_table()
        lines.append(
            "accuracy = { " + ", ".join(f"{k} = {toml_value(v)}" for k, v in table.items()) + " }"
        )
    return text + f"\n[rails.{IO_RAIL}]\n" + "\n".join(lines) + "\n"
