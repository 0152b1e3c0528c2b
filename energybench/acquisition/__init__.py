"""Arm -> stream chunks -> stop; sample-id continuity; crash-safe recording."""

from energybench.acquisition.result import AcquisitionResult, DroppedRange
from energybench.acquisition.sinks import ChunkSink, CountingSink
from energybench.acquisition.stream import StreamAcquisition, acquire_for
from energybench.acquisition.triggered import capture_triggered

__all__ = [
    "AcquisitionResult",
    "ChunkSink",
    "CountingSink",
    "DroppedRange",
    "StreamAcquisition",
    "acquire_for",
    "capture_triggered",
]
