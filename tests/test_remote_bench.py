"""Remote benches: a serial resource in a bench file may be a pyserial URL, so an interface board,
DUT or LPM01A served by ser2net on another host works. Here a local RFC 2217 server (pyserial's
PortManager, as ser2net speaks it) exposes the lab's pseudo-terminals, and an energy run through
the URLs gives the same result as through the pseudo-terminals."""

from __future__ import annotations

import tomllib

import pytest
from rfc2217_server import Rfc2217Server
from runner_helpers import energy_truth, standin

from energybench.errors import TransportError
from energybench.runner.bench import parse_bench
from energybench.runner.run import run_workload
from energybench.sim.lab import VirtualLab
from energybench.sim.meters import attach_meter, bench_toml
from energybench.transport import open_transport
from energybench.transport.serial_port import SerialTransport


def _energy(tmp_path, meter: str, remote: tuple[str, ...], name: str):
    """One energy run; the bench's ports named in ``remote`` go through RFC 2217 servers.
    Returns (our per-inference energies, the truth's, the servers' connection counts)."""
    data = standin(tmp_path / name, "kws01", files=5)
    with VirtualLab("fast-m33", mode="energy", workload="kws01") as lab:
        sim = attach_meter(lab, meter, seed=3)
        text = bench_toml(lab, meter)
        paths = {"interface": lab.interface.port, "meter": getattr(sim, "resource", "")}
        servers = [Rfc2217Server(paths[which]) for which in remote]
        for which, server in zip(remote, servers, strict=True):
            text = text.replace(f'"{paths[which]}"', f'"{server.url}"')
        assert all(s.url in text for s in servers)
        for server in servers:
            server.__enter__()
        try:
            bench = parse_bench(tomllib.loads(text), "remote bench")
            (result,) = run_workload(bench, "kws01", "energy", data, tmp_path / name / "runs")
        finally:
            for server in servers:
                server.__exit__()
        truth = energy_truth(result, lab.dut.windows)[1:]  # the first one is the probe
    assert result.valid, result.validity
    ours = [w.energy_per_inference_j for w in result.windows if w.energy_j is not None]
    true = [w.energy_j / w.inferences for w in truth]
    return ours, true, [s.connections for s in servers]


@pytest.mark.slow
def test_an_energy_run_through_rfc2217_matches_the_pseudo_terminal(tmp_path) -> None:
    """The interface board (every DUT exchange of the run) through RFC 2217. (An LPM01A behind
    a relay needs the lab at realtime pace: in virtual time the simulator streams as fast as
    its port is drained, and a relay drains it into unbounded buffers.)"""
    meter, remote = "stream", ("interface",)
    local, local_truth, _ = _energy(tmp_path, meter, (), "local")
    remote_e, remote_truth, connections = _energy(tmp_path, meter, remote, "remote")
    assert all(n >= 1 for n in connections)  # every remote port was really used
    for ours, true in ((local, local_truth), (remote_e, remote_truth)):
        assert len(ours) == len(true) == 5
        assert ours == pytest.approx(true, rel=1e-3)
    assert sorted(remote_e)[2] == pytest.approx(sorted(local)[2], rel=2e-3)  # the medians


def test_serial_urls_open_through_serial_for_url(tmp_path) -> None:
    lab = VirtualLab("fast-m33", mode="performance", workload="kws01")
    with lab, Rfc2217Server(lab.dut.port) as server:
        transport = open_transport(server.url, baud_rate=lab.dut.baud, timeout_s=5.0)
        assert isinstance(transport, SerialTransport) and transport.is_url
        try:
            transport.write_raw(b"name%")
            assert transport.read_line(timeout_s=5.0).strip() == "m-name-dut-[unspecified]"
            assert transport.read_line(timeout_s=5.0).strip() == "m-ready"
        finally:
            transport.close()
        assert lab.dut.baud in server.baud_rates  # the baud rate reached the remote port
    with pytest.raises(TransportError, match="cannot open serial port"):
        open_transport("rfc2217://127.0.0.1:9", timeout_s=1.0)  # nobody listens there
