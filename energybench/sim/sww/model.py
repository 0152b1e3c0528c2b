"""What the simulated streaming-wakeword DUT computes per 32 ms frame: log-mel features and the
reference model (ai-edge-litert), or a clearly labelled stand-in detector.

Feature extraction follows the MLCommons training code (``get_dataset.py``, feature type
``lfbe``) and the reference firmware's ``th_compute_lfbe_f32``; our own numpy implementation:

- a frame is the last 1024 samples (64 ms at 16 kHz), advanced by 512 new ones (32 ms);
  int16 samples are scaled by 1/32768 (no peak normalisation on the DUT);
- pre-emphasis ``y[n] = x[n] - (1 - 2**-5)·x[n-1]``; the sample before the frame carries over
  from the previous frame (the firmware's static ``last_value``, not reset by ``start``);
- symmetric Hamming window (``periodic=False``), 1024-point real FFT, power ``|X|²/1024``;
- 40 triangular mel filters over 0..8000 Hz on the mel scale ``1127·ln(1 + f/700)`` built as
  ``tf.signal.linear_to_mel_weight_matrix`` does (DC bin zeroed, slopes computed in mel);
- mel energies clipped below at 1e-30, ``10·log10``, ``(x + 52)/64``, clipped to [0, 1];
- quantised as the firmware does, ``(int8)(f/scale - 128)`` (C truncation toward zero);
- the model input is a 30×40 int8 history (oldest row first), zeroed by ``start``; detection
  when ``output[0] > 115`` (``DETECT_THRESHOLD``).

Without a model file :class:`StandInSwwDetector` (NOT the model) maps the RMS level of the 512
new samples to an activation and detects loud onsets with a hold-off, so the stand-in WAV's
tone bursts give one detection each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.dut.models import open_int8_interpreter

SWW_MODEL_FILE = "str_ww_ref_model.tflite"
SAMPLE_RATE_HZ = 16000
WINDOW_SAMPLES = 1024
STRIDE_SAMPLES = 512
NUM_MEL_BINS = 40
NUM_FRAMES = 30
DETECT_THRESHOLD = 115
PREEMPHASIS = np.float32(1.0 - 2.0**-5)
POWER_OFFSET_DB = 52.0
REFERENCE_INPUT_SCALE = 0.003701042616739869  # str_ww_ref_model.tflite's input scale


def mel_weight_matrix(
    num_mel_bins: int = NUM_MEL_BINS,
    num_spectrogram_bins: int = WINDOW_SAMPLES // 2 + 1,
    sample_rate_hz: float = SAMPLE_RATE_HZ,
    lower_hz: float = 0.0,
    upper_hz: float = SAMPLE_RATE_HZ / 2,
) -> np.ndarray:
    """(spectrogram bins × mel bins) triangular filters, zero row for DC, float32."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

    bins_hz = np.linspace(0.0, sample_rate_hz / 2, num_spectrogram_bins)[1:]
    bins_mel = mel(bins_hz)[:, None]
    edges = np.linspace(mel(lower_hz), mel(upper_hz), num_mel_bins + 2)
    low, center, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - low) / (center - low)
    falling = (high - bins_mel) / (high - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, num_mel_bins)), weights]).astype(np.float32)


class LfbeFrontEnd:
    """The firmware's streaming feature extractor: 512 new samples in, 40 features out."""

    def __init__(self) -> None:
        self._window = np.hamming(WINDOW_SAMPLES).astype(np.float32)
        self._mel = mel_weight_matrix()
        self._block = np.zeros(WINDOW_SAMPLES, dtype=np.int16)
        self._last_value = np.float32(0.0)

    def reset_stream(self) -> None:
        """``start``: the sample block is zeroed (the pre-emphasis carry is not)."""
        self._block[:] = 0

    def reset(self) -> None:
        """Boot: everything zero."""
        self.reset_stream()
        self._last_value = np.float32(0.0)

    def push(self, new_samples: np.ndarray) -> np.ndarray:
        """Shift in ``STRIDE_SAMPLES`` int16 samples; the frame's 40 features in [0, 1]."""
        if new_samples.shape != (STRIDE_SAMPLES,):
            raise ConfigError(f"a frame takes {STRIDE_SAMPLES} new samples", context="sww frame")
        self._block[:-STRIDE_SAMPLES] = self._block[STRIDE_SAMPLES:]
        self._block[-STRIDE_SAMPLES:] = new_samples
        x = self._block.astype(np.float32) / np.float32(32768.0)
        y = np.empty_like(x)
        y[0] = x[0] - self._last_value * PREEMPHASIS
        y[1:] = x[1:] - PREEMPHASIS * x[:-1]
        self._last_value = x[STRIDE_SAMPLES - 1]
        spectrum = np.fft.rfft(y * self._window)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32) / np.float32(
            WINDOW_SAMPLES
        )
        mel = np.maximum(power @ self._mel, np.float32(1e-30))
        features = (10.0 * np.log10(mel) + POWER_OFFSET_DB) / 64.0
        return np.clip(features, 0.0, 1.0).astype(np.float32)


def quantize_features(features: np.ndarray, scale: float) -> np.ndarray:
    """``(int8_t)(f/scale - 128)``: C float→int conversion truncates toward zero."""
    values = features.astype(np.float32) / np.float32(scale) - np.float32(128.0)
    return np.clip(np.trunc(values), -128, 127).astype(np.int8)


class SwwDetector(Protocol):
    """One frame of the SWW firmware's processing: the activation ``output[0]`` (int8)."""

    label: str

    def reset(self) -> None: ...  # power-on state

    def reset_stream(self) -> None: ...  # ``start``: zeroed sample block and model input

    def process(self, new_samples: np.ndarray) -> int: ...

    # ``extract_uart_stream``: the new frame's 40 quantised features and the 3 outputs
    def extract(self, new_samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class LiteRtSwwModel:
    """The reference ``str_ww_ref_model.tflite`` behind the firmware's front end."""

    label = "litert"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"litert {path.name}"
        self._interpreter, inp, out = open_int8_interpreter(
            path, without="run the simulated SWW DUT without a model (stand-in detector)"
        )
        shape = tuple(int(d) for d in inp["shape"])
        if int(np.prod(shape)) != NUM_FRAMES * NUM_MEL_BINS or int(np.prod(out["shape"])) != 3:
            raise ConfigError(
                f"model tensors {shape} -> {tuple(out['shape'])} are not the SWW model's "
                f"[1,{NUM_FRAMES},1,{NUM_MEL_BINS}] -> [1,3]",
                context=str(path),
            )
        self._shape = shape
        self._scale = float(inp["quantization"][0])
        self._in_index = inp["index"]
        self._out_index = out["index"]
        self._front = LfbeFrontEnd()
        self._input = np.zeros(NUM_FRAMES * NUM_MEL_BINS, dtype=np.int8)
        self.last_output = np.zeros(3, dtype=np.int8)

    def reset(self) -> None:
        self._front.reset()
        self._input[:] = 0

    def reset_stream(self) -> None:
        self._front.reset_stream()
        self._input[:] = 0

    def process(self, new_samples: np.ndarray) -> int:
        self._step(new_samples)
        return int(self.last_output[0])

    def extract(self, new_samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._step(new_samples), self.last_output.copy()

    def _step(self, new_samples: np.ndarray) -> np.ndarray:
        features_q = quantize_features(self._front.push(new_samples), self._scale)
        self._input[:-NUM_MEL_BINS] = self._input[NUM_MEL_BINS:]
        self._input[-NUM_MEL_BINS:] = features_q
        self._interpreter.set_tensor(self._in_index, self._input.reshape(self._shape))
        self._interpreter.invoke()
        self.last_output = np.asarray(
            self._interpreter.get_tensor(self._out_index), dtype=np.int8
        ).reshape(-1)
        return features_q


class StandInSwwDetector:
    """NOT the model: activation from the RMS of the new samples; a loud onset after at least
    ``holdoff_frames`` frames since the last detection gives an activation above threshold."""

    label = "stand-in (RMS onset detector, not the reference model)"

    def __init__(self, threshold_rms: float = 0.1, holdoff_frames: int = 25) -> None:
        self.threshold_rms = threshold_rms
        self.holdoff_frames = holdoff_frames
        self._front = LfbeFrontEnd()
        self.reset()

    def reset(self) -> None:
        self._front.reset()
        self.reset_stream()

    def reset_stream(self) -> None:
        self._front.reset_stream()
        self._since_detection = self.holdoff_frames
        self._was_loud = False

    def process(self, new_samples: np.ndarray) -> int:
        x = new_samples.astype(np.float64) / 32768.0
        rms = float(np.sqrt(np.mean(x * x)))
        loud = rms > self.threshold_rms
        onset = loud and not self._was_loud and self._since_detection >= self.holdoff_frames
        self._was_loud = loud
        self._since_detection = 0 if onset else self._since_detection + 1
        if onset:
            return 127
        # below threshold: a level indicator in -128..DETECT_THRESHOLD
        return int(-128 + min(1.0, rms / self.threshold_rms) * (DETECT_THRESHOLD + 128))

    def extract(self, new_samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The real front end's features (quantised with the reference model's input scale) and
        the stand-in activation followed by two -128s."""
        features_q = quantize_features(self._front.push(new_samples), REFERENCE_INPUT_SCALE)
        return features_q, np.array([self.process(new_samples), -128, -128], dtype=np.int8)


def load_sww_model(model: str | Path | None = None) -> SwwDetector:
    """The reference model (a .tflite file or a folder holding ``str_ww_ref_model.tflite``),
    or the stand-in detector when ``model`` is None."""
    if model is None:
        return StandInSwwDetector()
    path = Path(model)
    if path.is_dir():
        path = path / SWW_MODEL_FILE
    return LiteRtSwwModel(path)
