"""Several measured rails (docs/rails.md): a two-rail DUT on the virtual lab, measured by one
N6705C digitizing outputs 1 and 2 in the same captures, or by two streaming meters sharing the
DUT's timestamp line; each rail and the total within U of the truth; bad bench files refused
with one clear error naming the field."""

from __future__ import annotations

import csv
import json
import statistics
import tomllib

import pytest
from runner_helpers import StepProgress, output_still_on, standin

from energybench.errors import ConfigError
from energybench.runner.bench import parse_bench
from energybench.runner.context import RunOptions
from energybench.runner.run import run_workload
from energybench.sim.dut.profiles import load_profile
from energybench.sim.lab import VirtualLab
from energybench.sim.physics.measurement import MeasurementModel
from energybench.sim.physics.rails import IoRailProfile, add_io_rail
from energybench.sim.physics.timeline import Timeline
from energybench.sim.rails_lab import RAIL_METERS, attach_two_rails, rails_bench_toml
from energybench.traces.reanalysis import reanalyze

NOISE = {  # errors each meter's profile accuracy covers (sim_stream's profile is ideal)
    "keysight_n6705c": MeasurementModel(gain_error=3e-4, offset=2e-6, noise_rms=5e-5, seed=7),
    "sim_stream": MeasurementModel(noise_rms=5e-5, seed=7),
}


def _two_rail_run(tmp_path, meter: str, **bench_options):
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        rails = attach_two_rails(lab, meter, measurement=NOISE[meter], seed=3)
        text = rails_bench_toml(lab, rails, **bench_options)
        bench = parse_bench(tomllib.loads(text), "two-rail lab")
        (result,) = run_workload(
            bench, "kws01", "energy", root, tmp_path / "runs", options=RunOptions(plots=False)
        )
        valid = result.valid_windows
        # the last DUT windows of the slots' length are the slots' (a probe or a ranging run
        # before them is not paired)
        truth = [t for t in lab.dut.windows if t.inferences == valid[0].inferences][-len(valid) :]
        per_window = [rails.truth_j(lab, t.start_s, t.end_s) for t in truth]
    return result, truth, per_window


@pytest.mark.parametrize("meter", RAIL_METERS)
def test_two_rail_run_each_rail_and_total_within_u_of_truth(tmp_path, meter) -> None:
    result, truth, per_window = _two_rail_run(tmp_path, meter)
    assert result.valid, result.validity
    valid = result.valid_windows
    assert len(valid) == 5
    for w, true, t in zip(valid, per_window, truth, strict=True):  # per window, per rail
        assert w.energy_j == pytest.approx(true["core"], rel=2e-3)
        assert w.rails["io"]["energy_j"] == pytest.approx(true["io"], rel=5e-3)
        assert w.rails["io"]["energy_uncertainty_j"] > 0
        assert w.inferences == t.inferences
    figures = result.figures["rails"]
    assert set(figures["per_rail"]) == {"core", "io"}
    for name in ("core", "io", "total"):
        ours = figures["total"] if name == "total" else figures["per_rail"][name]
        true = statistics.median(
            (sum(p.values()) if name == "total" else p[name]) / t.inferences
            for p, t in zip(per_window, truth, strict=True)
        )
        u = ours["energy_per_inference_uncertainty_j"]
        assert 0 < u < 0.05 * true, name  # not vacuous
        assert abs(ours["energy_per_inference_j"] - true) <= u, name
    # the I/O rail's profile differs from the core's: not a scaled copy of it
    io, core = figures["per_rail"]["io"], figures["per_rail"]["core"]
    assert io["energy_per_inference_j"] < 0.5 * core["energy_per_inference_j"]
    # the MLPerf figure is the [meter]'s rail, said so, and it is results.txt's
    assert figures["mlperf_rail"]["rail"] == "core" and "rules" in figures["mlperf_rail"]["why"]
    median = result.figures["median_energy_per_inference_j"]
    assert median == core["energy_per_inference_j"]
    assert "linearly" in figures["combination"]
    with (result.folder / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[-1]["io_energy_j"]) == valid[-1].rails["io"]["energy_j"]
    assert "io_energy_uncertainty_k2_j" in rows[0]
    saved = json.loads((result.folder / "results.json").read_text())
    assert saved["figures"]["rails"]["total"]["energy_per_inference_j"] > median
    rail_source = saved["provenance"]["rails"]["io"]
    assert rail_source == {"output": 2} if meter == "keysight_n6705c" else rail_source["model"]
    folder = result.folder
    if meter == "keysight_n6705c":  # output 2 in the same captures, one file per window
        names = result.figures["capture_files"]
        assert {f"capture_w{k}_a0_io.csv" for k in range(5)} <= set(names)
        assert all((folder / n).is_file() for n in names)
        assert valid[0].rails["io"]["raw_file"] == "capture_w0_a0_io.csv"
        again = reanalyze(folder / "capture_w0_a0_io.csv")  # the rail's file alone re-analysed
        assert again.median_energy_per_inference_j == pytest.approx(
            valid[0].rails["io"]["energy_per_inference_j"], rel=1e-12
        )
        assert "the core rail's edges" in again.rule
    else:  # its own meter's recording in rail_io/
        assert io["files"] == ["rail_io/trace.jls"] and (folder / "rail_io/trace.jls").is_file()
        assert io["dropped_samples"] == 0


def test_same_instrument_rail_needs_captures(tmp_path) -> None:
    """An N6705C's further output is digitized in its scope captures only: an Elog stream run
    with [rails.io] channel = 2 is refused, naming the field and the fix; outputs end off."""
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        rails = attach_two_rails(lab, "keysight_n6705c", seed=3)
        text = rails_bench_toml(lab, rails, acquisition="stream")
        bench = parse_bench(tomllib.loads(text), "two-rail lab")
        with pytest.raises(ConfigError, match=r'rails\.io\.channel: .*acquisition = "capture"'):
            run_workload(bench, "kws01", "energy", root, tmp_path / "runs")
        assert not output_still_on(lab)
        assert not rails.io.supply_state(rails.io.now_s)[1]  # the I/O rail's output too


BASE = """
[meter]
driver = "keysight_n6705c"
resource = "tcp://127.0.0.1:1"
[supply]
voltage_v = 1.8
current_limit_a = 0.05
max_voltage_v = 3.6
max_current_a = 0.2
[sync]
mode = "analog_channel"
line = "PIN1"
[dut]
port = "/dev/null"
baud = 115200
"""
OUTPUT = "voltage_v = 3.3\ncurrent_limit_a = 0.01\nmax_voltage_v = 3.6\nmax_current_a = 0.02\n"


def _parse(text: str):
    return parse_bench(tomllib.loads(text), "bench.toml")


def test_rails_parsed() -> None:
    bench = _parse(BASE + '[rails.io]\nchannel = 2\n' + OUTPUT + '[rails.radio]\ndriver = '
                   '"sim_stream"\nresource = "tcp://127.0.0.1:2"\nline = "gpi[0]"\n')  # fmt: skip
    assert bench.rail == "core"
    io, radio = bench.rails
    assert io.same_instrument and io.channel == 2 and io.voltage_v == 3.3 and io.range_a == 0.01
    assert not radio.same_instrument and radio.driver == "sim_stream" and radio.line == "gpi[0]"
    assert _parse(BASE).rails == ()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[rails.io]\nchannel = 2\n", "rails.io.voltage_v: missing"),
        ("[rails.io]\nchannel = 1\n" + OUTPUT, "rails.io.channel: output 1 is the [meter]'s"),
        ("[rails.io]\nchannel = 9\n" + OUTPUT, "rails.io.channel: the KeysightN6705C driver has "),
        ("[rails.IO]\nchannel = 2\n" + OUTPUT, "rails.IO: 'IO' is not a rail name"),
        ("[rails.core]\nchannel = 2\n" + OUTPUT, "rails.core: 'core' is the [meter]'s rail"),
        (
            "[rails.io]\nchanel = 2\n" + OUTPUT,
            "rails.io.chanel: unknown key (did you mean `channel`",
        ),
        (
            "[rails.io]\nchannel = 2\n" + OUTPUT.replace("3.3", "4.0"),
            "rails.io.voltage_v: 4.0 exceeds rails.io.max_voltage_v 3.6",
        ),
        (
            '[rails.io]\nchannel = 2\nresource = "x"\n' + OUTPUT,
            "rails.io.resource: only for a rail with a meter of its own",
        ),
        (
            '[rails.io]\ndriver = "sim_stream"\nresource = "tcp://h:1"\nvoltage_v = 3.3\n',
            "rails.io.voltage_v: only for an output of the bench's meter",
        ),
        (
            '[rails.io]\ndriver = "sim_strem"\nresource = "tcp://h:1"\n',
            "rails.io.driver: no driver named 'sim_strem' (did you mean `sim_stream`?)",
        ),
        (
            '[rails.io]\ndriver = "keysight_n6705c"\nresource = "tcp://127.0.0.1:1"\n',
            "rails.io.resource: the bench's meter itself",
        ),
        (
            "[rails.io]\nchannel = 2\n" + OUTPUT + "[rails.io2]\nchannel = 2\n" + OUTPUT,
            "rails: output 2 of the bench's meter is named by more than one rail",
        ),
        ("rails = 3\n", "[rails]: must be a section"),
    ],
)
def test_bad_rails_refused(extra, expected) -> None:
    text = BASE + extra if extra.startswith("[") else extra + BASE
    with pytest.raises(ConfigError) as info:
        _parse(text)
    assert expected in str(info.value)


def test_meter_without_multi_output_refused() -> None:
    """A meter that cannot digitize a further output in the same acquisition is refused with
    the reason and what to do instead."""
    text = BASE.replace("keysight_n6705c", "sim_stream").replace(
        "analog_channel", "digital_channel"
    )
    with pytest.raises(ConfigError) as info:
        _parse(text + "[rails.io]\nchannel = 2\n" + OUTPUT)
    message = str(info.value)
    assert "rails.io.channel: driver sim_stream cannot digitize a further output" in message
    assert "meter of its own" in message
    with pytest.raises(ConfigError, match=r"meter\.rail: 'Core!' is not a rail name"):
        _parse(BASE.replace("[meter]\n", '[meter]\nrail = "Core!"\n'))


def test_io_rail_follows_the_core_through_its_own_profile() -> None:
    dut = load_profile("fast-m33")
    core = Timeline(supply_voltage_v=1.8, output_on=True)
    core.set_load_current(0.0, dut.idle_current_a)
    profile = IoRailProfile()
    io = add_io_rail(core, dut, profile)
    core.set_load_current(1.0, dut.active_current_a["kws01"])
    core.set_pin("timestamp", 1.0, False)
    core.set_load_current(2.0, dut.idle_current_a + dut.uart_current_a)
    core.set_load_current(2.5, dut.idle_current_a)
    core.advance_to(3.0)
    expected = profile.voltage_v * (profile.idle_a * 1.5 + profile.active_a + profile.uart_a * 0.5)
    assert io.energy_j(0.0, 3.0) == pytest.approx(expected, rel=1e-12)
    assert io.now_s == core.now_s == 3.0
    assert not io.pin_at("timestamp", 1.5)  # the same pins
    io.set_supply(3.0, output_on=False)  # its own output: the core stays powered
    core.advance_to(4.0)
    assert io.energy_j(3.0, 4.0) == 0.0 and core.energy_j(3.0, 4.0) > 0


def test_hung_two_rail_dut_is_power_cycled_both_outputs(tmp_path) -> None:
    """A hung DUT on a two-rail N6705C bench: both outputs are cycled (the I/O rail's off with
    the core, on before it), the window re-run with both rails, and both outputs end off."""
    root = standin(tmp_path, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        rails = attach_two_rails(lab, "keysight_n6705c", seed=3)
        reset = lab.dut.reset

        def reboot(*args, **kw) -> None:
            lab.dut.faults.hang_on_infer = False
            reset(*args, **kw)

        lab.dut.reset = reboot

        def hang() -> None:
            lab.dut.faults.hang_on_infer = True

        bench = parse_bench(tomllib.loads(rails_bench_toml(lab, rails)), "two-rail lab")
        (result,) = run_workload(
            bench, "kws01", "energy", root, tmp_path / "runs",
            options=RunOptions(plots=False, infer_timeout_s=1.0), progress=StepProgress({2: hang}),
        )  # fmt: skip
        assert not output_still_on(lab)
        assert not rails.io.supply_state(rails.io.now_s)[1]
    assert result.valid, result.validity
    invalid = [w for w in result.windows if not w.valid]
    assert len(invalid) == 1 and any("DUT timeout" in p for p in invalid[0].problems)
    assert all(w.rails["io"]["energy_j"] > 0 for w in result.valid_windows)
    log = (result.folder / "log.txt").read_text()
    assert "power-cycled" in log
    io_off, io_on = log.count("'OUTP OFF,(@2)'"), log.count("'OUTP ON,(@2)'")
    assert io_on == 2 and io_off >= 2  # on at the start and after the cycle; off in the cycle
