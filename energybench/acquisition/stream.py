"""Arm → stream chunks → stop for any :class:`StreamingMeter`, recording as the data arrives.

Two threads keep the instrument and the disk apart: a reader pulls chunks from the meter into a
bounded queue (a put that times out drops the chunk and counts it: an overflow, never a hang), a
writer takes them out, checks sample-id continuity, records every gap with a bound on the
energy it could hold (see :mod:`energybench.acquisition.result`) and appends the chunk to the
sink at once, so a crash leaves a file readable up to the last chunk written.

The meter is stopped and the sink closed on every exit path (``with`` block, exceptions,
Ctrl-C; a second Ctrl-C during cleanup is held until cleanup ends); every join is bounded.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from energybench.acquisition.edge_counter import EdgeCounter
from energybench.acquisition.result import AcquisitionResult, DropCause, DroppedRange, peak_abs
from energybench.acquisition.sinks import ChunkSink
from energybench.analysis.edges import timestamp_line
from energybench.analysis.trace import TraceChunk, nan_ranges
from energybench.errors import AcquisitionError, ConfigError, stop_reason
from energybench.instruments.capabilities import StreamingMeter, StreamRequest, StreamSettings
from energybench.transport.interrupts import deferred_interrupt

log = logging.getLogger(__name__)

POLL_S = 0.1


def _peaks(chunk: TraceChunk | None) -> tuple[float, float]:
    """Largest |v·i| and |v| of a chunk, NaN ignored (0 for none)."""
    if chunk is None:
        return 0.0, 0.0
    return peak_abs(chunk.power_w()), peak_abs(chunk.voltage_array())


class StreamAcquisition:
    """One streamed recording: ``start()``, wait while the DUT works, ``stop()`` → result.

    Timestamp edges are counted as they arrive (``edges_seen``, ``last_edge_id``, ``edge_id``)
    on ``edge_line`` when given (it must be streamed), else on the request's sync line, or the
    only digital line streamed when the meter names it otherwise."""

    def __init__(
        self,
        meter: StreamingMeter,
        sink: ChunkSink,
        request: StreamRequest,
        *,
        queue_chunks: int = 64,
        put_timeout_s: float = 1.0,
        chunk_timeout_s: float = 5.0,
        join_timeout_s: float = 5.0,
        max_current_a: float | None = None,
        edge_line: str | None = None,
    ) -> None:
        for name, value in (
            ("queue_chunks", queue_chunks),
            ("put_timeout_s", put_timeout_s),
            ("chunk_timeout_s", chunk_timeout_s),
            ("join_timeout_s", join_timeout_s),
        ):
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}", context=name)
        self.meter = meter
        self.sink = sink
        self.request = request
        self.put_timeout_s = put_timeout_s
        self.chunk_timeout_s = chunk_timeout_s
        self.join_timeout_s = join_timeout_s
        self.max_current_a = max_current_a
        self._requested_line = edge_line
        self.edge_line: str | None = None  # known once the meter says what it streams
        self.settings: StreamSettings | None = None
        self.result: AcquisitionResult | None = None
        self._queue: queue.Queue[TraceChunk] = queue.Queue(maxsize=queue_chunks)
        self._cond = threading.Condition()
        self._abort = threading.Event()
        self._reader: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._errors: list[str] = []
        self._failure: BaseException | None = None
        # writer-side bookkeeping
        self._first_id: int | None = None
        self._next_id: int | None = None
        self._samples = 0
        self._counter: EdgeCounter | None = None
        self._prev_chunk: TraceChunk | None = None
        self._dropped: list[DroppedRange] = []
        self._overflow: list[tuple[int, int]] = []  # reader side, sample-id ranges
        self._interrupted: str | None = None  # why a KeyboardInterrupt/Terminated stopped it
        self._started = False

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> StreamSettings:
        """Configure and start the meter, then the reader and writer threads."""
        if self._started:
            raise AcquisitionError("acquisition already started", context="acquisition")
        self._started = True
        try:
            self.settings = self.meter.configure_stream(self.request)
            self._count_edges_on(self.settings.digital_names)
        except BaseException:  # ``with`` never reaches __exit__: close the sink here
            self._close_sink_quietly()
            raise
        try:
            self.meter.start()
            self._writer = threading.Thread(target=self._write_loop, name="acq-writer", daemon=True)
            self._reader = threading.Thread(target=self._read_loop, name="acq-reader", daemon=True)
            # the reader first: the writer ends once the reader is not alive and the queue is
            # empty, and a reader not yet started is not alive either (on a slow host the
            # writer's first poll could end the acquisition before it began)
            self._reader.start()
            self._writer.start()
        except BaseException:  # never leave a started meter (or an open sink) behind
            with contextlib.suppress(Exception):
                self.meter.stop()
            if self._writer is None or not self._writer.is_alive():
                self._close_sink_quietly()
            raise
        log.info("acquisition started at %g Hz", self.settings.sample_rate_hz)
        return self.settings

    def _count_edges_on(self, names: tuple[str, ...]) -> None:
        """The line whose edges are counted (ConfigError when it is not streamed)."""
        sync, requested = self.request.sync, self._requested_line
        if requested is not None:
            configured, line = requested, (requested if requested in names else None)
        elif sync is not None and names:
            configured, line = sync.line, timestamp_line(sync.line, names)
        else:
            return  # nothing to count on
        if line is None:
            raise ConfigError(
                f"sync line {configured!r} is not streamed (lines: {names})", context="sync.line"
            )
        self.edge_line = line
        self._counter = EdgeCounter(line, sync.polarity if sync else "falling")

    def _close_sink_quietly(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:  # the start failure is the error to see
            log.error("closing the sink after a failed start failed: %s", exc)

    def __enter__(self) -> StreamAcquisition:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
            return
        if issubclass(exc_type, KeyboardInterrupt):  # Ctrl-C, or Terminated (SIGTERM/SIGHUP)
            self._interrupted = stop_reason(exc) if exc is not None else "interrupted"
        try:
            self.stop()
        except AcquisitionError as stop_exc:  # the original exception is the one to see
            log.error("while handling %s: %s", exc_type.__name__, stop_exc)

    # ---- waiting -----------------------------------------------------------------------
    @property
    def samples_written(self) -> int:
        return self._samples

    @property
    def edges_seen(self) -> int:
        return self._counter.count if self._counter is not None else 0

    @property
    def last_edge_id(self) -> int | None:
        """The sample id just after the last edge counted (None before the first)."""
        return self._counter.last_edge_id if self._counter is not None else None

    def edge_id(self, k: int) -> int:
        """The sample id just after the ``k``-th edge counted (0-based; IndexError before it
        arrived: wait for ``edges_seen > k`` first)."""
        if self._counter is None:
            raise IndexError(f"no edge {k}: no line is counted")
        return self._counter.edge_id(k)

    @property
    def failure(self) -> BaseException | None:
        """What stopped the reader or the writer thread (the meter or the recording failed);
        None while both are fine. A wait that raised AcquisitionError because of it cannot be
        cured by waiting longer."""
        return self._failure

    @property
    def next_sample_id(self) -> int | None:
        return self._next_id

    @property
    def first_sample_id(self) -> int | None:
        return self._first_id

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise AcquisitionError(
                f"acquisition failed: {self._failure}", context=self._context()
            ) from self._failure

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Wait (bounded) until ``predicate()`` holds; AcquisitionError on failure or timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate():
                self._raise_if_failed()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AcquisitionError(
                        f"timed out after {timeout_s} s waiting for {what}",
                        context=self._context(),
                    )
                if self._writer is not None and not self._writer.is_alive():
                    raise AcquisitionError(
                        f"the stream ended before {what}", context=self._context()
                    )
                self._cond.wait(min(remaining, POLL_S))
        self._raise_if_failed()

    def wait_for_samples(self, n: int, timeout_s: float) -> None:
        self.wait_for(lambda: self._samples >= n, timeout_s, f"{n} samples")

    def wait_for_sample_id(self, sample_id: int, timeout_s: float) -> None:
        """Until every sample before ``sample_id`` is recorded (or known to be dropped)."""
        self.wait_for(
            lambda: self._next_id is not None and self._next_id >= sample_id,
            timeout_s,
            f"sample id {sample_id}",
        )

    def wait_for_edges(self, n: int, timeout_s: float) -> None:
        if not self.edge_line:
            raise ConfigError("no sync line to count edges on", context="sync.line")
        self.wait_for(lambda: self.edges_seen >= n, timeout_s, f"{n} edges on {self.edge_line}")

    def _context(self) -> str:
        return f"acquisition from {getattr(self.meter, 'resource', type(self.meter).__name__)}"

    # ---- threads -----------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._failure is None:
                self._failure = exc
            self._errors.append(f"{type(exc).__name__}: {exc}")
            self._cond.notify_all()

    def _read_loop(self) -> None:
        try:
            for chunk in self.meter.chunks(self.chunk_timeout_s):
                if self._abort.is_set():
                    break
                try:
                    self._queue.put(chunk, timeout=self.put_timeout_s)
                except queue.Full:
                    self._overflow.append((chunk.first_sample_id, chunk.stop_sample_id))
                    log.warning("queue full: chunk [%d, %d) dropped by the host",
                                chunk.first_sample_id, chunk.stop_sample_id)  # fmt: skip
        except Exception as exc:
            log.error("reading the stream failed: %s", exc)
            self._fail(exc)

    def _write_loop(self) -> None:
        try:
            while not self._abort.is_set():
                try:
                    chunk = self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    reader_done = self._reader is not None and not self._reader.is_alive()
                    if reader_done and self._queue.empty():
                        break
                    continue
                self._consume(chunk)
        except Exception as exc:
            log.error("recording the stream failed: %s", exc)
            self._fail(exc)
            self._abort.set()
        finally:
            with self._cond:
                self._cond.notify_all()

    def _consume(self, chunk: TraceChunk) -> None:
        if self._next_id is None:
            self._first_id = self._next_id = chunk.first_sample_id
        elif chunk.first_sample_id > self._next_id:
            self._record_gap(self._next_id, chunk.first_sample_id, chunk)
        elif chunk.first_sample_id < self._next_id:
            raise AcquisitionError(
                f"chunk starts at sample id {chunk.first_sample_id}, "
                f"before the expected {self._next_id} (overlap or out of order)",
                context=self._context(),
            )
        for r in nan_ranges(chunk.current_a, chunk.first_sample_id):
            self._add_drop(r.start_id, r.stop_id, "nan", chunk, chunk)
        self.sink.append(chunk)
        with self._cond:
            if self._counter is not None:
                self._counter.feed(chunk)
            self._samples += chunk.n_samples
            self._next_id = chunk.stop_sample_id
            self._prev_chunk = chunk
            self._cond.notify_all()

    def _record_gap(self, start_id: int, stop_id: int, after: TraceChunk | None) -> None:
        host = any(a < stop_id and start_id < b for a, b in self._overflow)
        self._add_drop(start_id, stop_id, "host_overflow" if host else "instrument",
                       self._prev_chunk, after)  # fmt: skip

    def _add_drop(
        self,
        start_id: int,
        stop_id: int,
        cause: DropCause,
        before: TraceChunk | None,
        after: TraceChunk | None,
    ) -> None:
        rate = self.settings.sample_rate_hz if self.settings else 1.0
        (p1, v1), (p2, v2) = _peaks(before), _peaks(after)
        duration_s = (stop_id - start_id) / rate
        hard = None
        if self.max_current_a is not None:
            hard = duration_s * self.max_current_a * max(v1, v2)
        drop = DroppedRange(start_id, stop_id, cause, duration_s * max(p1, p2), hard)
        log.warning("samples [%d, %d) missing (%s): up to %.3g J", start_id, stop_id, cause,
                    drop.energy_bound_j)  # fmt: skip
        self._dropped.append(drop)

    # ---- stop --------------------------------------------------------------------------
    def stop(self) -> AcquisitionResult:
        """Stop the meter, drain the queue into the sink, close it; idempotent.

        Raises AcquisitionError (with ``result`` in its details) when reading or recording
        failed; lost samples alone only flag the result.
        """
        if self.result is not None:
            return self.result
        with deferred_interrupt():
            self._stop_everything()
            self.result = self._build_result()
        if self._failure is not None:
            raise AcquisitionError(
                f"acquisition failed: {self._failure}",
                context=self._context(),
                result=self.result,
            ) from self._failure
        return self.result

    def _stop_everything(self) -> None:
        try:
            self.meter.stop()
        except Exception as exc:
            log.error("stopping the meter failed: %s", exc)
            self._errors.append(f"meter stop: {exc}")
        for thread, name in ((self._reader, "reader"), (self._writer, "writer")):
            if thread is None:
                continue
            thread.join(self.join_timeout_s)
            if thread.is_alive():
                self._errors.append(f"the {name} thread did not finish in {self.join_timeout_s} s")
                self._abort.set()
        if self._writer is not None and self._writer.is_alive():
            self._writer.join(self.join_timeout_s)
        if self._writer is None or not self._writer.is_alive():
            self._write_leftovers()
            self._account_trailing_overflow()
            try:
                self.sink.close()
            except Exception as exc:
                log.error("closing the sink failed: %s", exc)
                self._fail(exc)
        else:
            self._errors.append("sink left open: the writer is still busy")

    def _write_leftovers(self) -> None:
        """Chunks still queued when the writer stopped early (a reader that did not finish in
        time aborts the writer) are measured data: write them here, or count them as lost."""
        for _ in range(self._queue.maxsize + 1):  # the reader may have put one more meanwhile
            try:
                chunk = self._queue.get_nowait()
            except queue.Empty:
                return
            if self._failure is None:
                try:
                    self._consume(chunk)
                    continue
                except Exception as exc:
                    log.error("recording the stream failed: %s", exc)
                    self._fail(exc)
            self._add_drop(chunk.first_sample_id, chunk.stop_sample_id, "host_overflow",
                           self._prev_chunk, chunk)  # fmt: skip

    def _account_trailing_overflow(self) -> None:
        """Overflowed chunks after the last chunk written never showed up as an id gap."""
        stop = self._next_id
        for a, b in sorted(self._overflow):
            if stop is None or a >= stop:
                start = a if stop is None else stop
                self._add_drop(start, b, "host_overflow", self._prev_chunk, None)
                stop = b
        self._next_id = stop  # the result spans every id the meter delivered

    def _build_result(self) -> AcquisitionResult:
        reasons = list(self._errors)
        dropped = tuple(sorted(self._dropped, key=lambda d: d.start_id))
        if dropped:
            n = sum(d.count for d in dropped)
            reasons.append(f"{n} samples missing in {len(dropped)} range(s)")
        if self._overflow:
            reasons.append(f"{len(self._overflow)} chunk(s) lost to host queue overflow")
        if self._interrupted:
            reasons.append(self._interrupted)
        rate = self.settings.sample_rate_hz if self.settings else self.request.sample_rate_hz
        path = getattr(self.sink, "path", None)
        return AcquisitionResult(
            path=Path(path) if path is not None else None,
            sample_rate_hz=rate,
            first_sample_id=self._first_id,
            stop_sample_id=self._next_id,
            samples=self._samples,
            dropped=dropped,
            overflow_chunks=len(self._overflow),
            edges=self.edges_seen,
            error=None if self._failure is None else str(self._failure),
            reasons=tuple(reasons),
        )


def acquire_for(
    meter: StreamingMeter,
    sink: ChunkSink,
    request: StreamRequest,
    duration_s: float,
    *,
    timeout_s: float,
    **options,
) -> AcquisitionResult:
    """Record ``duration_s`` of samples (by sample count, not wall time), then stop."""
    acq = StreamAcquisition(meter, sink, request, **options)
    deadline = time.monotonic() + timeout_s
    with acq:
        acq.wait_for(lambda: acq.next_sample_id is not None, timeout_s, "the first chunk")
        rate = acq.settings.sample_rate_hz  # type: ignore[union-attr]
        target = int(acq.first_sample_id) + round(duration_s * rate)  # type: ignore[arg-type]
        acq.wait_for_sample_id(target, max(0.0, deadline - time.monotonic()))
    return acq.stop()
