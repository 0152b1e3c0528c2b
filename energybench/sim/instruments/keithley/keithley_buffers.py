"""``:TRACe`` buffer and ``:FORMat`` commands of the simulated 2450/2460/2461: buffers with
capacities, ``:TRAC:DATA?`` with READ/SOUR/REL/SEC/FRAC elements in ASCII or as ``#0`` blocks
(REAL = float64, SREal = float32; only READ, REL and SOUR allowed in binary, error 1133)."""

from __future__ import annotations

import numpy as np

from energybench.sim.instruments.keithley.keithley_common import SimBuffer
from energybench.sim.wire.scpi_server import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    Request,
    ScpiError,
    binary_block,
)

DEFAULT_BUFFERS = ("defbuffer1", "defbuffer2")


def unquote(text: str) -> str:
    return text.strip().strip('"').strip("'")


class BufferCommands:
    """Mixin for a :class:`ScpiInstrument` with ``buffers``, ``buffer()``, ``trigger``,
    ``max_buffer_points``, ``answers_points_max`` and the
    ``data_format``/``big_endian``/``ascii_precision`` settings."""

    def register_buffer_commands(self) -> None:
        c = self.command
        c("TRACe:MAKE", self._trace_make)
        c("TRACe:DELete", self._trace_delete)
        c("TRACe:POINts", self._trace_points)
        c("TRACe:POINts?", self._trace_points_query)
        c("TRACe:CLEar", lambda r: self.buffer(self._buf_arg(r, 0)).clear())
        c("TRACe:ACTual?", self._trace_actual)
        c("TRACe:DATA?", self._trace_data)
        c("FORMat[:DATA]", self._format)
        c("FORMat[:DATA]?", lambda r: self.data_format)
        c("FORMat:ASCii:PRECision", self._precision)
        self.register_byte_order()

    def _buf_arg(self, r: Request, index: int) -> str:
        return unquote(r.args[index]) if len(r.args) > index else "defbuffer1"

    def _trace_points_query(self, r: Request) -> str:
        if self.answers_points_max and r.args and r.args[0].upper() in ("MAX", "MAXIMUM"):
            return str(self.max_buffer_points)
        return str(self.buffer(self._buf_arg(r, 0)).capacity)  # MAX: "Buffer MAX does not exist"

    def _trace_make(self, r: Request) -> None:
        name, size = unquote(r.arg(0)), int(r.float_arg(1, 10, self.max_buffer_points))
        if name in self.buffers:
            raise ScpiError(ILLEGAL_PARAMETER, "Buffer name already exists")
        self.buffers[name] = SimBuffer(name, size)

    def _trace_delete(self, r: Request) -> None:
        name = unquote(r.arg(0))
        if name in DEFAULT_BUFFERS or name not in self.buffers:
            raise ScpiError(ILLEGAL_PARAMETER, "Buffer cannot be deleted")
        del self.buffers[name]

    def _trace_points(self, r: Request) -> None:
        buf = self.buffer(self._buf_arg(r, 1))
        buf.capacity = int(r.float_arg(0, 10, self.max_buffer_points))
        buf.clear()

    def _trace_actual(self, r: Request) -> str:
        self.trigger.step()
        return str(self.buffer(self._buf_arg(r, 0)).count)

    def _trace_data(self, r: Request) -> str | bytes:
        self.trigger.step()
        start, end = int(r.float_arg(0)), int(r.float_arg(1))
        buf = self.buffer(self._buf_arg(r, 2))
        elements = [e.upper() for e in r.args[3:]] or ["READ"]
        if not 1 <= start <= end <= buf.count:
            raise ScpiError(DATA_OUT_OF_RANGE, "Buffer index out of range")
        current, source, times = buf.columns()
        rows = slice(start - 1, end)  # only the rows asked for: a driver reads in chunks
        rel = times[rows] - times[0]
        current, source, times = current[rows], source[rows], times[rows]
        columns = []
        for element in elements:
            key = element[:4]
            if self.data_format != "ASC" and key not in ("READ", "REL", "RELA", "SOUR"):
                raise ScpiError(1133, "Element not allowed with a binary format")
            if key == "READ":
                columns.append(current)
            elif key in ("REL", "RELA"):
                columns.append(rel)
            elif key == "SOUR":
                columns.append(source)
            elif key == "SEC":
                columns.append(np.floor(times))
            elif key == "FRAC":
                columns.append(times - np.floor(times))
            else:
                raise ScpiError(ILLEGAL_PARAMETER, f"Unsupported buffer element {element}")
        table = np.column_stack(columns).ravel()
        if self.data_format == "ASC":
            digits = self.ascii_precision or 12
            return ",".join(f"{v:.{digits}e}" for v in table)
        dtype = "f8" if self.data_format == "REAL" else "f4"
        return binary_block(table, dtype, big_endian=self.big_endian, definite=False)

    def _format(self, r: Request) -> None:
        value = r.arg().upper()
        forms = {"ASC": "ASC", "ASCII": "ASC", "REAL": "REAL", "SRE": "SRE", "SREAL": "SRE"}
        if value not in forms:
            raise ScpiError(ILLEGAL_PARAMETER, "Illegal format")
        self.data_format = forms[value]

    def _precision(self, r: Request) -> None:
        self.ascii_precision = int(r.float_arg(0, 0, 16))
