"""Transports: VISA, serial, TCP socket and scripted (tests); bytes in, bytes out.

:func:`open_transport` picks one from a resource string:
- ``TCPIP::…``, ``GPIB…``, ``USB…::INSTR``, ``ASRL…::INSTR`` → VISA (pyvisa-py by default);
- ``tcp://host:port`` → raw TCP socket;
- anything else (``/dev/ttyACM0``, ``COM5``, a pseudo-terminal path, or a pyserial URL such as
  ``rfc2217://host:port`` / ``socket://host:port`` for a port served on another host, e.g. by
  ser2net) → serial port.
"""

from __future__ import annotations

import re

from energybench.errors import ConfigError
from energybench.transport.base import BaseTransport, Transport
from energybench.transport.interrupts import StopSignals, deferred_interrupt, stop_signals

__all__ = [
    "BaseTransport",
    "StopSignals",
    "Transport",
    "deferred_interrupt",
    "open_transport",
    "stop_signals",
]

_VISA_PREFIX = re.compile(r"^(TCPIP\d*|GPIB\d*|USB\d*|ASRL\S*::INSTR|VXI\d*|PXI\d*)", re.I)
_TCP_URL = re.compile(r"^tcp://(?P<host>[^:/]+):(?P<port>\d+)/?$")


def open_transport(
    resource: str, *, baud_rate: int = 115200, visa_backend: str = "@py", **kwargs
) -> BaseTransport:
    """Open the transport a resource string names (see the module docstring)."""
    if not resource:
        raise ConfigError("empty resource string", context="resource")
    if _VISA_PREFIX.match(resource):
        from energybench.transport.visa import VisaTransport

        return VisaTransport(resource, backend=visa_backend, **kwargs)
    url = _TCP_URL.match(resource)
    if url:
        from energybench.transport.socket_tcp import SocketTransport

        return SocketTransport(url["host"], int(url["port"]), **kwargs)
    from energybench.transport.serial_port import SerialTransport

    return SerialTransport(resource, baud_rate, **kwargs)
