"""Reference-model inference in the simulated DUT, against direct ai-edge-litert runs."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from conftest import shared_path

from energybench.errors import ConfigError
from energybench.sim.dut.models import MODEL_FILES, format_fixed3, format_kws, load_model
from energybench.sim.dut.profiles import load_profile
from energybench.sim.dut.sim_dut import SimDut
from energybench.sim.physics.timeline import Timeline

litert = pytest.importorskip("ai_edge_litert.interpreter")


def new_dut(workload: str, model=None) -> SimDut:
    timeline = Timeline(supply_voltage_v=1.8, output_on=True)
    prof = load_profile("fast-m33")
    return SimDut(timeline, prof, workload=workload, model=model, serve_pty=False, idle_speed=0)


def load_via_db(dut: SimDut, data: bytes, chunk: int = 38) -> None:
    """The host's download: db load N, then db <hex> chunks (38 bytes = the 80-char maximum)."""
    assert dut.execute(f"db load {len(data)}")[0] == f"m-[Expecting {len(data)} bytes]\r\n"
    for k in range(0, len(data), chunk):
        reply = dut.execute("db " + data[k : k + chunk].hex())
    assert reply == ["m-load-done\r\n", "m-ready\r\n"]


def direct(path, input_q: np.ndarray) -> np.ndarray:
    interp = litert.Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], input_q.reshape(inp["shape"]))
    interp.invoke()
    return interp.get_tensor(out["index"]).reshape(-1), out["quantization"], interp


def kws_line(q: np.ndarray) -> str:
    """Independent formatting: softmax int8 (scale 1/256, zp -128) → k/256, truncated digits."""
    parts = []
    for k in q.astype(int) + 128:
        parts.append(f"0.{k * 10 // 256}{k * 100 // 256 % 10}{k * 1000 // 256 % 10}")
    return "m-results-[" + ",".join(parts) + "]"


def test_kws01_results_equal_direct_litert_for_every_dataset_file() -> None:
    models = shared_path("mlperf-tiny", "models")
    files = sorted(shared_path("mlperf-tiny", "datasets", "kws01").glob("*.bin"))
    assert len(files) == 1000
    model_path = models / MODEL_FILES["kws01"]
    interp = litert.Interpreter(model_path=str(model_path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert out["quantization"] == (1 / 256, -128)
    mismatches = []
    dut = None
    for i, path in enumerate(files):
        if i % 100 == 0:  # fresh timelines keep the ground-truth series short
            dut = new_dut("kws01", models).start()
        data = path.read_bytes()
        load_via_db(dut, data)
        lines = dut.execute("infer 1 0")
        interp.set_tensor(inp["index"], np.frombuffer(data, np.int8).reshape(inp["shape"]))
        interp.invoke()
        expected = kws_line(interp.get_tensor(out["index"]).reshape(-1))
        if lines[-2] != expected + "\r\n":
            mismatches.append((path.name, lines[-2], expected))
    assert mismatches == []


def test_vww01_and_ic01_convert_uint8_like_the_firmware() -> None:
    models = shared_path("mlperf-tiny", "models")
    rng = np.random.default_rng(3)
    for workload, n_in, nresults in (("vww01", 27648, 3), ("ic01", 3072, 10)):
        data = rng.integers(0, 256, n_in, dtype=np.uint8).tobytes()
        dut = new_dut(workload, models).start()
        load_via_db(dut, data)
        line = dut.execute("infer 1 0")[-2]
        q, (scale, zp), _ = direct(
            models / MODEL_FILES[workload],
            (np.frombuffer(data, np.uint8).astype(np.int16) - 128).astype(np.int8),
        )
        values = [(int(v) - zp) * scale for v in q]
        expected = "".join(
            f"{v:0.3f}" + ("," if i < nresults - 1 else "") for i, v in enumerate(values)
        )
        assert line == f"m-results-[{expected}]\r\n"
        if workload == "vww01":
            assert line.endswith(",]\r\n")  # the reference's trailing comma


def test_ad01_mse_of_first_windows() -> None:
    models = shared_path("mlperf-tiny", "models")
    raw = shared_path(
        "mlperf-tiny", "datasets", "ad01", "normal_id_01_00000000_hist_librosa.bin"
    ).read_bytes()
    dut = new_dut("ad01", models).start()
    for offset in (0, 512, 1024):
        window = raw[offset : offset + 2560]
        load_via_db(dut, window)
        line = dut.execute("infer 1 0")[-2]
        x = np.frombuffer(window, "<f4")
        q, (oscale, ozp), _ = direct(
            models / MODEL_FILES["ad01"], _quantize(x, *interp_input_quant(models))
        )
        mse = np.mean(((q.astype(np.float64) - ozp) * oscale - x.astype(np.float64)) ** 2)
        got = float(re.fullmatch(r"m-results-\[(\d+\.\d{3})\]\r\n", line).group(1))
        assert got == pytest.approx(mse, abs=1.5e-3)


def interp_input_quant(models) -> tuple[float, int]:
    interp = litert.Interpreter(model_path=str(models / MODEL_FILES["ad01"]))
    return interp.get_input_details()[0]["quantization"]


def _quantize(x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    r = x.astype(np.float64) / scale
    return np.clip(np.where(r >= 0, np.floor(r + 0.5), np.ceil(r - 0.5)) + zp, -128, 127).astype(
        np.int8
    )


def test_stand_in_is_deterministic_and_labelled() -> None:
    a, b = load_model("kws01"), load_model("kws01")
    assert a.label == "stand-in"
    for m in (a, b):
        m.load_tensor(bytes(range(200)) + bytes(290))
        m.infer()
    assert a.results_line() == b.results_line()
    values = [float(v) for v in re.findall(r"\d\.\d{3}", a.results_line())]
    assert len(values) == 12 and 0.95 <= sum(values) <= 1.01
    b.load_tensor(bytes(490))
    b.infer()
    assert b.results_line() != a.results_line()


def test_formatting_quirks() -> None:
    assert format_kws(np.array([0.99609375, 0.00390625, 0.5], np.float32)) == (
        "m-results-[0.996,0.003,0.500]"
    )
    assert format_kws(np.array([1.0], np.float32)) == "m-results-[0.1000]"  # latent bug
    assert format_fixed3(np.array([0.1214, 0.8786], np.float32), 3) == "m-results-[0.121,0.879,]"


def test_missing_litert_gives_install_hint(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ConfigError, match=r"pip install energybench\[litert\]"):
        load_model("kws01", tmp_path / "kws_ref_model.tflite")


def test_missing_model_file_names_the_path(tmp_path) -> None:
    with pytest.raises(ConfigError, match="model file not found") as info:
        load_model("kws01", tmp_path)
    assert "kws_ref_model.tflite" in str(info.value)
