"""VISA transport (pyvisa): pyvisa-py by default, NI-VISA or another backend when asked."""

from __future__ import annotations

import logging
import time

from energybench.errors import BenchBusyError, InstrumentTimeoutError, TransportError
from energybench.transport.base import BaseTransport

log = logging.getLogger(__name__)


def _visa_errors():
    import pyvisa

    return pyvisa.errors.VisaIOError, pyvisa.constants.StatusCode.error_timeout


class VisaTransport(BaseTransport):
    """A message-based VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.

    ``backend`` is passed to ``pyvisa.ResourceManager``: ``"@py"`` (pyvisa-py, the default) or
    ``""`` for the system VISA library (NI-VISA, Keysight IO Libraries).
    """

    def __init__(self, resource: str, *, backend: str = "@py", **kwargs) -> None:
        super().__init__(resource, **kwargs)
        import pyvisa

        visa_io_error, _ = _visa_errors()
        try:
            self._rm = pyvisa.ResourceManager(backend)
            self._res = self._rm.open_resource(
                resource,
                read_termination=self.read_termination,
                write_termination=self.write_termination,
                timeout=self._ms(self.timeout_s),
                open_timeout=self._ms(self.timeout_s),
            )
        except (visa_io_error, OSError, ValueError) as exc:
            raise TransportError(f"cannot open VISA resource: {exc}", context=resource) from exc
        self.locked = self._lock_exclusive()

    def _lock_exclusive(self) -> bool:
        """The VISA exclusive lock, where the resource and backend have one (VXI-11 TCPIP
        INSTR with pyvisa-py; most with NI-VISA). pyvisa-py has none for TCPIP SOCKET, serial
        or USB sessions: the bench lock (runner) then keeps a second energybench away."""
        if self.resource.upper().endswith("::SOCKET"):
            return False
        from pyvisa.constants import StatusCode

        visa_io_error, _ = _visa_errors()
        try:
            self._res.lock_excl(timeout=self._ms(self.timeout_s))
        except visa_io_error as exc:
            if exc.error_code == StatusCode.error_nonsupported_operation:
                log.debug("%s: no VISA exclusive lock with this backend", self.resource)
                return False
            self.close()
            if exc.error_code in (StatusCode.error_resource_locked, StatusCode.error_timeout):
                raise BenchBusyError(
                    "in use: another VISA session holds its exclusive lock", context=self.resource
                ) from exc
            raise TransportError(f"exclusive lock failed: {exc}", context=self.resource) from exc
        except (NotImplementedError, AttributeError):
            return False
        return True

    @staticmethod
    def _ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    def _call(self, what: str, deadline: float, fn):
        visa_io_error, timeout_code = _visa_errors()
        self._res.timeout = self._ms(max(0.001, deadline - time.monotonic()))
        try:
            return fn()
        except visa_io_error as exc:
            if exc.error_code == timeout_code:
                raise InstrumentTimeoutError(
                    f"no complete {what} before the deadline", context=self.resource
                ) from exc
            raise TransportError(f"{what} failed: {exc}", context=self.resource) from exc
        except OSError as exc:
            raise TransportError(f"{what} failed: {exc}", context=self.resource) from exc

    def _send(self, data: bytes) -> None:
        self._call("write", time.monotonic() + self.timeout_s, lambda: self._res.write_raw(data))

    def _read_until(self, terminator: bytes, deadline: float) -> bytes:
        if terminator != self.read_termination.encode(self.encoding):
            raise TransportError(
                "VISA reads end only at the read termination", context=self.resource
            )
        return self._call("reply", deadline, self._res.read_raw)

    def _read_exact(self, count: int, deadline: float) -> bytes:
        if count == 0:
            return b""
        return self._call(f"{count}-byte read", deadline, lambda: self._read_bytes_raw(count))

    def _read_bytes_raw(self, count: int) -> bytes:
        """Exactly ``count`` bytes with the termination character disabled: otherwise every
        0x0A inside a binary payload ends one low-level read (pyvisa-py), which makes a
        megabyte block take millions of reads."""
        from pyvisa.constants import VI_ATTR_TERMCHAR_EN

        enabled = self._res.get_visa_attribute(VI_ATTR_TERMCHAR_EN)
        self._res.set_visa_attribute(VI_ATTR_TERMCHAR_EN, False)
        try:
            return self._res.read_bytes(count, break_on_termchar=False)
        finally:
            self._res.set_visa_attribute(VI_ATTR_TERMCHAR_EN, enabled)

    def clear(self) -> None:
        if self.resource.upper().endswith("::SOCKET"):
            self._drain_socket()
            return
        try:
            self._res.clear()
        except Exception as exc:  # a backend without device clear: the caller must know
            raise TransportError(f"clear failed: {exc}", context=self.resource) from exc

    def _drain_socket(self, budget_s: float = 1.0) -> None:
        """Discard pending input of a raw socket, bounded in time. pyvisa-py's own clear()
        loops forever once the peer has closed the connection (recv keeps returning b"")."""
        visa_io_error, _ = _visa_errors()
        deadline = time.monotonic() + budget_s
        saved = self._res.timeout
        self._res.timeout = 10
        try:
            while time.monotonic() < deadline:
                self._res.read_raw()
        except (visa_io_error, OSError):
            pass  # nothing more within 10 ms (or the connection is gone)
        finally:
            self._res.timeout = saved

    def close(self) -> None:
        for closer in (getattr(self, "_res", None), getattr(self, "_rm", None)):
            try:
                if closer is not None:
                    closer.close()
            except Exception:  # closing must not raise
                pass
