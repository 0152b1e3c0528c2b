"""The Otii TCP JSON protocol, spoken directly over a line transport
(docs/instruments/otii.md#protocol).

One JSON object per message, ``\\r\\n`` terminated. Requests are serialised deterministically
(sorted keys, compact separators) with sequential string ``trans_id``s, so scripted tests can
name exact lines. Replies are matched by ``trans_id`` within a bounded wait; ``information`` and
``progress`` messages, and stale replies to earlier (timed-out) requests, are logged and skipped;
an ``error`` reply raises :class:`InstrumentError` naming the command and its ``errorcode``.

Also here: :class:`DigitalLine`, which turns the Otii's GPI transitions (exact timestamps) into
a digital line sampled on the current's sample grid.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time

import numpy as np

from energybench.errors import InstrumentError, InstrumentTimeoutError
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

EPS = 1e-6  # of a sample: times this close to a sample instant belong to it


def encode(message: dict) -> str:
    """Deterministic JSON text of one message (sorted keys, compact)."""
    return json.dumps(message, sort_keys=True, separators=(",", ":"), allow_nan=False)


class OtiiJsonClient:
    """Request/response over one transport; thread-safe (one transaction at a time)."""

    def __init__(self, transport: BaseTransport, *, timeout_s: float = 5.0) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    @property
    def resource(self) -> str:
        return self.transport.resource

    def request(self, cmd: str, data: dict | None = None, timeout_s: float | None = None) -> dict:
        """Send ``cmd`` and return the reply's ``data`` ({} when it has none)."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            trans_id = str(next(self._ids))
            message: dict = {"cmd": cmd, "trans_id": trans_id, "type": "request"}
            if data is not None:
                message["data"] = data
            self.transport.write(encode(message))
            deadline = time.monotonic() + timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise InstrumentTimeoutError(
                        f"no reply to {cmd} (trans_id {trans_id}) within {timeout_s} s",
                        context=self.resource,
                        cmd=cmd,
                    )
                try:
                    reply = self._read(remaining, cmd)
                except InstrumentTimeoutError as exc:
                    raise InstrumentTimeoutError(
                        f"no reply to {cmd} (trans_id {trans_id}) within {timeout_s} s",
                        context=self.resource,
                        cmd=cmd,
                    ) from exc
                kind = reply.get("type")
                if kind in ("information", "progress"):
                    log.debug("%s: %s message skipped: %s", self.resource, kind, reply)
                    continue
                if str(reply.get("trans_id")) != trans_id:
                    log.warning("%s: skipped a reply for trans_id %r while waiting for %s (%s)",
                                self.resource, reply.get("trans_id"), trans_id, cmd)  # fmt: skip
                    continue
                if kind == "error":
                    code = reply.get("errorcode", "unknown error")
                    raise InstrumentError(
                        f"Otii refused {cmd}: {code} {reply.get('data') or ''}".rstrip(),
                        context=self.resource,
                        cmd=cmd,
                        errorcode=code,
                    )
                if kind != "response":
                    raise InstrumentError(
                        f"unexpected reply type {kind!r} to {cmd}", context=self.resource
                    )
                data_out = reply.get("data") or {}
                if not isinstance(data_out, dict):
                    raise InstrumentError(f"reply data to {cmd} is not an object",
                                          context=self.resource)  # fmt: skip
                return data_out

    def _read(self, timeout_s: float, cmd: str) -> dict:
        line = self.transport.read_line(timeout_s)
        try:
            reply = json.loads(line)
        except ValueError as exc:
            raise InstrumentError(
                f"malformed JSON while waiting for {cmd}: {line[:200]!r}", context=self.resource
            ) from exc
        if not isinstance(reply, dict):
            raise InstrumentError(f"non-object message {line[:200]!r}", context=self.resource)
        return reply


def transition_id(timestamp_s: float, sample_rate_hz: float) -> int:
    """The first sample (bin start) at or after a transition."""
    return math.ceil(timestamp_s * sample_rate_hz - EPS)


class DigitalLine:
    """GPI states from timestamped transitions, rendered at sample ids on the current's grid.

    Sample ``k`` holds the level at its bin start ``k / fs``. A transition lands on the first
    sample at or after it; a transition that would share a sample with the previous one is
    pushed to the next sample, so a pulse shorter than a sample (the MLPerf 10 µs timestamp
    pulse at 4 kS/s) still shows, and the first edge of a burst keeps its exact sample.
    """

    def __init__(self, name: str, sample_rate_hz: float) -> None:
        self.name = name
        self.fs = sample_rate_hz
        self.initial: bool | None = None
        self.level: bool | None = None  # level at the next sample to render
        self.pending: list[tuple[int, bool]] = []  # (sample id, level from that id on)
        self.transitions: list[tuple[float, bool]] = []  # exact (timestamp_s, level)
        self.pushed = 0
        self._last_id: int | None = None
        self._rendered_to: int | None = None

    def add(self, values: list[dict]) -> None:
        for entry in values:
            t, level = float(entry["timestamp"]), bool(entry["value"])
            if self.initial is None and t <= EPS / self.fs:
                self.initial = self.level = level  # the state at the recording start
                continue
            last = self.pending[-1][1] if self.pending else self.level
            if last is None:
                last = not level  # no initial state given: this entry is a change
                self.initial = self.level = last
            if level == last:
                continue
            self.transitions.append((t, level))
            k = transition_id(t, self.fs)
            if self._rendered_to is not None and k < self._rendered_to:
                raise InstrumentError(
                    f"{self.name} transition at {t:.9g} s arrived after its samples were "
                    "delivered; raise digital_lag_s",
                    context=self.name,
                )
            if self._last_id is not None and k <= self._last_id:
                k = self._last_id + 1
                self.pushed += 1
            self._last_id = k
            self.pending.append((k, level))

    def render(self, first_id: int, n: int) -> np.ndarray:
        if self.level is None:
            raise InstrumentError(f"no state of {self.name} known yet", context=self.name)
        bits = np.full(n, self.level, dtype=bool)
        stop = first_id + n
        while self.pending and self.pending[0][0] < stop:
            k, level = self.pending.pop(0)
            bits[max(k - first_id, 0) :] = level
            self.level = level
        self._rendered_to = stop
        return bits

    def edges_s(self, polarity: str = "falling") -> list[float]:
        """Exact timestamps of the recorded transitions of one polarity (or "both")."""
        want = {"falling": (False,), "rising": (True,), "both": (False, True)}[polarity]
        return [t for t, level in self.transitions if level in want]
