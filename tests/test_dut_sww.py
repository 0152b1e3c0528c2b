"""The sww01 DUT client and the interface board's stream commands, over scripted exchanges of
the literal transcripts of docs/dut-protocol.md#sww-dut-commands,
docs/interface-board.md#passthrough and #streaming-wakeword."""

from __future__ import annotations

import pytest

from energybench.dut.board import BoardClient, duty_cycle_from_ticks
from energybench.dut.link import InterfaceBoardLink
from energybench.dut.sww import SwwClient, parse_activations
from energybench.errors import DutError, DutTimeoutError
from energybench.transport.scripted import ScriptedTransport


def _lines(*lines: str) -> bytes:
    return "".join(f"{x}\r\n" for x in lines).encode()


def _relay(command: str, *dut_lines: str) -> tuple[str, bytes]:
    """``dut <cmd>%`` and the board's relay of the DUT's reply (echo first, m-ready last)."""
    relayed = [f"[dut]: {x}" for x in (f"Received command: {command}", *dut_lines, "m-ready")]
    return (f"dut {command}%", _lines(f"m-dut-passthrough({command})", "m-ready", *relayed))


def _pair(script) -> tuple[SwwClient, BoardClient, ScriptedTransport]:
    t = ScriptedTransport(script, resource="board", timeout_s=0.5)
    link = InterfaceBoardLink(t)
    return SwwClient(link, timeout_s=0.5), BoardClient(link, timeout_s=0.5), t


STOP_DUMP = (
    "Streaming stopped.",
    "target activations: ",
    "[",
    "-128, -91, -54, -17, 20, 57, 94, 127, 3, 4, 5, 6, 7, 8, 9, 10",
    "11, 12",
    "]",
)


def test_identify_through_the_relay_strips_the_echo() -> None:
    dut, _, t = _pair(
        [
            _relay("name", "m-name-dut-[ML Commons]"),
            _relay("profile", "m-profile-[MLPerf Tiny Firmware V0.1.0]", "m-model-[sww01]"),
        ]
    )
    ident = dut.identify()
    assert (ident.name, ident.profile, ident.model) == (
        "ML Commons",
        "MLPerf Tiny Firmware V0.1.0",
        "sww01",
    )
    t.assert_done()


def test_start_stop_and_the_activations_dump() -> None:
    dut, _, t = _pair(
        [
            _relay("stop", "I2S is already idle.  Ignoring stop request"),
            _relay("start", "Listening for I2S data ... ", "DMA receive initiated."),
            _relay("stop", *STOP_DUMP),
        ]
    )
    assert dut.stop().was_streaming is False
    dut.start()
    stopped = dut.stop()
    assert stopped.was_streaming
    assert stopped.activations[:8] == (-128, -91, -54, -17, 20, 57, 94, 127)
    assert len(stopped.activations) == 18
    t.assert_done()


def test_start_while_streaming_and_unknown_commands_are_errors() -> None:
    dut, _, _ = _pair([_relay("start", "I2S Rx currently in progress. Ignoring request")])
    with pytest.raises(DutError, match="already streaming") as info:
        dut.start()
    assert info.value.context == "start"
    dut, _, _ = _pair([_relay("timestamp", "Unrecognized command timestamp")])
    with pytest.raises(DutError, match="Unrecognized command"):
        dut.command("timestamp")


def test_a_reply_without_the_echo_is_not_the_sww_firmware() -> None:
    t = ScriptedTransport(
        [
            (
                "dut name%",
                _lines(
                    "m-dut-passthrough(name)",
                    "m-ready",
                    "[dut]: m-name-dut-[unspecified]",
                    "[dut]: m-ready",
                ),
            )
        ],
        resource="board",
        timeout_s=0.5,
    )
    dut = SwwClient(InterfaceBoardLink(t), timeout_s=0.5)
    with pytest.raises(DutError, match=r"Received command: name.*not the sww01 firmware"):
        dut.identify()


def test_activations_parse_strictly() -> None:
    assert parse_activations(["target activations: [1, -2,", "3]"]) == (1, -2, 3)
    assert parse_activations(["target activations: ", "[", "5 6 7", "]"]) == (5, 6, 7)
    with pytest.raises(DutError, match="not one bracketed list"):
        parse_activations(["target activations: ", "[", "1, 2"])  # truncated
    with pytest.raises(DutError, match="not an int8"):
        parse_activations(["target activations: [1, 200]"])
    with pytest.raises(DutError, match="no 'target activations:'"):
        parse_activations(["Streaming stopped."])


def test_board_commands_literal_transcripts() -> None:
    _, board, t = _pair(
        [
            ("ls%", _lines("long_wav.wav", "short_wav_easy10s.wav", "m-ready")),
            ("record_detections%", _lines("Now recording detections", "m-ready")),
            (
                "play long_wav.wav%",
                b"Attempting to play long_wav.wav\nsucceeded.\nm-ready\r\n",  # \n-only lines
            ),
            (
                "print_detections%",
                _lines("Detection Timestamps (ms)", "41,", "1250,", "4310,", "m-ready"),
            ),
        ]
    )
    board.require_files(["long_wav.wav"])
    board.record_detections()
    board.play("long_wav.wav", 1200.0)
    assert board.print_detections() == [41, 1250, 4310]
    t.assert_done()


def test_missing_wav_named_in_one_error() -> None:
    _, board, _ = _pair([("ls%", _lines("short_wav_easy10s.wav", "m-ready"))])
    with pytest.raises(DutError, match=r"long_wav\.wav not on the interface board's SD card") as e:
        board.require_files(["long_wav.wav"])
    assert e.value.context == "ls"


def test_play_failure_and_bounded_wait() -> None:
    _, board, _ = _pair(
        [
            (
                "play x.wav%",
                b"Attempting to play x.wav\nError playing file. Check that the file exists and "
                b"is a 2-channel wav file.\nm-ready\r\n",
            )
        ]
    )
    with pytest.raises(DutError, match=r"could not play x\.wav") as info:
        board.play("x.wav", 10.0)
    assert info.value.context == "play x.wav"
    _, board, _ = _pair([("play x.wav%", b"Attempting to play x.wav\n")])  # never finishes
    with pytest.raises(DutTimeoutError, match=r"play x\.wav"):
        board.play("x.wav", 0.1)
    _, board, _ = _pair([("play x.wav%", _lines("m-ready"))])
    with pytest.raises(DutError, match="succeeded"):
        board.play("x.wav", 0.1)


def test_print_detections_is_strict() -> None:
    cases = [
        (_lines("41,", "m-ready"), "Detection Timestamps"),  # header missing
        (_lines("Detection Timestamps (ms)", "41", "m-ready"), "'<ms>,' detection line"),
        (_lines("Detection Timestamps (ms)", "900,", "41,", "m-ready"), "backwards"),
    ]
    for reply, message in cases:
        _, board, _ = _pair([("print_detections%", reply)])
        with pytest.raises(DutError, match=message) as info:
            board.print_detections()
        assert info.value.context == "print_detections"
    _, board, _ = _pair([("print_detections%", _lines("Detection Timestamps (ms)"))])
    with pytest.raises(DutTimeoutError):  # no m-ready: truncated, never accepted
        board.print_detections()


def test_print_dutycycle_ticks_to_seconds() -> None:
    starts = [150 + 3200 * k for k in range(10)]
    stops = [s + 1940 for s in starts]
    rows = lambda v: ["".join(f"{x}, " for x in v[k : k + 8]) for k in range(0, len(v), 8)]  # noqa: E731
    reply = _lines(
        "Duty cycle start times (s)",
        *rows(starts),
        "",
        "Duty cycle stop times (s)",
        *rows(stops),
        "m-ready",
    )
    _, board, t = _pair([("print_dutycycle%", reply)])
    duty = board.print_dutycycle()
    t.assert_done()
    assert duty.start_s[1] == pytest.approx(0.0335)  # 3350 ticks of 10 µs
    assert duty.period_s == pytest.approx(0.032)
    assert duty.processing_s == pytest.approx(0.0194)
    assert duty.duty_cycle == pytest.approx(0.0194 / 0.032)
    assert duty.throughput_per_s == pytest.approx(1 / 0.0194)
    assert duty.warnings == []


def test_duty_cycle_pairing_and_spread_warning() -> None:
    # recording began mid-frame: the first stop (50) precedes the first start and is dropped
    d = duty_cycle_from_ticks([100, 3300, 6500], [50, 1000, 4200, 7400])
    assert d.frames == 3 and d.processing_s == pytest.approx(900e-5)
    spread = duty_cycle_from_ticks([0, 3200, 6600], [100, 3300, 6700])
    assert spread.period_spread == pytest.approx(200 / 3300)
    assert spread.warnings and "spread" in spread.warnings[0]
    with pytest.raises(DutError, match="do not alternate"):
        duty_cycle_from_ticks([0, 3200, 6400], [3300, 3400, 6500])
    with pytest.raises(DutError, match="no period"):
        duty_cycle_from_ticks([10], [20])


def test_duty_cycle_refuses_a_stop_before_its_own_start() -> None:
    # a missed rising edge: the stop at 800 would pair with the start at 1000 (-2 ms on time)
    with pytest.raises(DutError, match="do not alternate"):
        duty_cycle_from_ticks([0, 1000, 2000], [500, 800, 2500])


def test_print_dutycycle_values_must_be_tick_counts() -> None:
    # seconds (as an older board build printed them under the same "(s)" header) read as 10 µs
    # ticks would put the period and throughput off by 1e5: refused, naming the value
    reply = _lines(
        "Duty cycle start times (s)",
        "0.00150, 0.03350, 0.06550, ",
        "",
        "Duty cycle stop times (s)",
        "0.02090, 0.05290, 0.08490, ",
        "m-ready",
    )
    _, board, _ = _pair([("print_dutycycle%", reply)])
    with pytest.raises(DutError, match=r"'0\.00150' is not a count of 10 µs timer ticks") as info:
        board.print_dutycycle()
    assert info.value.context == "print_dutycycle"


def test_print_dutycycle_with_m_ready_after_the_last_values() -> None:
    # 100 frames at 8 a line leave a partial last line: a board that prints no line end after
    # it sends "..., m-ready" (the reference runner's parser strips 'm-ready' from such a line)
    starts = [150 + 3200 * k for k in range(10)]
    stops = [s + 1940 for s in starts]
    text = "Duty cycle start times (s)\r\n" + "".join(f"{x}, " for x in starts) + "\r\n\r\n"
    text += "Duty cycle stop times (s)\r\n" + "".join(f"{x}, " for x in stops) + "m-ready\r\n"
    _, board, t = _pair([("print_dutycycle%", text.encode())])
    duty = board.print_dutycycle()
    t.assert_done()
    assert duty.frames == 10 and duty.processing_s == pytest.approx(0.0194)


def test_start_accepts_the_older_firmware_status_suffix() -> None:
    dut, _, t = _pair(
        [_relay("start", "Listening for I2S data ... ", "DMA receive initiated. status=0")]
    )
    dut.start()
    t.assert_done()
