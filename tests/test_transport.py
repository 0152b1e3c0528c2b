"""Transports against real peers: a SCPI socket server through pyvisa-py, raw TCP, pty serial,
and the scripted transport's bookkeeping."""

from __future__ import annotations

import os
import time
import tty

import numpy as np
import pytest
import serial

from energybench.errors import InstrumentError, InstrumentTimeoutError, TransportError
from energybench.sim.wire.scpi_server import ScpiError, ScpiInstrument, ScpiServer, binary_block
from energybench.transport import open_transport
from energybench.transport.base import BufferedTransport
from energybench.transport.scripted import ScriptedTransport

# Values whose float32 encodings contain 0x0A (newline) bytes inside the payload.
TRICKY = np.array([1.0, 2.5e-3, np.float32(np.frombuffer(b"\x0a\x0a\x0a\x3f", "<f4")[0]), -7.0])


class _Toy(ScpiInstrument):
    identity = "Acme,Toy,SN1,1.0"

    def __init__(self) -> None:
        super().__init__()
        self.volt = 0.0
        self.command("[SOURce]:VOLTage[:LEVel]", self._set_volt)
        self.command("[SOURce]:VOLTage[:LEVel]?", lambda r: f"{self.volt:.6g}")
        self.command("FETCh:ARRay:CURRent?", lambda r: binary_block(TRICKY, "f4", big_endian=True))
        self.command("FETCh:ARRay:LITTle?", lambda r: binary_block(TRICKY, "f8", big_endian=False))
        self.command(
            "FETCh:INDefinite?",
            lambda r: binary_block(TRICKY, "f4", big_endian=False, definite=False),
        )

    def _set_volt(self, request) -> None:
        self.volt = request.float_arg(0, 0.0, 20.0)


@pytest.fixture
def toy():
    with ScpiServer(_Toy()) as server:
        yield server


@pytest.mark.parametrize("kind", ["visa", "socket"])
def test_queries_blocks_and_error_queue(toy, kind) -> None:
    resource = toy.resource if kind == "visa" else f"tcp://127.0.0.1:{toy.port}"
    with open_transport(resource, timeout_s=2.0) as t:
        assert t.query("*IDN?") == "Acme,Toy,SN1,1.0"
        t.write("SOUR:VOLT 1.8")
        assert t.query("VOLTage?") == "1.8"
        assert t.query("VOLT 1.2;:VOLT?") == "1.2"
        t.write("VOLT 99")
        t.write("BOGUS:CMD 1")
        assert t.query("SYST:ERR?") == '-222,"Data out of range"'
        assert t.query("SYSTem:ERRor:NEXT?") == '-113,"Undefined header"'
        assert t.query("SYST:ERR?") == '0,"No error"'
        big = t.query_block("FETC:ARR:CURR?", "f4", big_endian=True)
        np.testing.assert_array_equal(big, TRICKY.astype(np.float32))
        little = t.query_block("FETC:ARR:LITT?", "f8", big_endian=False)
        np.testing.assert_array_equal(little, TRICKY)
        indefinite = t.query_block("FETC:IND?", "f4", big_endian=False, count=len(TRICKY))
        np.testing.assert_array_equal(indefinite, TRICKY.astype(np.float32))
        with pytest.raises(InstrumentError, match="needs the value count"):
            t.query_block("FETC:IND?", "f4", big_endian=False)


def test_read_timeout_raises_and_never_returns_partial(toy) -> None:
    toy.instrument.faults.withhold_replies = 1
    with open_transport(toy.resource, timeout_s=0.3) as t:
        with pytest.raises(InstrumentTimeoutError, match="no complete"):
            t.query("*IDN?")
        assert isinstance(InstrumentTimeoutError("x"), TimeoutError)


def test_closed_connection_is_a_transport_error(toy) -> None:
    toy.instrument.faults.close_on = "INIT"
    with open_transport(f"tcp://127.0.0.1:{toy.port}", timeout_s=1.0) as t:
        t.write("INIT")
        with pytest.raises(TransportError):
            t.query("*IDN?")


def test_unreachable_resource_names_it() -> None:
    with pytest.raises(TransportError, match=r"tcp://127\.0\.0\.1:1"):
        open_transport("tcp://127.0.0.1:1", timeout_s=0.5)


def test_serial_transport_over_a_pseudo_terminal() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with open_transport(
            os.ttyname(slave), baud_rate=115200, timeout_s=0.5, read_termination="\r\n"
        ) as t:
            os.write(master, b"m-ready\r\npartial")
            assert t.read_line() == "m-ready"
            with pytest.raises(InstrumentTimeoutError):
                t.read_line()
            t.write("name%")
            assert os.read(master, 100) == b"name%\n"
    finally:
        os.close(master)
        os.close(slave)


class _CountingSerial(serial.Serial):
    """A real pyserial port that records every assignment to ``timeout``."""

    def __init__(self, *args, **kwargs) -> None:
        self.timeouts_set: list[float] = []
        super().__init__(*args, **kwargs)

    @property
    def timeout(self):
        return super().timeout

    @timeout.setter
    def timeout(self, value) -> None:
        self.timeouts_set.append(value)
        super(_CountingSerial, type(self)).timeout.fset(self, value)


def test_serial_read_timeout_is_set_only_when_it_changes(monkeypatch) -> None:
    monkeypatch.setattr(serial, "Serial", _CountingSerial)
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with open_transport(os.ttyname(slave), timeout_s=5.0, read_termination="\r\n") as t:
            port = t._port
            assert isinstance(port, _CountingSerial) and port.timeouts_set == [0]
            for k in range(5):
                os.write(master, f"line {k}\r\n".encode())
                assert t.read_line() == f"line {k}"
            assert port.timeouts_set == [0, 0.25]  # reads poll in slices of at most 0.25 s
            began = time.monotonic()
            with pytest.raises(InstrumentTimeoutError):
                t.read_line(timeout_s=0.1)
            assert time.monotonic() - began >= 0.1
            assert 0 < port.timeouts_set[2] <= 0.1  # the shorter timeout was applied
            assert port.timeout == port.timeouts_set[-1]
            os.write(master, b"after\r\n")
            assert t.read_line() == "after"
            assert port.timeouts_set[-1] == 0.25
    finally:
        os.close(master)
        os.close(slave)


def test_scripted_transport_checks_every_exchange() -> None:
    t = ScriptedTransport(
        [
            ("*IDN?", "A,B,C,D"),
            ("OUTP ON", None),
            ("FETC?", binary_block(TRICKY, "f4", big_endian=True) + b"\n"),
        ]
    )
    assert t.query("*IDN?") == "A,B,C,D"
    t.write("OUTP ON")
    with pytest.raises(AssertionError, match="1 scripted exchanges unused"):
        t.assert_done()
    np.testing.assert_array_equal(
        t.query_block("FETC?", "f4", big_endian=True), TRICKY.astype(np.float32)
    )
    t.assert_done()
    with pytest.raises(TransportError, match="script is exhausted"):
        t.write("EXTRA")
    t2 = ScriptedTransport([("A", None)])
    with pytest.raises(TransportError, match="expects 'A'"):
        t2.write("B")
    with pytest.raises(InstrumentTimeoutError):
        ScriptedTransport([]).read_line()


def test_scpi_error_class_carries_code() -> None:
    assert ScpiError(-113, "Undefined header").code == -113


class _Flood(BufferedTransport):
    """A peer that never stops sending: every receive returns more bytes."""

    def _recv_some(self, timeout_s: float) -> bytes:
        return b"x" * 4096


def test_clear_gives_up_on_a_peer_that_never_stops_sending(caplog) -> None:
    t = _Flood("flood")
    t.clear()  # returns (after CLEAR_LIMIT_S) instead of discarding forever
    assert "input still arriving" in caplog.text


@pytest.mark.parametrize("previous", ["python", "default"])
def test_ctrl_c_during_a_query_is_held_then_delivered(previous) -> None:
    """Ctrl-C arriving mid write/read pair waits for the pair, then is raised — also when the
    handler in place before was the OS default (it must never be swallowed)."""
    import signal

    from energybench.transport.interrupts import deferred_interrupt

    old = signal.getsignal(signal.SIGINT)
    if previous == "default":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    finished = False
    try:
        with pytest.raises(KeyboardInterrupt), deferred_interrupt():
            signal.raise_signal(signal.SIGINT)
            finished = True
        assert finished
    finally:
        signal.signal(signal.SIGINT, old)
