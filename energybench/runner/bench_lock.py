"""One run at a time on a bench: the bench file's lock (``<bench file>.lock``) and a lock per
instrument and port it names, all taken before anything is opened and dropped by the OS if the
run dies. A second run is refused with one line naming the holder (pid, host, command, start
time). Serial ports are also opened exclusively and VISA resources locked where the backend can
(see :mod:`energybench.transport`); these locks cover what those cannot (TCPIP SOCKET)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from energybench.errors import EnergybenchError
from energybench.instruments.registry import load_driver
from energybench.runner.bench import Bench
from energybench.transport.locks import HolderLock, bench_file_lock_path, resource_lock_path


def bench_resources(bench: Bench, modes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(role, resource) of every instrument and port the run will open, each once (the meter
    only when a mode measures energy or it powers the DUT: a performance run never opens a
    meter-only driver, and a bench may name a placeholder there)."""
    found = []
    if "energy" in modes or _meter_sources(bench):
        found.append(("meter", bench.meter.resource))
    if bench.supply is not None and bench.supply.instrument is not None:
        found.append(("supply", bench.supply.instrument.resource))
    found.append(("dut port", bench.dut.port))
    if bench.interface is not None:
        found.append(("interface port", bench.interface.port))
    unique: dict[str, str] = {}
    for role, resource in found:
        if resource:
            unique.setdefault(resource.strip().lower(), f"{role} {resource}")
    return [(what, key) for key, what in unique.items()]


def _meter_sources(bench: Bench) -> bool:
    if bench.supply is None or bench.supply.instrument is not None:
        return False
    try:
        return "supply" in getattr(load_driver(bench.meter.driver), "kind", "")
    except EnergybenchError:  # an unknown driver fails later, with its own message
        return False


@contextlib.contextmanager
def hold_bench(bench: Bench, modes: tuple[str, ...] = ("energy",)) -> Iterator[None]:
    """Hold the bench for the block; BenchBusyError (naming the holder) if another run has it."""
    with contextlib.ExitStack() as stack:
        if bench.source is not None:
            stack.enter_context(
                HolderLock(bench_file_lock_path(bench.source), f"bench file {bench.source}")
            )
        for what, key in bench_resources(bench, modes):
            stack.enter_context(HolderLock(resource_lock_path(key), what))
        yield
