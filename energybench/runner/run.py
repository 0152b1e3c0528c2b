"""``run_workload``: bench + workload + mode(s) → one run folder per mode
(``runs/<UTC>_<workload>_<mode>/``) holding log.txt, results.txt (MLC runner format),
results.json (every figure, window, validity reason, uncertainty and provenance), results.csv
(one row per window attempt), the raw trace (JLS) and a PNG per energy window."""

from __future__ import annotations

import hashlib
import logging
import platform
import shlex
import subprocess
import time
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path

from energybench._version import __version__
from energybench.errors import DutError, RunError, UsageError, stop_reason
from energybench.instruments.shutdown import ShutdownReport, shutdown_summary
from energybench.runner.abort import ModeAborted
from energybench.runner.accuracy import run_accuracy
from energybench.runner.bench import Bench
from energybench.runner.bench_lock import hold_bench
from energybench.runner.calibration_use import use_calibration
from energybench.runner.context import NullProgress, Progress, RunContext, RunOptions
from energybench.runner.dut_setup import DutSession, connect_dut
from energybench.runner.instruments import open_instruments, open_supply
from energybench.runner.mlc_format import not_valid_lines
from energybench.runner.performance import run_performance
from energybench.runner.results import ModeResult, write_csv, write_json
from energybench.runner.runlog import RunLog
from energybench.runner.stream_mode import run_stream_mode
from energybench.transport.interrupts import deferred_interrupt
from energybench.workloads.dataset import Dataset, load_dataset
from energybench.workloads.definitions import MODES, Mode, Workload, load_workload
from energybench.workloads.stream_dataset import StreamDataset

log = logging.getLogger(__name__)

RUN_MODES = (*MODES, "all")
# `all` runs energy last: it switches the supply off
ALL_ORDER: tuple[Mode, ...] = (*(m for m in MODES if m != "energy"), "energy")
MODEL_ALIASES = {"ic02": "ic01"}


def _file_digest(path: Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _folder(runs_dir: Path, stamp: str, workload: str, mode: str) -> Path:
    base = runs_dir / f"{stamp}_{workload}_{mode}"
    folder, k = base, 1
    while folder.exists():
        folder = base.with_name(f"{base.name}-{k}")
        k += 1
    folder.mkdir(parents=True)
    return folder


def flash_hook(bench: Bench, timeout_s: float = 300.0, settle_s: float = 2.0):
    """A flash hook running the bench file's ``[dut] flash`` command of a build (None when
    the bench has none): bounded, and a failure stops the run with the command's output."""
    commands = bench.dut.flash
    if not commands:
        return None

    def flash(build: str) -> None:
        command = commands.get(build)
        if command is None:
            raise DutError(f"no flash command for the {build} build", context="dut.flash")
        try:
            done = subprocess.run(
                shlex.split(command), capture_output=True, text=True, timeout=timeout_s
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DutError(f"flashing failed: {exc}", context=f"dut.flash.{build}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise DutError(
                f"flashing exited with {done.returncode}: {' | '.join(tail)}",
                context=f"dut.flash.{build}",
            )
        time.sleep(settle_s)  # the DUT reboots into the new build

    return flash


def _build(mode: str) -> str:
    return "energy" if mode == "energy" else "performance"


def _connect(ctx: RunContext, mode: str, last_build: str | None = None) -> DutSession:
    """Connect; with a flash hook, flash first when this mode needs the other build than the
    previous mode ran on (a board relaying at the wrong baud would hang), or when the DUT turns
    out to run the other build. A stream workload has one build, reached through the board."""
    if ctx.workload.streaming:
        dut = connect_dut(
            ctx.bench, mode, ctx.runlog, timeout_s=ctx.options.dut_timeout_s, stream=True
        )
        _check_model(ctx, dut)
        return dut
    if ctx.options.flash is not None and last_build is not None and last_build != _build(mode):
        ctx.runlog.write("runner", f"flashing the {_build(mode)} build")
        ctx.options.flash(_build(mode))
    try:
        dut = connect_dut(ctx.bench, mode, ctx.runlog, timeout_s=ctx.options.dut_timeout_s)
    except DutError as exc:
        if ctx.options.flash is None or exc.context != "timestamp mode":
            raise
        ctx.runlog.write("runner", f"{exc.message}; flashing the {_build(mode)} build")
        ctx.options.flash(_build(mode))
        dut = connect_dut(ctx.bench, mode, ctx.runlog, timeout_s=ctx.options.dut_timeout_s)
    _check_model(ctx, dut)
    return dut


def _check_model(ctx: RunContext, dut: DutSession) -> None:
    model = MODEL_ALIASES.get(dut.identity.model, dut.identity.model)
    if model != ctx.workload.name:
        dut.close()
        raise DutError(
            f"the DUT runs the {dut.identity.model} firmware; this run is for {ctx.workload.name}",
            context="profile",
        )


def _run_mode(ctx: RunContext, mode: str, last_build: str | None, result: ModeResult) -> None:
    """Open what ``mode`` needs, run it into ``result``, leave the bench safe."""
    if mode == "energy":
        _run_energy(ctx, last_build, result)
    else:
        _run_dut_mode(ctx, mode, last_build, result)


def _run_energy(ctx: RunContext, last_build: str | None, result: ModeResult) -> None:
    """Energy mode: the meter (and supply) opened and powered, then the DUT."""
    from energybench.runner.energy_infer import run_energy  # needs the acquisition layer
    from energybench.runner.stream_energy import run_stream_energy

    instruments = open_instruments(ctx.bench)
    dut = None
    try:
        with ctx.runlog.instrument_exchanges():
            ctx.provenance["meter"] = instruments.meter_info
            ctx.provenance["supply"] = instruments.supply_info or None
            if ctx.bench.rails:  # each further rail: its own meter's identity, or its output
                ctx.provenance["rails"] = {
                    r.name: instruments.rail_infos.get(r.name) or {"output": r.channel}
                    for r in ctx.bench.rails
                }
            later = instruments.streaming and not ctx.bench.rails  # energy.py chooses again
            source = "bench file, before the range choice" if later else "bench file"
            use_calibration(ctx, instruments.meter_info, result, range_source=source)
            instruments.power_on()
            time.sleep(float(instruments.option("settle_s", 0.2 if instruments.powered else 0.0)))
            dut = _connect(ctx, "energy", last_build)
            ctx.provenance["dut"] = dut.describe()
            if ctx.workload.streaming:
                run_stream_energy(ctx, dut, instruments, result)
            else:
                run_energy(ctx, dut, instruments, result)
    finally:
        if dut is not None:
            dut.close()
        with ctx.runlog.instrument_exchanges():  # the shutdown's exchanges are logged too
            _record_shutdown(ctx, "instruments shut down", instruments.close())


def _run_dut_mode(ctx: RunContext, mode: str, last_build: str | None, result: ModeResult) -> None:
    """Performance or accuracy: the DUT alone (its rail switched on when the bench's supply
    powers it)."""
    supply = open_supply(ctx.bench)  # a rail the bench's SMU powers: on in every mode
    try:
        if supply is not None:
            with ctx.runlog.instrument_exchanges():
                ctx.provenance["supply"] = supply.supply_info
                supply.power_on()
                time.sleep(float(supply.option("settle_s", 0.2)))
        dut = _connect(ctx, mode, last_build)
        try:
            ctx.provenance["dut"] = dut.describe()
            if ctx.workload.streaming:
                run_stream_mode(ctx, dut, mode, result)
            elif mode == "performance":
                run_performance(ctx, dut, result)
            else:
                run_accuracy(ctx, dut, result)
        finally:
            dut.close()
    finally:
        if supply is not None:
            with ctx.runlog.instrument_exchanges():
                _record_shutdown(ctx, "supply shut down", supply.close())


def _record_shutdown(ctx: RunContext, what: str, reports: list[ShutdownReport]) -> None:
    """The log and results.json say what the shutdown really did ("outputs off (confirmed)"
    only when every output was confirmed off); an unknown output state is also warned about."""
    summary = shutdown_summary(reports)
    ctx.runlog.write("runner", f"{what}: {summary}")
    ctx.provenance["shutdown"] = {"summary": summary, "instruments": [r.to_dict() for r in reports]}
    if any(r.output_off is False for r in reports):
        log.warning("%s: %s", what, summary)


def _provenance(
    bench: Bench, workload: Workload, dataset: Dataset | StreamDataset, options: RunOptions
) -> dict:
    opts = {f.name: getattr(options, f.name) for f in fields(options) if f.name != "flash"}
    return {
        "energybench_version": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "bench": {
            "name": bench.name,
            "file": str(bench.source) if bench.source else None,
            "sha256": _file_digest(bench.source),
            "meter_driver": bench.meter.driver,
            "meter_resource": bench.meter.resource,
            "sync": asdict(bench.sync),
            "supply": _supply_provenance(bench),
            "interface_board": bench.interface is not None,
        },
        "workload": {
            "name": workload.name,
            "definition": str(workload.source) if workload.source else None,
            "sha256": _file_digest(workload.source),
        },
        "dataset": _dataset_provenance(dataset),
        "options": opts,
    }


def _supply_provenance(bench: Bench) -> dict | None:
    """The supply settings of the bench file ([supply]; None when the DUT is powered
    otherwise), for the submission's energy-hookup description."""
    if bench.supply is None:
        return None
    s = bench.supply
    return {
        "voltage_v": s.voltage_v,
        "current_limit_a": s.current_limit_a,
        "driver": s.instrument.driver if s.instrument else bench.meter.driver,
    }


def _dataset_provenance(dataset: Dataset | StreamDataset) -> dict:
    info = {"directory": str(dataset.directory), "files": len(dataset)}
    if isinstance(dataset, StreamDataset):  # the truth file used, and the WAVs it names
        info.update(
            truth_file=str(dataset.truth_path),
            sha256=_file_digest(dataset.truth_path),
            wav_files=dataset.wav_files,
        )
    return info


def _stopped(result: ModeResult, reason: str) -> None:
    """A mode that raised: its reason recorded once, never valid, and results.txt says why
    (written from the validity when the mode ended before writing it)."""
    known = result.aborted is not None
    result.abort(reason)
    result.valid = False
    if not result.results_txt:
        result.results_txt = not_valid_lines(result.validity)
    elif not known:
        result.results_txt += not_valid_lines([f"aborted: {reason}"])


def _write(
    result: ModeResult, ctx: RunContext, started: datetime, *, failing: bool = False
) -> None:
    """results.txt/json/csv of a finished or stopped mode; while the mode's own exception
    propagates (``failing``), a write failure is logged, never raised over it."""
    ctx.provenance["started_utc"] = started.isoformat()
    ctx.provenance["finished_utc"] = datetime.now(UTC).isoformat()
    result.provenance = ctx.provenance
    try:
        write_folder(result)
    except Exception as exc:
        if not failing:
            raise
        log.error("writing the results of %s %s failed: %s", result.workload, result.mode, exc)
    ctx.runlog.write(
        "runner",
        f"{result.mode}: {'valid' if result.valid else 'NOT valid'} {result.validity}",
    )


def write_folder(result: ModeResult) -> None:
    folder = result.folder
    if folder is None:
        raise RunError(
            "the result has no folder to be written to", context=f"{result.workload} {result.mode}"
        )
    with deferred_interrupt():  # a stop signal never leaves a half-written results file
        (folder / "results.txt").write_text(result.results_txt, encoding="utf-8")
        write_json(folder / "results.json", result)
        write_csv(folder / "results.csv", result)


def run_workload(
    bench: Bench,
    workload: str | Path,
    mode: str,
    dataset_root: Path,
    runs_dir: Path,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> list[ModeResult]:
    """Run ``mode`` (or ``all`` three) and write one folder per mode; returns the results.

    A mode that aborts (DUT silent, meter lost) is still written, with the reason; errors
    before anything ran (bad bench, missing dataset, wrong firmware) raise. The bench is held
    for the whole run: a second run on it is refused (BenchBusyError naming the holder)."""
    with hold_bench(bench, ALL_ORDER if mode == "all" else (mode,)):
        return _run_modes(bench, workload, mode, dataset_root, runs_dir, options, progress, now)


def _run_modes(
    bench: Bench,
    workload: str | Path,
    mode: str,
    dataset_root: Path,
    runs_dir: Path,
    options: RunOptions | None,
    progress: Progress | None,
    now: datetime | None,
) -> list[ModeResult]:
    if mode not in RUN_MODES:
        raise UsageError(f"mode must be one of {', '.join(RUN_MODES)}", context="--mode")
    options = options or RunOptions()
    if options.flash is None:
        options.flash = flash_hook(bench)
    progress = progress or NullProgress()
    wl = load_workload(workload)
    dataset = load_dataset(Path(dataset_root), wl)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    results: list[ModeResult] = []
    last_build = None
    dut_latency_s = None
    for m in ALL_ORDER if mode == "all" else (mode,):
        folder = _folder(Path(runs_dir), stamp, wl.name, m)
        with RunLog(folder / "log.txt") as runlog:
            ctx = RunContext(bench, wl, dataset, options, runlog, folder, progress)
            ctx.dut_latency_s = dut_latency_s
            ctx.provenance = _provenance(bench, wl, dataset, options)
            started = datetime.now(UTC)
            runlog.write("runner", f"energybench {__version__}: {wl.name} {m} on {bench.name}")
            result = ModeResult(wl.name, m, folder=folder)  # the modes fill it as they go
            try:
                _run_mode(ctx, m, last_build, result)
            except BaseException as exc:  # Ctrl-C and signals too: what was measured is kept
                reason, failing = stop_reason(exc), not isinstance(exc, ModeAborted)
                if result.aborted is None:  # the mode had not recorded why it ended
                    runlog.write(
                        "runner", f"{m} mode {'failed' if failing else 'aborted'}: {reason}"
                    )
                _stopped(result, reason)
                _write(result, ctx, started, failing=failing)
                if failing:
                    raise
            else:
                _write(result, ctx, started)
        results.append(result)
        last_build = _build(m)
        if m == "performance" and result.valid:
            dut_latency_s = result.figures.get("latency_s")
    return results
