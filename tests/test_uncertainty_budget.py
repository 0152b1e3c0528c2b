"""An uncertainty that holds: no zero placeholders in the profiles, an unknown figure makes U
unknown, the bench file can state a figure, a calibration replaces the datasheet's terms, and
the U of every simulated meter covers its true error without being vacuous."""

from __future__ import annotations

import math

import pytest

from energybench.calibration.budget import (
    MeterBudget,
    current_term,
    edge_half_width_s,
    find_profile,
    latency_uncertainty_s,
    window_budget,
)
from energybench.calibration.correction import Correction, LinearCorrection
from energybench.calibration.meter_figures import MeterFigures
from energybench.errors import ConfigError
from energybench.instruments.profiles import load_profile, load_profiles
from energybench.sim.coverage import CASES, run_coverage
from energybench.workloads.confidence import bootstrap_interval, wilson_interval
from energybench.workloads.scoring import roc_auc

WINDOW = dict(
    energy_j=0.2,
    duration_s=10.0,
    mean_current_a=0.0111,
    mean_voltage_v=1.8,
    sample_rate_hz=10_000.0,
)


def _budget(meter, notes=None, **kw):
    return window_budget(meter, **{**WINDOW, "current_range_a": 0.1, **kw}, notes=notes or [])


def test_no_profile_figure_is_zero_unless_ideal_and_each_names_its_source() -> None:
    for profile in load_profiles():
        accuracy = profile.data.get("accuracy", {})
        entries = [*accuracy.get("current", []), *accuracy.get("voltage", [])]
        timebase = accuracy.get("timebase")
        ideal = profile.data["instrument"].get("ideal", False)
        assert entries and timebase, f"{profile.name}: current/voltage/timebase entries"
        for entry in [*entries, timebase]:
            assert entry["source"].strip(), f"{profile.name}: {entry}"
            for key in ("gain", "offset_a", "offset_v", "ppm"):
                if key in entry and entry[key] != "unknown":
                    assert entry[key] > 0 or ideal, f"{profile.name}: {key} = {entry[key]}"
    ideal = [p.name for p in load_profiles() if p.data["instrument"].get("ideal")]
    assert ideal == ["sim_stream"]


def test_the_audit_corrections_are_in_the_profiles() -> None:
    profiles = {p.name: p for p in load_profiles()}
    k2450 = profiles["keithley_2450"].accuracy("current", 1.0)
    assert (k2450.gain, k2450.offset) == (0.0003, 500e-6)
    assert profiles["keithley_2600b"].accuracy("current", 100e-9).gain == 0.0005
    assert profiles["keithley_2600b"].timebase_ppm() == (100.0, True)
    b2900 = profiles["keysight_b2900"]
    assert b2900.accuracy("current", 1.2).offset == 3.5e-3
    assert b2900.accuracy("voltage", 0.15).offset == 225e-6
    assert b2900.accuracy("voltage", 150.0).offset == 50e-3
    js220 = profiles["joulescope_js220"]
    assert js220.accuracy("current", 5.0).limit(1.0) == pytest.approx(0.0025 + 1.5e-3)
    assert not js220.accuracy("current", 0.01).known
    assert js220.timebase_ppm() == (25.0, True)
    for name in ("otii_arc", "nordic_ppk2", "lpm01a", "keysight_n6705c", "keithley_2461"):
        assert profiles[name].timebase_ppm() is None, name


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("gain=0.0\noffset_a=1e-6\nsource='x'", r"accuracy\.current\[0\]\.gain: must be > 0"),
        ("gain=0.01\noffset_a=1e-6", r"accuracy\.current\[0\]\.source"),
    ],
)
def test_the_loader_refuses_a_zero_figure_and_a_missing_source(tmp_path, entry, match) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[instrument]\nname="x"\ndriver="x"\nidentity="x"\nkind="meter"\n'
        'sync_modes=["digital_channel"]\nmax_sample_rate_hz=1.0\n'
        f"[[accuracy.current]]\n{entry}\nverified=true\n"
    )
    with pytest.raises(ConfigError, match=match):
        load_profile(path)


def test_an_unknown_figure_makes_the_uncertainty_unknown_and_says_which() -> None:
    notes: list[str] = []
    budget = _budget(MeterBudget(find_profile("otii")), notes, current_range_a=None)
    assert budget.unknown and math.isnan(budget.expanded_j)
    assert (
        budget.status.startswith("unknown: accuracy.current") and "otii_arc.toml" in budget.status
    )
    assert budget.terms()["expanded_k2"] is None
    n6705c = _budget(MeterBudget(find_profile("keysight_n6705c")))  # its voltage is unknown
    assert n6705c.status == "unknown: accuracy.voltage in keysight_n6705c.toml"


def test_the_bench_file_supplies_what_the_profile_lacks() -> None:
    figures = MeterFigures.from_table(
        {"voltage_gain": 2e-4, "offset_v": 1e-3, "timebase_ppm": 20, "source": "our cert"}
    )
    budget = _budget(MeterBudget(find_profile("keysight_n6705c"), figures))
    assert not budget.unknown
    assert budget.timebase_j == pytest.approx(0.2 * 20e-6 / math.sqrt(3))
    assert budget.voltage_j == pytest.approx(0.2 * (2e-4 * 1.8 + 1e-3) / math.sqrt(3) / 1.8)
    with pytest.raises(ConfigError, match=r"\[meter\]\.accuracy\.source"):
        MeterFigures.from_table({"gain": 0.01})
    with pytest.raises(ConfigError, match=r"\[meter\]\.accuracy\.gian"):
        MeterFigures.from_table({"gian": 0.01, "source": "x"})
    with pytest.raises(ConfigError, match=r"\[meter\]\.accuracy\.offset_a: must be a number >= 0"):
        MeterFigures.from_table({"offset_a": -1e-6, "source": "x"})


def test_a_calibration_covering_the_range_replaces_the_datasheet_terms() -> None:
    meter = MeterBudget(find_profile("keysight_b2900"))
    coefficients = LinearCorrection("current", 0.1, gain=1.02, gain_std=1e-5, offset_std=2e-7)
    correction = Correction(current={0.1: coefficients}, skew_std_s=2e-6, record_ids=("rec1",))
    term = current_term(meter, mean_current_a=0.0111, range_a=0.1, correction=correction)
    assert term.standard == pytest.approx(coefficients.standard_uncertainty(0.0111))
    assert term.basis == "calibration rec1"
    datasheet = _budget(meter)
    calibrated = _budget(meter, correction=correction, edge_power_step_w=0.02)
    assert calibrated.current_j == pytest.approx(0.2 * term.standard / 0.0111)
    assert calibrated.current_j < datasheet.current_j
    assert calibrated.skew_j == pytest.approx(0.02 * 2e-6)
    other_range = _budget(meter, correction=correction, current_range_a=1.0)
    assert other_range.current_j == pytest.approx(_budget(meter, current_range_a=1.0).current_j)


def test_edges_use_the_power_step_and_bins_get_a_whole_sample() -> None:
    meter = MeterBudget(find_profile("keysight_b2900"))
    point = _budget(meter, edge_power_step_w=0.01)
    assert point.edges_j == pytest.approx(0.01 * math.sqrt(2) * 0.5e-4 / math.sqrt(3))
    binned = _budget(meter, edge_power_step_w=0.01, sample_kind="bin")
    assert binned.edges_j == pytest.approx(2 * point.edges_j)
    assert edge_half_width_s(1000.0, "bin") == 1e-3
    u = latency_uncertainty_s(
        meter, latency_s=0.01, inferences=1000, sample_rate_hz=1e4, sample_kind="point"
    )
    assert u == pytest.approx(math.hypot(0.01 * 50e-6, math.sqrt(2) * 0.5e-4 / 1000) / math.sqrt(3))
    assert (
        latency_uncertainty_s(
            MeterBudget(find_profile("otii")), latency_s=0.01, inferences=10, sample_rate_hz=4e3
        )
        is None
    )


@pytest.mark.parametrize("name", list(CASES))
def test_u_covers_the_true_error_of_every_simulated_meter(name) -> None:
    result = run_coverage(name, windows=200)
    assert result.unknown == 0
    assert result.coverage >= 0.93, f"{name}: coverage {result.coverage:.1%}"
    assert result.u_over_rms <= 3.0, f"{name}: U/RMS {result.u_over_rms:.2f}"


def test_a_deliberately_ideal_claim_fails_coverage() -> None:
    """The stream source is noisy and off, its profile claims ideal: the check must say so."""
    result = run_coverage("sim_stream", windows=200, figures=None)
    assert result.coverage < 0.93
    assert result.u_over_rms < 1.0


def test_accuracy_confidence_intervals() -> None:
    low, high = wilson_interval(90, 100)
    assert low == pytest.approx(0.8256, abs=1e-4) and high == pytest.approx(0.9448, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    import numpy as np

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    scores = labels + rng.normal(0, 1.0, 200)
    auc = roc_auc(labels == 1, scores)
    interval = bootstrap_interval(lambda y, s: roc_auc(y == 1, s), labels, scores, resamples=300)
    assert interval is not None and interval[0] < auc < interval[1]
    assert 0.02 < interval[1] - interval[0] < 0.3


def test_the_bench_file_states_meter_accuracy() -> None:
    import tomllib
    from pathlib import Path

    from energybench.runner.bench import parse_bench

    example = Path(__file__).resolve().parents[1] / "instruments/examples/otii_arc.bench.toml"
    table = tomllib.loads(example.read_text())
    table["meter"]["accuracy"] = {"gain": 1e-3, "offset_a": 5e-6, "source": "our certificate"}
    bench = parse_bench(table)
    assert bench.meter.accuracy == MeterFigures("our certificate", gain=1e-3, offset_a=5e-6)
    table["meter"]["accuracy"] = {"gain": 1e-3}
    with pytest.raises(ConfigError, match=r"meter\.accuracy\.source"):
        parse_bench(table)
