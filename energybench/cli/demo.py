"""`energybench demo`: every MLPerf Tiny workload in `all` mode on the virtual lab (simulated
DUT, interface board and a simulated meter), then the summary table. Real reference models and
the kws01 set are used when found (../shared or --model-dir/--dataset); stand-ins otherwise,
and the table says which."""

from __future__ import annotations

import json
import os
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from energybench.cli.app import app
from energybench.cli.lab import METER_HELP

WORKLOADS = ("kws01", "vww01", "ic01", "ad01", "sww01")


def _shared_mlperf() -> Path | None:
    env = os.environ.get("ENERGYBENCH_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    path = root / "mlperf-tiny"
    return path if path.is_dir() else None


def _model_for(workload: str, model_dir: Path | None) -> tuple[Path | None, str]:
    from energybench.sim.dut.models import MODEL_FILES
    from energybench.sim.sww.model import SWW_MODEL_FILE

    if model_dir is None:
        return None, "stand-in model"
    files = {**MODEL_FILES, "sww01": SWW_MODEL_FILE}
    path = model_dir / files[workload] if model_dir.is_dir() else model_dir
    if not path.is_file():
        return None, "stand-in model"
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        return None, "stand-in model (ai-edge-litert missing)"
    return path, "reference model"


def _dataset_for(workload: str, dataset: Path | None, scratch: Path) -> tuple[Path | None, str]:
    """The dataset root for ``workload`` (for a stream workload: the folder of its WAVs and
    truth file, None for the lab's stand-in SD card)."""
    from energybench.errors import WorkloadError
    from energybench.sim.dut.standin_data import make_standin_dataset
    from energybench.workloads.dataset import load_dataset
    from energybench.workloads.definitions import load_workload

    wl = load_workload(workload)
    if wl.streaming:  # the truth file sits with the WAVs, which go on the board's SD card
        from energybench.workloads.stream_dataset import load_stream_dataset

        if dataset is not None:
            try:
                load_stream_dataset(dataset, wl)
                return dataset / wl.name, "real data"
            except WorkloadError:
                pass
        return None, "stand-in data"
    if dataset is not None:
        try:
            load_dataset(dataset, wl)
            return dataset, "real data"
        except WorkloadError:
            pass
    return make_standin_dataset(scratch, wl), "stand-in data"


@app.command()
def demo(
    model_dir: Annotated[
        Path | None, typer.Option(help="Folder of the reference .tflite models.")
    ] = None,
    dataset: Annotated[Path | None, typer.Option(help="Dataset root (EEMBC layout).")] = None,
    meter: Annotated[
        str | None,
        typer.Option(help=f"Simulated meter (default: the streaming source). {METER_HELP}"),
    ] = None,
    profile: Annotated[str, typer.Option(help="Simulated DUT profile.")] = "stm32l4r5-reference",
    runs_dir: Annotated[
        Path | None, typer.Option(help="Where run folders go (default: a temporary folder).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run kws01, vww01, ic01, ad01 and sww01 in all three modes on the virtual lab."""
    from energybench.cli.render import data_console, message_console
    from energybench.cli.runview import RichProgress, render_table, summarize
    from energybench.errors import ConfigError, UsageError
    from energybench.runner.bench import parse_bench
    from energybench.runner.context import RunOptions
    from energybench.runner.run import run_workload
    from energybench.sim.lab import VirtualLab
    from energybench.sim.meters import attach_meter, available_meters, bench_toml, sim_meter

    started = time.monotonic()
    messages = message_console()
    meters = available_meters()
    if not meters:
        raise UsageError("no simulated meter is installed", context="--meter")
    try:
        meter_name = sim_meter(meter).name if meter else next(iter(meters))
    except ConfigError as exc:
        raise UsageError(exc.message, context="--meter") from exc
    if meter_name not in meters:
        raise UsageError(f"not available; choose one of {', '.join(meters)}", context="--meter")
    shared = _shared_mlperf()
    model_dir = model_dir or (shared / "models" if shared else None)
    dataset = dataset or (shared / "datasets" if shared else None)
    messages.print(f"virtual lab: {profile} DUT, meter {meter_name} ({meters[meter_name]})")
    rows, virtual_s = [], 0.0
    with tempfile.TemporaryDirectory(prefix="energybench-demo-") as scratch:
        out_dir = runs_dir or Path(scratch) / "runs"
        with RichProgress(messages) as progress:
            for k, workload in enumerate(WORKLOADS):
                model_path, model_label = _model_for(workload, model_dir)
                data_root, data_label = _dataset_for(workload, dataset, Path(scratch) / "data")
                with VirtualLab(
                    profile,
                    mode="performance",
                    workload=workload,
                    model=model_path,
                    seed=k,
                    sd_card=data_root if workload == "sww01" else None,
                ) as lab:
                    # a unit of the meter's true error model; the bench file states the model
                    attach_meter(lab, meter_name, measurement="datasheet", seed=k)
                    text = bench_toml(lab, meter_name, lab_figures=True)
                    bench = parse_bench(tomllib.loads(text), "virtual lab")
                    modes = ["all"]
                    if workload == "sww01" and bench.sync.mode == "hw_trigger_start":
                        modes = ["performance", "accuracy"]  # a start edge cannot delimit a stream
                        messages.print(
                            f"sww01: no energy mode with {meter_name} (it triggers on the start "
                            "edge only, which cannot delimit a stream)"
                        )
                    results = [
                        result
                        for mode in modes
                        for result in run_workload(
                            bench,
                            workload,
                            mode,
                            data_root or lab.sd_card,
                            out_dir,
                            options=RunOptions(flash=lab.flash),
                            progress=progress,
                        )
                    ]
                    virtual_s += lab.timeline.now_s
                rows.append(summarize(results, f"{model_label}, {data_label}"))
        wall_s = time.monotonic() - started
        if json_out:
            typer.echo(
                json.dumps(
                    {"meter": meter_name, "wall_s": wall_s, "virtual_s": virtual_s, "rows": rows},
                    indent=2,
                )
            )
        else:
            render_table(
                rows, data_console(), title=f"energybench demo — virtual lab, {meter_name}"
            )
        messages.print(
            f"demo: {len(rows)} workloads in {wall_s:.1f} s wall "
            f"({virtual_s:.0f} s of simulated bench time)"
            + ("" if runs_dir else "; run folders were temporary (use --runs-dir to keep them)")
        )
