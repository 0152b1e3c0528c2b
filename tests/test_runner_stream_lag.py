"""The stream measurer waits for a window's edges while a lagging stream still delivers samples
(a slow host, or the virtual lab's DUT running ahead of a 100 kS/s meter), and gives up on a
stalled one: edges left in flight would otherwise be counted in the next attempt."""

from __future__ import annotations

import pytest

from energybench.errors import AcquisitionError
from energybench.runner import stream_measurer
from energybench.runner.stream_measurer import StreamMeasurer


class LaggingAcq:
    """Each wait_for call is one wait slice: the stream moves on by ``step`` samples and the
    edges turn up in slice ``edges_in`` (never if None)."""

    def __init__(self, step: int, edges_in: int | None) -> None:
        self.step, self.edges_in = step, edges_in
        self.next_sample_id = 1000
        self.edges_seen = 0
        self.slices = 0
        self.failure = None

    def wait_for(self, predicate, timeout_s: float, what: str) -> None:
        self.slices += 1
        self.next_sample_id += self.step
        if self.edges_in is not None and self.slices >= self.edges_in:
            self.edges_seen += 2
        if not predicate():
            raise AcquisitionError(f"timed out waiting for {what}")


def _measurer(acq: LaggingAcq) -> StreamMeasurer:
    m = StreamMeasurer.__new__(StreamMeasurer)
    m.acq = acq
    return m


def test_a_lagging_stream_gets_more_time_while_samples_arrive() -> None:
    acq = LaggingAcq(step=100_000, edges_in=3)
    _measurer(acq)._wait_edges(0, wait_s=0.01)
    assert acq.slices == 3


def test_a_stalled_stream_fails_after_one_wait() -> None:
    acq = LaggingAcq(step=0, edges_in=None)
    with pytest.raises(AcquisitionError):
        _measurer(acq)._wait_edges(0, wait_s=0.01)
    assert acq.slices == 1


def test_the_lag_allowance_is_bounded() -> None:
    acq = LaggingAcq(step=100_000, edges_in=None)
    with pytest.raises(AcquisitionError):
        _measurer(acq)._wait_edges(0, wait_s=0.001)
    assert acq.slices > 1  # ends once LAG_SLICES x wait_s of wall time has passed


def test_a_dut_timeout_waits_no_further() -> None:
    acq = LaggingAcq(step=100_000, edges_in=2)
    with pytest.raises(AcquisitionError):
        _measurer(acq)._wait_edges(0, wait_s=0.0)
    assert acq.slices == 1 and stream_measurer.LAG_SLICES > 1
