"""The DUT client's strict parsing, over scripted exchanges (the simulated DUT and the POSIX
firmware exercise it over pseudo-terminals in their own tests)."""

from __future__ import annotations

import pytest

from energybench.dut.client import DutClient, InferResult, parse_results
from energybench.dut.link import DirectLink, InterfaceBoardLink
from energybench.errors import DutError, DutTimeoutError
from energybench.transport.scripted import ScriptedTransport


def _lines(*lines: str) -> bytes:
    return "".join(f"{x}\r\n" for x in lines).encode()


def _client(script, board: bool = False) -> tuple[DutClient, ScriptedTransport]:
    t = ScriptedTransport(script, resource="dut", timeout_s=0.5)
    link = InterfaceBoardLink(t) if board else DirectLink(t)
    return DutClient(link, timeout_s=0.5), t


def test_identify_and_mode_probe() -> None:
    c, t = _client(
        [
            ("name%", _lines("m-name-dut-[unspecified]", "m-ready")),
            (
                "profile%",
                _lines(
                    "m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[kws01]", "m-ready"
                ),
            ),
            ("timestamp%", _lines("m-ready")),
        ]
    )
    ident = c.identify()
    assert (ident.name, ident.model) == ("unspecified", "kws01")
    assert c.probe_mode() == "energy"
    with pytest.raises(DutError, match="energy-mode build; this run needs performance"):
        c.require_mode("performance")
    t.assert_done()


def test_load_checks_every_reply_and_verifies() -> None:
    data = bytes(range(40))
    c, t = _client(
        [
            ("db load 40%", _lines("m-[Expecting 40 bytes]", "m-ready")),
            ("db " + data[:38].hex() + "%", _lines("m-ready")),
            ("db " + data[38:].hex() + "%", _lines("m-load-done", "m-ready")),
            (
                "db print%",
                _lines(
                    "m-buffer-" + "-".join(f"{b:02x}" for b in data[:8]),
                    *[
                        "m-buffer-" + "-".join(f"{b:02x}" for b in data[i : i + 8])
                        for i in range(8, 40, 8)
                    ],
                    "m-ready",
                ),
            ),
        ]
    )
    c.load(data, verify=True)
    t.assert_done()
    assert DutClient.max_chunk_bytes() == 38


def test_load_without_load_done_and_oversize_errors() -> None:
    c, _ = _client(
        [
            ("db load 2%", _lines("m-[Expecting 2 bytes]", "m-ready")),
            ("db 0102%", _lines("m-ready")),
        ]
    )
    with pytest.raises(DutError, match="no m-load-done"):
        c.load(b"\x01\x02")
    c, _ = _client(
        [
            (
                "db load 99999%",
                _lines(
                    "Supplied buffer size 99999 exceeds maximum of 490",
                    "m-[Expecting 99999 bytes]",
                    "m-ready",
                ),
            ),
        ]
    )
    with pytest.raises(DutError, match="Supplied buffer size"):
        c.load(bytes(99999))


def test_infer_performance_with_counter_wrap() -> None:
    c, t = _client(
        [
            (
                "infer 20 5%",
                _lines(
                    "m-warmup-start-5",
                    "m-warmup-done",
                    "m-infer-start-20",
                    "m-lap-us-4294967000",
                    "m-lap-us-1704",
                    "m-infer-done",
                    "m-results-[0.121,0.879,]",
                    "m-ready",
                ),
            ),
        ]
    )
    c.mode = "performance"
    result = c.infer(20, 5, timeout_s=1.0)
    assert isinstance(result, InferResult)
    assert result.dut_elapsed_s == pytest.approx((2**32 - 4294967000 + 1704) / 1e6)
    assert result.results == (0.121, 0.879)
    t.assert_done()


def test_error_lines_and_timeouts() -> None:
    c, _ = _client([("infer 0 0%", _lines("e-[Inference iterations must be >0]", "m-ready"))])
    with pytest.raises(DutError, match="Inference iterations must be >0"):
        c.command("infer 0 0")
    c, _ = _client([("results%", None)])
    with pytest.raises(DutTimeoutError, match="no complete reply to 'results'"):
        c.results()
    with pytest.raises(DutError, match="at most 80"):
        c.command("db " + "00" * 40)


def test_interface_board_relay() -> None:
    c, _ = _client(
        [
            (
                "dut profile%",
                _lines(
                    "m-dut-passthrough(profile)",
                    "m-ready",
                    "[dut]: m-profile-[ULPMark for tinyML Firmware V0.0.1]",
                    "[dut]: m-model-[kws01]",
                    "[dut]: m-ready",
                ),
            ),
            ("dut name%", _lines("m-ready")),
        ],
        board=True,
    )
    assert "m-model-[kws01]" in c.command("profile")
    with pytest.raises(DutError, match="did not acknowledge"):
        c.command("name")


def test_parse_results_formats() -> None:
    assert parse_results("m-results-[12.345]") == (12.345,)
    with pytest.raises(DutError):
        parse_results("m-results-[a,b]")
