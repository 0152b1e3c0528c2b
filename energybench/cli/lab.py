"""`energybench lab up`: run the virtual lab (a DUT + interface board) until Ctrl-C (or
SIGTERM/SIGHUP).

``--dut sim`` (default) is the pure-Python simulated DUT; ``--dut firmware`` runs the C
harness's POSIX build (firmware/build/ebdut-posix, built with make if missing) as the DUT, at
realtime pace. The lab runs at realtime pace by default, since a client that energybench did not
write (the MLCommons runner, a user's own script) expects instruments that stream and answer in
real time; ``--virtual`` runs it as fast as the DUT computes, for energybench's own runner.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.instruments.catalogue import CATALOGUE

METER_HELP = (
    "Attach a simulated meter, named by its driver: "
    + ", ".join(e.name for e in CATALOGUE if e.simulated)
    + ". The former short names ("
    + ", ".join(a for e in CATALOGUE if e.simulated for a in e.aliases)
    + ") still work."
)

lab_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="The virtual lab: simulated DUT, interface board and instruments.",
)
app.add_typer(lab_app, name="lab")


LOADS = ("dut", "reference-resistor")


def _attach(lab, meter: str, seed: int, gain_error: float, offset_a: float, skew_s: float):
    """The meter with its injected errors; a meter that sources nothing gets an N6705C as
    the supply when the rail carries the reference resistor (the procedure steps voltages)."""
    from energybench.sim.meters import attach_meter, attach_supply, sim_meter
    from energybench.sim.physics.measurement import MeasurementModel

    extra = {"skew_s": skew_s} if skew_s else {}
    model = (
        MeasurementModel(gain_error=gain_error, offset=offset_a) if gain_error or offset_a else None
    )
    attach_meter(lab, meter, measurement=model, seed=seed, **extra)
    if lab.reference is not None and sim_meter(meter).role != "supply":
        attach_supply(lab, seed=seed)


PACE_BANNER = {
    "realtime": "realtime (simulation time = wall time since start; any client works)",
    "virtual": "virtual (time runs as fast as the DUT computes: only energybench's own runner "
    "keeps up; use --realtime for any other client)",
}


@lab_app.command("up")
def up(
    profile: Annotated[str, typer.Option(help="DUT profile name or .toml path.")] = (
        "stm32l4r5-reference"
    ),
    model_dir: Annotated[
        Path | None,
        typer.Option(help="Reference .tflite file or folder (real inference via ai-edge-litert)."),
    ] = None,
    mode: Annotated[str, typer.Option(help="DUT firmware build: energy|performance|accuracy.")] = (
        "energy"
    ),
    workload: Annotated[str, typer.Option(help="kws01, vww01, ic01, ad01 or sww01.")] = "kws01",
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime/--virtual",
            help="Realtime (default): simulation time is wall time, as any client other than "
            "energybench expects (the MLCommons runner, your own pyserial/pyvisa code). "
            "Virtual: time runs as fast as the DUT computes; only energybench's own runner "
            "keeps up with it.",
        ),
    ] = True,
    dut: Annotated[
        str,
        typer.Option(help="sim (Python simulated DUT) or firmware (the C harness's POSIX build)."),
    ] = "sim",
    firmware_binary: Annotated[
        Path | None,
        typer.Option(help="ebdut-posix to run with --dut firmware (default: build firmware/)."),
    ] = None,
    meter: Annotated[str | None, typer.Option(help=METER_HELP)] = None,
    rails: Annotated[
        int,
        typer.Option(
            help="Measured rails of the DUT: 1, or 2 (core + I/O rail, each with its own "
            "profile; the bench file declares [rails.io])."
        ),
    ] = 1,
    rail_meter: Annotated[
        str,
        typer.Option(
            help="With --rails 2: sim_stream (two streaming meters sharing the timestamp "
            "line) or keysight_n6705c (outputs 1 and 2 of one N6705C, same captures)."
        ),
    ] = "sim_stream",
    sd_card: Annotated[
        Path | None,
        typer.Option(
            help="sww01: the interface board's SD card folder (WAVs); default: a temporary "
            "folder with a generated stand-in WAV and its truth file."
        ),
    ] = None,
    load: Annotated[
        str,
        typer.Option(
            help="What the rail powers: dut (default) or reference-resistor (a simulated "
            "precision resistor with a certificate, for `energybench calibrate`; a meter "
            "that sources nothing gets a simulated N6705C as its supply)."
        ),
    ] = "dut",
    reference_ohm: Annotated[
        float | None,
        typer.Option(
            help="--load reference-resistor: its certified value in Ω (default 100: 18 mA at "
            "1.8 V, for the 0.18 A range; 150 draws 12 mA, for the 18 mA range)."
        ),
    ] = None,
    meter_gain_error: Annotated[
        float, typer.Option(help="The simulated meter's current gain error (0.02 = +2 %).")
    ] = 0.0,
    meter_offset_a: Annotated[
        float, typer.Option(help="The simulated meter's current offset in A.")
    ] = 0.0,
    meter_skew_s: Annotated[
        float,
        typer.Option(help="sim_stream: the current channel's lag behind the sync line in s."),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated noise and parts.")] = 0,
) -> None:
    """Start the lab, print its resources and bench file, serve until Ctrl-C."""
    from energybench.errors import ConfigError, UsageError
    from energybench.sim.lab import VirtualLab
    from energybench.sim.meters import bench_toml, sim_meter
    from energybench.sim.physics.reference_resistor import ReferenceResistor
    from energybench.sim.rails_lab import RAIL_METERS, attach_two_rails, rails_bench_toml
    from energybench.transport.interrupts import STOP_SIGNALS

    if meter is not None:
        try:
            meter = sim_meter(meter).name  # an alias becomes the driver's registry name
        except ConfigError as exc:
            raise UsageError(exc.message, context="--meter") from exc
    if load not in LOADS:
        raise UsageError(f"--load must be one of {', '.join(LOADS)}", context="--load")
    if load == "reference-resistor" and meter is None:
        raise UsageError("--load reference-resistor needs a --meter", context="--load")
    if reference_ohm is not None and load != "reference-resistor":
        raise UsageError(
            "--reference-ohm needs --load reference-resistor", context="--reference-ohm"
        )
    if reference_ohm is not None and not reference_ohm > 0:
        raise UsageError(f"must be > 0, got {reference_ohm:g}", context="--reference-ohm")
    knobs = meter_gain_error or meter_offset_a or meter_skew_s
    if knobs and meter is None:
        raise UsageError("--meter-gain-error/-offset-a/-skew-s need a --meter", context="--meter")
    if meter_skew_s and meter != "sim_stream":
        raise UsageError("--meter-skew-s is simulated by sim_stream only", context="--meter-skew-s")
    if rails not in (1, 2):
        raise UsageError(f"the lab simulates 1 or 2 rails, got {rails}", context="--rails")
    if rails == 2:
        if rail_meter not in RAIL_METERS:
            raise UsageError(
                f"must be {' or '.join(RAIL_METERS)}, got {rail_meter!r}", context="--rail-meter"
            )
        if meter is not None and meter != rail_meter:
            raise UsageError(
                f"--rails 2 measures with --rail-meter {rail_meter}; --meter {meter} is not "
                "used (leave it out)",
                context="--meter",
            )
        if workload == "sww01":
            raise UsageError("the two-rail lab runs kws01, vww01, ic01, ad01", context="--rails")
    if rails == 2 and (load != "dut" or knobs):
        raise UsageError("the two-rail lab has no reference load or injected meter errors",
                         context="--rails")  # fmt: skip
    stop = threading.Event()
    # Ctrl-C, SIGTERM and SIGHUP all stop serving (the lab's instruments and DUT shut down)
    previous = {
        s: signal.signal(s, lambda *_: stop.set())
        for s in STOP_SIGNALS
        if signal.getsignal(s) != signal.SIG_IGN  # nohup's SIGHUP stays ignored
    }
    try:
        with VirtualLab(
            profile,
            mode=mode,
            workload=workload,
            model=model_dir,
            realtime=realtime,
            dut=dut,
            firmware_binary=firmware_binary,
            sd_card=sd_card,
            reference=(
                ReferenceResistor(
                    certificate_ohm=reference_ohm or ReferenceResistor.certificate_ohm, seed=seed
                )
                if load == "reference-resistor"
                else None
            ),
            seed=seed,
        ) as lab:
            two = attach_two_rails(lab, rail_meter) if rails == 2 else None
            if meter is not None and two is None:
                _attach(lab, meter, seed, meter_gain_error, meter_offset_a, meter_skew_s)
            if lab.reference is not None:
                typer.echo(f"# load: reference resistor {lab.reference.reference_id} (the DUT "
                           "is off the rail; certificate in [calibration.reference])")  # fmt: skip
            typer.echo(f"# virtual lab up: profile {lab.profile.name}, {mode} build, {workload}")
            typer.echo(f"# DUT ({dut}): {lab.dut.label}")
            pid = getattr(lab.dut, "pid", None)
            if pid is not None:
                typer.echo(f"# DUT process: pid {pid}")
            typer.echo(f"# pace: {PACE_BANNER[lab.timeline.pace]}")
            if lab.sd_card is not None:
                typer.echo(f"# interface SD card: {lab.sd_card}")
            for name, resource in lab.resources().items():
                typer.echo(f"# {name}: {resource}")
            if two is not None:
                io_v = two.io.supply_state(two.io.now_s)[0]
                core_v = lab.profile.supply_voltage_v
                typer.echo(f"# rails: core {core_v} V, io {io_v} V, measured by {rail_meter}")
            typer.echo("# bench file:")
            if two is not None:
                typer.echo(rails_bench_toml(lab, two), nl=False)
            else:
                text = bench_toml(lab, meter, lab_figures=True) if meter else lab.bench_toml()
                typer.echo(text, nl=False)
            typer.echo("# press Ctrl-C to stop", err=True)
            while not stop.wait(0.2):
                pass
            typer.echo("# stopping", err=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
