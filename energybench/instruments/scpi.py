"""Shared behaviour of SCPI drivers: configuration batches with error-queue draining, identity,
and shutdown steps that never raise. Set-points are checked by :mod:`supply_limits`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

from energybench.errors import InstrumentError
from energybench.instruments.capabilities import InstrumentInfo
from energybench.instruments.shutdown import ShutdownReport, run_shutdown_steps
from energybench.instruments.supply_limits import SafetyLimits
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)

MAX_ERROR_READS = 20


def is_no_error(reply: str) -> bool:
    """``0,"No error"`` / ``+0,"No error"`` / ``0`` (2600B TSP prints just the code)."""
    code = reply.strip().split(",", 1)[0].strip().strip('"')
    try:
        return float(code) == 0
    except ValueError:
        return False


class ScpiDriver:
    """Base of SCPI drivers: the transport comes in, configuration goes out in checked batches."""

    error_query = "SYST:ERR?"
    transport_options = (("timeout_s", float), ("visa_backend", str))  # open() passes them on

    def __init__(self, transport: BaseTransport, limits: SafetyLimits | None = None) -> None:
        self.transport = transport
        self.limits = limits
        self.info: InstrumentInfo | None = None

    @property
    def resource(self) -> str:
        return self.transport.resource

    def identify(self) -> InstrumentInfo:
        self.info = InstrumentInfo.from_idn(self.transport.query("*IDN?"), self.resource)
        return self.info

    def read_errors(self) -> list[str]:
        """Drain the instrument's error queue (bounded number of reads)."""
        entries = []
        for _ in range(MAX_ERROR_READS):
            reply = self.transport.query(self.error_query)
            if is_no_error(reply):
                return entries
            entries.append(reply)
        entries.append(f"(error queue not empty after {MAX_ERROR_READS} reads)")
        return entries

    def send_batch(self, commands: Iterable[str]) -> None:
        """Write a configuration batch, then raise one InstrumentError with every queued error."""
        sent = list(commands)
        for command in sent:
            self.transport.write(command)
        errors = self.read_errors()
        if errors:
            raise InstrumentError(
                f"instrument reported {len(errors)} error(s): {'; '.join(errors)}; "
                f"commands sent: {'; '.join(sent)}",
                context=self.resource,
                errors=errors,
                commands=sent,
            )

    def log_errors(self) -> None:
        """Drain the error queue into the log (a shutdown step: nothing is raised from it)."""
        for entry in self.read_errors():
            log.warning("%s: error queue at shutdown: %s", self.resource, entry)

    def run_shutdown_steps(
        self, steps: Iterable[tuple[str, Callable[[], object]]], *, output: Iterable[str] = ()
    ) -> ShutdownReport:
        """:func:`run_shutdown_steps` for this instrument."""
        return run_shutdown_steps(self.resource, steps, output=output)

    @classmethod
    def open(cls, resource: str, limits: SafetyLimits | None = None, **kwargs):
        """Open ``resource`` (VISA string or tcp://host:port) and wrap it; ``timeout_s`` and
        ``visa_backend`` go to the transport, which is closed again if the driver refuses."""
        from energybench.transport import open_transport

        transport_kw = {k: kwargs.pop(k) for k in ("timeout_s", "visa_backend") if k in kwargs}
        transport = open_transport(resource, **transport_kw)
        try:
            return cls(transport, limits, **kwargs)
        except BaseException:  # a refused option must not leak the connection
            transport.close()
            raise

    def safe_shutdown(self) -> ShutdownReport:
        """Output off and release; drivers that source override this. Never raises."""
        return self.run_shutdown_steps([("close", self.close)])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.safe_shutdown()
        self.close()
