"""Connect to the DUT for one mode: directly (performance, accuracy) or through the interface
board (energy, when the bench has one), at the mode's baud; check the board's DUT baud and only
``setbaud`` when it differs (each setbaud erases flash and resets the board); identify the DUT;
refuse a firmware whose timestamp mode does not match the run. A stream workload (sww01) is
always reached through the interface board (it plays the audio and records the detections),
with the sww01 client and the board's own commands; its one firmware build runs every mode."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from energybench.dut.board import BoardClient
from energybench.dut.client import DutClient, DutIdentity
from energybench.dut.link import InterfaceBoardLink, open_link
from energybench.dut.sww import SwwClient
from energybench.errors import ConfigError, DutError, EnergybenchError
from energybench.runner.bench import Bench
from energybench.runner.runlog import RunLog

log = logging.getLogger(__name__)

_BAUD = re.compile(r"baud is:\s*(\d+)")
BOARD_TIMEOUT_S = 5.0
SETBAUD_SETTLE_S = 0.5


@dataclass
class DutSession:
    client: DutClient
    identity: DutIdentity
    mode: str  # the firmware's timestamp mode
    link_kind: str  # "direct" or "interface board"
    baud: int
    first_download_checked: bool = False  # the first download is read back (db print)
    board: BoardClient | None = None  # the interface board's own commands (stream workloads)

    def close(self) -> None:
        try:
            self.client.link.close()
        except Exception as exc:
            log.warning("closing the DUT link failed: %s", exc)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.identity.name,
            "profile": self.identity.profile,
            "model": self.identity.model,
            "timestamp_mode": self.mode,
            "link": self.link_kind,
            "baud": self.baud,
        }


def _board_baud(link: InterfaceBoardLink) -> int | None:
    """The DUT baud the board relays at (``checkbaud``); None when its reply names none."""
    lines = link.board_command("checkbaud", BOARD_TIMEOUT_S)
    return next((int(m.group(1)) for x in lines if (m := _BAUD.search(x))), None)


def _sync_board_baud(link: InterfaceBoardLink, baud: int) -> None:
    current = _board_baud(link)
    if current == baud:
        return
    log.info("interface board DUT baud %s -> %d (setbaud)", current, baud)
    link.board_command(f"setbaud {baud}", BOARD_TIMEOUT_S)
    time.sleep(SETBAUD_SETTLE_S)  # the board resets after storing the rate
    link.resync()
    current = _board_baud(link)
    if current != baud:
        raise DutError(
            f"interface board reports DUT baud {current} after setbaud {baud}", context="setbaud"
        )


def connect_dut(
    bench: Bench,
    mode: str,
    runlog: RunLog | None = None,
    *,
    timeout_s: float = 5.0,
    via_interface: bool | None = None,
    stream: bool = False,
) -> DutSession:
    """Open the DUT link for ``mode`` and check identity and timestamp mode (``stream``: the
    sww01 firmware through the interface board, no timestamp-mode check)."""
    baud = bench.dut.baud_for(mode)
    firmware_mode = "energy" if mode == "energy" else "performance"
    use_board = (
        (stream or (mode == "energy" and bench.interface is not None))
        if via_interface is None
        else (via_interface)
    )
    hook = runlog.dut_hook("dut") if runlog else None
    if use_board:
        if bench.interface is None:
            needs = "the streaming benchmark plays audio through" if stream else "to reach"
            raise ConfigError(
                f"bench {bench.name!r} has no interface board ({needs} the DUT through it)",
                context="interface",
            )
        link = open_link(
            bench.interface.port, bench.interface.baud_for(mode), via_board=True, on_exchange=hook
        )
        kind = "interface board"
    else:
        link = open_link(bench.dut.port, baud, via_board=False, on_exchange=hook)
        kind = "direct"
    if runlog is not None:
        runlog.skip_resources.add(link.name)  # its exchanges are logged by the hook
    client = (
        SwwClient(link, timeout_s=timeout_s) if stream else DutClient(link, timeout_s=timeout_s)
    )
    board = BoardClient(link) if stream and isinstance(link, InterfaceBoardLink) else None
    try:
        link.resync()
        if isinstance(link, InterfaceBoardLink):
            _sync_board_baud(link, baud)
        identity = identify_dut(client)
        client.mode = None
        if not stream:
            client.require_mode(firmware_mode)  # type: ignore[arg-type]
    except BaseException:
        link.close()
        raise
    build = "stream" if stream else (client.mode or firmware_mode)
    if runlog is not None:
        runlog.write(
            "runner",
            f"DUT {identity.name!r} model {identity.model} ({identity.profile}), "
            f"{build} build, {kind} at {baud} baud",
        )
    return DutSession(client, identity, build, kind, baud, board=board)


def identify_dut(client: DutClient, attempts: int = 3) -> DutIdentity:
    """``name``/``profile`` with bounded retries (a boot banner may still be arriving)."""
    for _ in range(attempts - 1):
        try:
            return client.identify()
        except EnergybenchError:
            client.link.resync()
    return client.identify()  # the last attempt's error goes to the caller
