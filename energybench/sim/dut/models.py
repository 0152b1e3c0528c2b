"""What the simulated DUT computes: the reference models through ai-edge-litert, or a stand-in.

Each model mirrors the reference firmware's ``th_load_tensor`` / ``th_infer`` / ``th_results``
(mlcommons/tiny ``benchmark/reference_submissions/*/submitter_implemented.cpp``):

- kws01: the 490 ``db`` bytes are the int8 MFCC input as-is. Results: the model's last layer is
  a softmax (int8, scale 1/256, zero point -128); each of the 12 dequantised probabilities is
  printed with the reference's integer trick ``"0.%d" "%d" "%d"`` of
  ``(int)(p*10)``, ``(int)(p*100)%10``, ``(int)(p*1000)%10`` in float32, i.e. three truncated
  (not rounded) decimals. 0.99609375 prints ``0.996``.
- vww01: uint8 RGB; the firmware subtracts 128 (int8 wrap) → int8 input. Two values ``%0.3f``
  followed by a comma each (the reference compares against ``nresults = 3``): ``[a,b,]``.
- ic01: uint8 RGB → int8 by subtracting 128. Ten values ``%0.3f``, comma separated.
- ad01: 640 float32 little-endian values, quantised with the input tensor's scale/zero point
  (``round(x/scale) + zp``, ties away from zero, clamped to int8); results are the mean squared
  error between the dequantised 640 outputs and the float inputs, accumulated sequentially in
  float32 (we assume no fused multiply-add), printed ``%0.3f``.
Dequantisation is ``float32(q - zp) * float32(scale)`` as in ``DequantizeInt8ToFloat``. The
model is run once per ``infer`` command (its result does not depend on the repetition count).
Before the first inference the output tensor holds zeros (a zero-initialised arena). When the
``db`` byte count is wrong, ``th_load_tensor`` prints ``Input db has %d elemented, expected
%d\\n`` (sic) and the previous input stays in place, like the firmware.

Without a model file, :class:`StandInModel` (clearly labelled a stand-in) derives the int8
output tensor from a SHA-256 of the input, so results are deterministic but meaningless.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from energybench.errors import ConfigError

MODEL_FILES = {
    "kws01": "kws_ref_model.tflite",
    "vww01": "vww_96_int8.tflite",
    "ic01": "pretrainedResnet_quant.tflite",
    "ad01": "ad01_int8.tflite",
}


@dataclass(frozen=True)
class WorkloadIO:
    """The reference firmware's buffer contract and tensor quantisation for one workload."""

    input_elements: int
    element_bytes: int
    input_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_elements: int
    output_scale: float
    output_zero_point: int

    @property
    def input_bytes(self) -> int:
        return self.input_elements * self.element_bytes


# Quantisation as in the reference .tflite files (used by the stand-in; the real model's own
# tensor details are used when a model is loaded).
WORKLOAD_IO = {
    "kws01": WorkloadIO(490, 1, (1, 49, 10, 1), 0.5847029089927673, 83, 12, 1 / 256, -128),
    "vww01": WorkloadIO(27648, 1, (1, 96, 96, 3), 0.003921568859368563, -128, 2, 1 / 256, -128),
    "ic01": WorkloadIO(3072, 1, (1, 32, 32, 3), 1.0, -128, 10, 1 / 256, -128),
    "ad01": WorkloadIO(640, 4, (1, 640), 0.3910152316093445, 89, 640, 0.36449846625328064, 96),
}


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``DequantizeInt8ToFloat``: float32(q - zp) * float32(scale)."""
    return (q.astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``QuantizeFloatToInt8``: round(x/scale) (half away from zero) + zp, clamped to int8."""
    ratio = (x.astype(np.float32) / np.float32(scale)).astype(np.float64)
    rounded = np.sign(ratio) * np.floor(np.abs(ratio) + 0.5)
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def _c_trunc_mod10(value: np.float32) -> int:
    whole = int(value)  # C float->int conversion truncates toward zero
    return int(math.fmod(whole, 10))


def format_kws(probabilities: np.ndarray) -> str:
    """The keyword-spotting reference's integer-trick formatting (3 truncated decimals)."""
    parts = []
    for p in probabilities.astype(np.float32):
        tenths = int(np.float32(p) * np.float32(10))
        hundredths = _c_trunc_mod10(np.float32(p) * np.float32(100))
        thousandths = _c_trunc_mod10(np.float32(p) * np.float32(1000))
        parts.append(f"0.{tenths}{hundredths}{thousandths}")
    return "m-results-[" + ",".join(parts) + "]"


def format_fixed3(values: np.ndarray, nresults: int) -> str:
    """``%0.3f`` per value, a comma after value i while ``i < nresults - 1`` (VWW: trailing)."""
    text = "m-results-["
    for i, v in enumerate(values.astype(np.float32)):
        text += f"{float(v):0.3f}"
        if i < nresults - 1:
            text += ","
    return text + "]"


def format_ad(mse: np.float32) -> str:
    return f"m-results-[{float(mse):0.3f}]"


class _FirmwareModel:
    """Shared th_load_tensor / th_results logic; subclasses supply ``_invoke``."""

    label = "model"

    def __init__(self, workload: str, io: WorkloadIO) -> None:
        self.workload = workload
        self.io = io
        self.reset()

    def reset(self) -> None:
        """Power-on state: zeroed input and output tensors."""
        io = self.io
        self._input_q = np.zeros(io.input_elements, dtype=np.int8)
        self._input_float = np.zeros(io.input_elements, dtype=np.float32)
        self._output_q = np.zeros(io.output_elements, dtype=np.int8)

    @property
    def input_bytes(self) -> int:
        return self.io.input_bytes

    def load_tensor(self, buffer: bytes) -> str | None:
        """Convert the db buffer into the model input; the firmware's warning text if refused.

        ``buffer`` is what ``ee_get_buffer`` copies: min(bytes written, expected) bytes.
        """
        io = self.io
        elements = len(buffer) // io.element_bytes
        if elements != io.input_elements:
            return f"Input db has {elements} elemented, expected {io.input_elements}\n"
        if self.workload == "ad01":
            self._input_float = np.frombuffer(buffer, dtype="<f4").astype(np.float32)
            self._input_q = quantize(self._input_float, io.input_scale, io.input_zero_point)
        elif self.workload == "kws01":
            self._input_q = np.frombuffer(buffer, dtype=np.int8).copy()
        else:  # vww01, ic01: uint8 - 128 with int8 wrap-around
            self._input_q = (np.frombuffer(buffer, dtype=np.uint8).astype(np.int16) - 128).astype(
                np.int8
            )
        return None

    def infer(self) -> None:
        self._output_q = np.asarray(self._invoke(self._input_q), dtype=np.int8).reshape(-1)

    def _invoke(self, input_q: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def results_line(self) -> str:
        """The ``m-results-[...]`` line (without CR LF) for the current output tensor."""
        io = self.io
        values = dequantize(self._output_q, io.output_scale, io.output_zero_point)
        if self.workload == "kws01":
            return format_kws(values)
        if self.workload == "vww01":
            return format_fixed3(values, nresults=3)
        if self.workload == "ic01":
            return format_fixed3(values, nresults=10)
        diff = values - self._input_float
        total = np.cumsum(diff * diff, dtype=np.float32)[-1]  # sequential float32 sum
        return format_ad(np.float32(total / np.float32(io.input_elements)))


def open_int8_interpreter(path: Path, *, without: str) -> tuple[Any, dict, dict]:
    """An ai-edge-litert interpreter (CPU, one thread, tensors allocated) of an int8 model, with
    its first input's and output's details; ``without`` says how to run with no model."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ConfigError(
            f"ai-edge-litert is not installed; install it with `pip install energybench[litert]`"
            f" or {without}",
            context="model",
        ) from exc
    if not path.is_file():
        raise ConfigError("model file not found", context=str(path))
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    if inp["dtype"] != np.int8 or out["dtype"] != np.int8:
        raise ConfigError("expected an int8-quantised model", context=str(path))
    return interpreter, inp, out


class LiteRtModel(_FirmwareModel):
    """A reference .tflite run by ai-edge-litert (CPU), with the firmware's conversions."""

    label = "litert"

    def __init__(self, workload: str, path: Path) -> None:
        self.path = path
        self._interpreter, inp, out = open_int8_interpreter(
            path, without="run the simulated DUT without a model (stand-in results)"
        )
        ref = WORKLOAD_IO[workload]
        io = WorkloadIO(
            input_elements=int(np.prod(inp["shape"])),
            element_bytes=ref.element_bytes,
            input_shape=tuple(int(d) for d in inp["shape"]),
            input_scale=float(inp["quantization"][0]),
            input_zero_point=int(inp["quantization"][1]),
            output_elements=int(np.prod(out["shape"])),
            output_scale=float(out["quantization"][0]),
            output_zero_point=int(out["quantization"][1]),
        )
        if io.input_elements != ref.input_elements or io.output_elements != ref.output_elements:
            raise ConfigError(
                f"model tensors ({io.input_elements} in, {io.output_elements} out) do not match "
                f"{workload} ({ref.input_elements} in, {ref.output_elements} out)",
                context=str(path),
            )
        self._in_index = inp["index"]
        self._out_index = out["index"]
        super().__init__(workload, io)

    def _invoke(self, input_q: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._in_index, input_q.reshape(self.io.input_shape))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._out_index)


class StandInModel(_FirmwareModel):
    """NOT a model: a deterministic stand-in whose outputs are a hash of the input tensor."""

    label = "stand-in"

    def __init__(self, workload: str) -> None:
        super().__init__(workload, WORKLOAD_IO[workload])

    def _invoke(self, input_q: np.ndarray) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(input_q.tobytes()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        if self.workload == "ad01":  # reconstruction = input plus a small hashed error
            noise = rng.integers(-3, 4, size=input_q.size)
            return np.clip(input_q.astype(np.int16) + noise, -128, 127)
        logits = rng.normal(0.0, 3.0, size=self.io.output_elements)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return quantize(probs.astype(np.float32), self.io.output_scale, self.io.output_zero_point)


def load_model(workload: str, model: str | Path | None = None) -> _FirmwareModel:
    """The reference model for ``workload`` (a .tflite file or a folder holding the reference
    file names), or the deterministic stand-in when ``model`` is None."""
    if workload not in WORKLOAD_IO:
        raise ConfigError(f"no model for workload {workload!r}", context="workload")
    if model is None:
        return StandInModel(workload)
    path = Path(model)
    if path.is_dir():
        path = path / MODEL_FILES[workload]
    return LiteRtModel(workload, path)
