"""A submission tree built with `energybench submission init/add` from virtual-lab runs of the
five workloads: the official checker (a separate process, v1.3 and v1.4) accepts it and its CSV
gives our figures; our checker accepts it and fails it, naming the file and the rule, after
each tampering the official checker does not notice."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from submission_support import (
    csv_rows,
    energybench,
    official_checker,
    official_summary,
    run_official,
    valid_runs,
)

from energybench.submission.check import check_tree
from energybench.submission.system import JSON_KEYS

SUBMITTER = "EnergyBenchLab"
SYSTEM = "SimM33"
BENCHMARKS = ("ad", "ic", "kws", "sww", "vww")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(tree root, folder of the run folders): init, then one `add` of every run."""
    official_checker()  # skip early without ../shared
    base = tmp_path_factory.mktemp("submission")
    runs = valid_runs(base)
    root = base / "tree"
    init = energybench(
        "submission", "init", str(root), "--division", "closed", "--submitter", SUBMITTER
    )
    assert init.returncode == 0, init.stderr
    add = energybench("submission", "add", str(root), str(runs), "--system", SYSTEM)
    assert add.returncode == 0, add.stderr
    assert add.stdout.count("placed ") == 15
    return root, runs


@pytest.fixture
def tree(built, tmp_path) -> Path:
    """A copy of the built tree to tamper with."""
    return Path(shutil.copytree(built[0], tmp_path / "tree"))


def org(root: Path) -> Path:
    return root / "closed" / SUBMITTER


def results(root: Path, benchmark: str) -> Path:
    return org(root) / "results" / SYSTEM / benchmark


def check(root: Path, *args: str):
    return energybench("submission", "check", str(root), *args)


def lines(root: Path, **options) -> tuple[bool, list[str]]:
    """Our checker in-process: (ok, one line per problem as the CLI prints them)."""
    report = check_tree(root, **options)
    return report.ok, [p.line() for p in report.problems]


def error_lines(proc) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("ERROR ")]


def test_the_tree_has_the_names_the_checker_expects(built) -> None:
    root, _ = built
    for benchmark in BENCHMARKS:
        folder = results(root, benchmark)
        modes = {"energy", "performance", "accuracy", "raw"}
        assert {p.name for p in folder.iterdir()} == modes
        for mode in ("accuracy", "performance"):
            assert {p.name for p in (folder / mode).iterdir()} == {"log.txt", "results.txt"}
        plots = {f"energy_inf_{k:03d}.png" for k in range(1 if benchmark == "sww" else 5)}
        assert {p.name for p in (folder / "energy").iterdir()} == {"log.txt", "results.txt"} | plots
        assert {"results.json", "trace.jls"} <= {p.name for p in (folder / "raw/energy").iterdir()}
    system = json.loads((org(root) / "systems" / f"{SYSTEM}.json").read_text())
    assert list(system) == list(JSON_KEYS)
    assert system["Status"] == "Available" and "system_type" not in system
    manifest = json.loads((org(root) / "energybench-manifest.json").read_text())
    listed = {p for entry in manifest["placements"].values() for p in entry["files"]}
    placed = {
        p.relative_to(org(root)).as_posix()
        for p in (org(root) / "results").rglob("*")
        if p.is_file()
    }
    assert listed == placed
    hookup = (org(root) / "systems" / f"{SYSTEM}-energy-hookup.md").read_text()
    assert "SimJS220" in hookup and "SIM-JS220-0001" in hookup  # model and serial of the meter
    assert "digital_channel" in hookup and "Not measured" in hookup
    assert (org(root) / "code" / SYSTEM / "README.md").is_file()


@pytest.mark.parametrize("version", ["v1.3", "v1.4"])
def test_the_official_checker_accepts_the_tree_with_our_figures(built, version, tmp_path) -> None:
    root, _ = built
    proc = run_official(root, version, tmp_path / "official.csv")
    assert "SUMMARY: submission looks OK" in proc.stderr, proc.stderr
    assert "Results=5, NoResults=0" in proc.stderr
    ours = check(root, "--version", version, "--csv", str(tmp_path / "ours.csv"))
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert official_summary(proc) in ours.stdout  # the verdict we predict from its rules
    official = {r["Model"]: r for r in csv_rows(tmp_path / "official.csv")}
    assert sorted(official) == sorted(BENCHMARKS)
    assert csv_rows(tmp_path / "ours.csv") == list(official.values())
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "official.csv").read_bytes()
    for benchmark, row in official.items():  # and the figures of our runs
        raw = results(root, benchmark) / "raw"
        figures = {
            mode: json.loads((raw / mode / "results.json").read_text())["figures"]
            for mode in ("performance", "energy", "accuracy")
        }
        if benchmark == "sww":
            power_mw = 1e3 * figures["energy"]["mean_power_w"]
            assert float(row["Power"]) == pytest.approx(power_mw, rel=1e-4)
            assert float(row["Accuracy"]) == figures["energy"]["f1"]
            throughput = figures["energy"]["estimated_throughput_per_s"]
            assert float(row["Result"]) == pytest.approx(throughput, rel=1e-4)
            assert row["PowerUnit"] == "mW"
            continue
        median = figures["energy"]["median_energy_per_inference_j"] * 1e6
        assert float(row["Power"]) == pytest.approx(median, abs=5e-5)  # printed to 4 decimals
        assert float(row["Result"]) == pytest.approx(
            figures["performance"]["median_throughput_per_s"], rel=1e-4
        )
        metric = "auc" if benchmark == "ad" else "top1"
        scale = 1 if benchmark == "ad" else 100
        assert float(row["Accuracy"]) == pytest.approx(scale * figures["accuracy"][metric], abs=0.1)


def test_our_checker_recomputes_every_energy_median(built) -> None:
    root, _ = built
    proc = check(root, "--json")
    assert proc.returncode == 0, proc.stdout
    report = json.loads(proc.stdout)
    assert report["errors"] == 0 and report["official"]["ok"]
    energy = {Path(e["path"]).parent.name: e for e in report["energy"]}
    assert sorted(energy) == sorted(BENCHMARKS)
    for e in energy.values():
        assert e["recomputed"] == pytest.approx(e["published"], rel=1e-5)
        assert e["source"] == "energybench trace.jls"
    # every field energybench could not fill is one warning
    to_confirm = [p for p in report["problems"] if p["rule"] == "system-to-confirm"]
    assert len(to_confirm) >= 20


def _replace_median(path: Path, factor: float) -> None:
    text = path.read_text()
    m = re.search(r"Median energy cost is ([\d.]+) uJ/inf", text)
    new = f"{float(m.group(1)) * factor:.4f}"
    path.write_text(text.replace(m.group(1), new))


def _shorten_raw_window(path: Path) -> None:
    """Window 2 recorded as 9.5 s long: its stop edge, time and duration."""
    data = json.loads(path.read_text())
    rate = data["figures"]["trace_sample_rate_hz"]
    window = next(w for w in data["windows"] if w["valid"] and w["index"] == 2)
    window["stop_s"] = window["start_s"] + 9.5
    window["stop_position"] = window["start_position"] + 9.5 * rate
    window["duration_s"] = 9.5
    path.write_text(json.dumps(data, indent=2))


def _shorten_elapsed(path: Path) -> None:
    text = path.read_text()
    first = re.search(r"Elapsed time  : ([\d.]+)", text)
    path.write_text(text.replace(first.group(0), "Elapsed time  : 9.5", 1))


def _drop_system_field(path: Path) -> None:
    data = json.loads(path.read_text())
    del data["Processor(s) Name"]
    path.write_text(json.dumps(data, indent=1))


TAMPERING = {
    # name: (tamper(root), the file named, the rule, whether the official checker notices)
    "energy +1 %": (
        lambda root: _replace_median(results(root, "kws") / "energy/results.txt", 1.01),
        "kws/energy/results.txt", "energy-recompute", False,
    ),
    "raw trace replaced": (
        lambda root: shutil.copy(results(root, "ic") / "raw/energy/trace.jls",
                                 results(root, "kws") / "raw/energy/trace.jls"),
        "kws/raw/energy/trace.jls", "manifest", False,
    ),
    "window below 10 s": (
        lambda root: _shorten_raw_window(results(root, "kws") / "raw/energy/results.json"),
        "kws/raw/energy/results.json", "window-length", False,
    ),
    "elapsed below 10 s": (
        lambda root: _shorten_elapsed(results(root, "vww") / "energy/results.txt"),
        "vww/energy/results.txt", "window-length", False,
    ),
    "system field missing": (
        lambda root: _drop_system_field(org(root) / "systems" / f"{SYSTEM}.json"),
        f"systems/{SYSTEM}.json", "system-field", False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TAMPERING))
def test_our_checker_fails_a_tampered_tree(tree, name, tmp_path) -> None:
    tamper, file, rule, official_notices = TAMPERING[name]
    tamper(tree)
    ok, found = lines(tree)
    assert not ok
    errors = [line for line in found if line.startswith("ERROR ")]
    assert any(file in line and f"[{rule}]" in line for line in errors), "\n".join(errors)
    if name in ("energy +1 %", "raw trace replaced"):  # the README says it misses these
        official = run_official(tree, "v1.4", tmp_path / "official.csv")
        assert ("SUMMARY: submission looks OK" not in official.stderr) == official_notices


def test_a_replaced_trace_also_fails_the_recomputation(tree) -> None:
    shutil.copy(results(tree, "ic") / "raw/energy/trace.jls", results(tree, "kws") / "raw/energy")
    _, found = lines(tree)
    kws = [line for line in found if "/kws/" in line and "[manifest]" not in line]
    assert any(
        line.startswith("ERROR ") and rule in line
        for line in kws
        for rule in ("[energy-raw]", "[energy-recompute]")
    ), "\n".join(found)


def _energy_run(runs: Path, workload: str) -> Path:
    (folder,) = runs.glob(f"*_{workload}_energy")
    return folder


def _with_calibration(runs: Path, tmp_path: Path, valid_until: str) -> Path:
    run = Path(shutil.copytree(_energy_run(runs, "kws01"), tmp_path / "kws01_energy_cal"))
    data = json.loads((run / "results.json").read_text())
    data["provenance"]["calibration"] = [
        {
            "id": "CAL-0042",
            "instrument": "SIM-JS220-0001",
            "sha256": "ab" * 32,
            "valid_until": valid_until,
        }
    ]
    (run / "results.json").write_text(json.dumps(data, indent=2))
    return run


def test_an_expired_calibration_is_an_error_only_when_required(built, tree, tmp_path) -> None:
    run = _with_calibration(built[1], tmp_path, "2020-01-31")
    add = energybench("submission", "add", str(tree), str(run), "--system", SYSTEM, "--replace")
    assert add.returncode == 0, add.stderr
    ok, found = lines(tree)
    assert ok, "\n".join(found)
    expired = [line for line in found if "expired 2020-01-31" in line]
    assert len(expired) == 1 and expired[0].startswith("WARNING ")
    assert "kws/raw/energy/results.json: [calibration]" in expired[0]
    strict = check(tree, "--require-calibration")  # the CLI flag
    assert strict.returncode == 1
    assert any(
        "kws/raw/energy/results.json: [calibration]" in line and "expired 2020-01-31" in line
        for line in error_lines(strict)
    )


def test_a_current_calibration_satisfies_the_requirement(built, tree, tmp_path) -> None:
    run = _with_calibration(built[1], tmp_path, "2999-12-31")
    add = energybench("submission", "add", str(tree), str(run), "--system", SYSTEM, "--replace")
    assert add.returncode == 0, add.stderr
    ok, found = lines(tree, require_calibration=True)
    calibration = [line for line in found if "[calibration]" in line]
    assert not ok and all(line.startswith("ERROR ") for line in calibration)
    assert len(calibration) == 4 and not any("/kws/" in line for line in calibration)


def _edited_run(runs: Path, pattern: str, tmp_path: Path, edit) -> Path:
    (source,) = runs.glob(pattern)
    run = Path(shutil.copytree(source, tmp_path / source.name))
    data = json.loads((run / "results.json").read_text())
    edit(data)
    (run / "results.json").write_text(json.dumps(data, indent=2))
    return run


REFUSALS = {
    "not valid": (
        "*_kws01_performance",
        lambda d: d.update(valid=False, validity=["window 3 lasted 9.1 s"]),
        "not valid: window 3 lasted 9.1 s",
    ),
    "accuracy below target": (
        "*_vww01_accuracy",
        lambda d: d["figures"].update(top1=0.5),
        "top-1 50 is below the closed-division target (top-1 >= 80 %)",
    ),
    "sww short truth file": (
        "*_sww01_energy",
        lambda d: d["figures"].update(true_positives=2, false_negatives=1),
        "TP + FN = 3; the checker requires 50",
    ),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_add_refuses_a_run_not_valid_for_submission(built, tree, tmp_path, name) -> None:
    pattern, edit, reason = REFUSALS[name]
    run = _edited_run(built[1], pattern, tmp_path, edit)
    manifest = (org(tree) / "energybench-manifest.json").read_bytes()
    proc = energybench("submission", "add", str(tree), str(run), "--system", SYSTEM, "--replace")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and str(run) in line and reason in line
    assert (org(tree) / "energybench-manifest.json").read_bytes() == manifest  # nothing placed


def test_add_keeps_what_is_placed_unless_told_to_replace(built, tree) -> None:
    run = _energy_run(built[1], "ad01")
    proc = energybench("submission", "add", str(tree), str(run), "--system", SYSTEM)
    assert proc.returncode == 1
    assert "already placed (use --replace to overwrite): ad/energy" in proc.stderr


def test_a_confirmed_field_is_rendered_and_no_longer_warned(tree) -> None:
    toml_path = org(tree) / "systems" / f"{SYSTEM}.toml"
    text = toml_path.read_text()
    text = text.replace('  "Processor(s) Name",\n', "")
    text = re.sub(r'"Processor\(s\) Name" = "".*', '"Processor(s) Name" = "Arm Cortex-M33"', text)
    toml_path.write_text(text)
    _, found = lines(tree)
    assert any("[system-json-stale]" in line for line in found)
    assert not any('"Processor(s) Name"' in line for line in found)  # confirmed: no warning
    rerender = energybench("submission", "add", str(tree), "--system", SYSTEM)
    assert rerender.returncode == 0, rerender.stderr
    system = json.loads((org(tree) / "systems" / f"{SYSTEM}.json").read_text())
    assert system["Processor(s) Name"] == "Arm Cortex-M33"
    assert not any("[system-json-stale]" in line for line in lines(tree)[1])


def test_a_new_system_starts_from_the_template(built, tree) -> None:
    template = org(tree) / "systems" / "template.toml"  # init ran without --system
    text = template.read_text().replace('  "Inference Framework",\n', "")
    template.write_text(
        text.replace('"Inference Framework" = ""', '"Inference Framework" = "TFLM"')
    )
    runs = sorted(built[1].glob("*_kws01_*"))
    proc = energybench("submission", "add", str(tree), *map(str, runs), "--system", "Other")
    assert proc.returncode == 0, proc.stderr
    system = json.loads((org(tree) / "systems" / "Other.json").read_text())
    assert system["Inference Framework"] == "TFLM"
    assert "SimJS220 (serial SIM-JS220-0001)" in system["Hardware Notes"]  # the meter, guessed
    assert system["Submitter"] == SUBMITTER and system["Division"] == "Closed"
