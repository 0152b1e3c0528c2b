"""The EEMBC EnergyRunner importer on real published data (R1.2 ST NUCLEO_U575ZI_Q kws)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from energybench.errors import TraceFileError
from energybench.traces import open_recording
from energybench.traces.eembc import import_eembc
from energybench.traces.imported import ImportedRun

KWS = "tiny_results_v1.2/closed/STMicroelectronics/results/NUCLEO_U575ZI_Q/kws"
PUBLISHED_UJ = (656.163, 656.131, 656.062, 656.293, 656.297)
WINDOWS = ((2730, 14285), (16112, 27665), (29499, 41050), (42881, 54434), (56251, 67801))


@pytest.fixture
def energy_dir(real_results: Path) -> Path:
    return real_results / KWS / "energy"


@pytest.fixture
def copy_dir(energy_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(energy_dir, tmp_path / "kws" / "energy"))


def _per_inference_j(run: ImportedRun) -> list[float]:
    out = []
    for w in run.windows:
        chunk = run.trace.read(round(w.start_position), round(w.stop_position))
        energy_j = float(np.sum(chunk.current_a * chunk.voltage_array())) / run.trace.sample_rate_hz
        out.append(energy_j / w.inferences)
    return out


def test_windows_voltage_and_inferences_from_the_folder(energy_dir: Path) -> None:
    run = open_recording(energy_dir)
    assert isinstance(run, ImportedRun)
    assert run.runner == "eembc"
    assert [(w.start_position, w.stop_position) for w in run.windows] == list(WINDOWS)
    assert [w.inferences for w in run.windows] == [400] * 5
    assert run.voltage_v == 1.8  # m-voltage-mv[1800] in log.txt, not script.async's 3000
    assert any("emon voltage 3000" in w and "1800" in w for w in run.warnings)
    assert run.session_id == "20240322093836"
    trace = run.trace
    assert trace.sample_rate_hz == 1000.0 and trace.sample_kind == "bin"
    assert trace.n_samples == (278_533 - 5) // 4
    raw = np.frombuffer((energy_dir / "trace1-energy.bin").read_bytes()[5:], "<f4")
    chunk = trace.read(0, 1000)
    np.testing.assert_allclose(chunk.current_a * 1.8 / 1000 * 1e6, raw[:1000], rtol=1e-12)


def test_window_sums_reproduce_published_energy_per_inference(energy_dir: Path) -> None:
    run = import_eembc(energy_dir)
    assert run.published_energy_per_inference_j == pytest.approx(
        [e * 1e-6 for e in PUBLISHED_UJ], rel=1e-12
    )
    assert run.published_median_energy_per_inference_j == pytest.approx(656.163e-6, rel=1e-12)
    assert run.published_power_w[0] == pytest.approx(22714.442e-6, rel=1e-12)
    assert run.published_window_energy_j[4] == pytest.approx(262518.810e-6, rel=1e-12)
    assert run.published_elapsed_s[0] == pytest.approx(11.55)
    ours = _per_inference_j(run)
    for k, e in enumerate(ours):
        assert e == pytest.approx(run.published_energy_per_inference_j[k], rel=5e-4)
    assert np.median(ours) == pytest.approx(656.163e-6, rel=5e-4)


def _rewrite(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new))


def test_format_variations_of_older_rounds(copy_dir: Path) -> None:
    """Prefixed file names, power/ folder, CRLF, wide prefixes, mW instead of µW."""
    power = copy_dir.parent / "power"
    copy_dir.rename(power)
    for name in ("results.txt", "log.txt", "script.async"):
        (power / name).rename(power / f"energy_{name}")
    results = power / "energy_results.txt"
    text = results.read_bytes().replace(b"\n", b"\r\n").replace(b"01927.5", b"259755.5")
    results.write_bytes(text.replace(b"22714.442 uW", b"22.714442 mW"))
    run = open_recording(copy_dir.parent)  # the benchmark folder
    assert run.path == power
    assert run.published_median_energy_per_inference_j == pytest.approx(656.163e-6)
    assert run.published_power_w[0] == pytest.approx(22714.442e-6, rel=1e-12)
    assert [w.inferences for w in run.windows] == [400] * 5
    assert run.voltage_v == 1.8


def test_inferences_from_iter_infer_and_default_voltage(copy_dir: Path) -> None:
    log = copy_dir / "log.txt"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(ln for ln in lines if "io dut infer" not in ln and "voltage" not in ln))
    (copy_dir / "script.async").unlink()
    run = import_eembc(copy_dir)
    assert [w.inferences for w in run.windows] == [400] * 5  # iterInfer
    assert run.voltage_v == 3.0
    assert any("assuming 3.0 V" in w for w in run.warnings)
    # energy does not depend on the assumed voltage
    ours = _per_inference_j(run)
    assert ours[0] == pytest.approx(656.163e-6, rel=5e-4)


def _truncate(path: Path, n_bytes: int) -> None:
    path.write_bytes(path.read_bytes()[:-n_bytes])


def _times(copy_dir: Path) -> list[float]:
    return json.loads((copy_dir / "trace1-timestamps.json").read_text())


@pytest.mark.parametrize(
    ("edit", "file", "message"),
    [
        (lambda d: _rewrite(d / "trace1-energy.bin", b"\xf1", b"\xf2"), "trace1-energy.bin",
         "bad magic byte 0xF2"),
        (lambda d: _truncate(d / "trace1-energy.bin", 2), "trace1-energy.bin", "truncated"),
        (lambda d: (d / "trace1-energy.bin").write_bytes(b"\xf1\x00"), "trace1-energy.bin",
         "too short"),
        (lambda d: (d / "trace1-energy.bin").write_bytes(
            (d / "trace1-energy.bin").read_bytes()[: 5 + 4 * 60_000]),
         "trace1-timestamps.json", "needs 67801 bins, trace1-energy.bin has only 60000"),
        (lambda d: (d / "trace1-timestamps.json").write_text(json.dumps(_times(d)[:-1])),
         "trace1-timestamps.json", "odd edge count"),
        (lambda d: (d / "trace1-timestamps.json").write_text(json.dumps(_times(d)[:1])),
         "trace1-timestamps.json", "no window edges"),
        (lambda d: (d / "trace1-timestamps.json").write_text("[0.019, 2.73,"),
         "trace1-timestamps.json", "not valid JSON"),
        (lambda d: (d / "trace1-timestamps.json").write_text(json.dumps(_times(d)[::-1])),
         "trace1-timestamps.json", "increasing order"),
        (lambda d: (d / "trace1-timestamps.json").unlink(), "trace1-timestamps.json", "missing"),
    ],
)  # fmt: skip
def test_broken_folders_raise_one_error_naming_the_file(copy_dir, edit, file, message) -> None:
    edit(copy_dir)
    with pytest.raises(TraceFileError, match=message) as info:
        open_recording(copy_dir)
    assert str(copy_dir / file) in str(info.value)


def test_boot_events_is_explicit(copy_dir: Path) -> None:
    times = _times(copy_dir)
    (copy_dir / "trace1-timestamps.json").write_text(json.dumps(times[1:]))  # no boot pulse
    with pytest.raises(TraceFileError, match="odd edge count"):
        import_eembc(copy_dir)
    run = import_eembc(copy_dir, boot_events=0)
    assert [(w.start_position, w.stop_position) for w in run.windows] == list(WINDOWS)


def test_model_level_folder_and_ambiguity(copy_dir: Path) -> None:
    """results/<sys>/<bm>/<model>/power (R0.7 open): the benchmark folder still opens."""
    bm = copy_dir.parent.parent / "bm"
    (bm / "KWS-W3A3").mkdir(parents=True)
    copy_dir.rename(bm / "KWS-W3A3" / "power")
    run = open_recording(bm)
    assert run.path == bm / "KWS-W3A3" / "power"
    (bm / "RN07").mkdir()
    (bm / "RN07" / "power").mkdir()
    (bm / "RN07" / "power" / "trace1-energy.bin").write_bytes(b"\xf1")
    with pytest.raises(TraceFileError, match="several energy folders"):
        open_recording(bm)


def test_bins_in_joules_are_detected_from_the_published_energies(copy_dir: Path) -> None:
    path = copy_dir / "trace1-energy.bin"
    data = path.read_bytes()
    joules = (np.frombuffer(data[5:], "<f4") * np.float32(1e-6)).astype("<f4")
    path.write_bytes(data[:5] + joules.tobytes())
    run = import_eembc(copy_dir)
    assert any("only as joules" in w for w in run.warnings)
    assert _per_inference_j(run)[0] == pytest.approx(656.163e-6, rel=5e-4)
    forced = import_eembc(copy_dir, energy_unit="uJ")
    assert _per_inference_j(forced)[0] == pytest.approx(656.163e-12, rel=5e-4)
    assert not any("joules" in w for w in forced.warnings)
