"""The simulators' shared TCP plumbing: one thread per client, connections closed after the
handler returns, and stop() ending live connections (bounded)."""

from __future__ import annotations

import socket

from lab_support import wait_until

from energybench.sim.wire.tcp_server import TcpServer


def _echo_line(conn: socket.socket) -> None:
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = conn.recv(1024)
        except TimeoutError:
            continue
        if not chunk:
            return
        data += chunk
    conn.sendall(data.upper())


def test_each_client_is_served_then_closed_and_stop_ends_live_ones() -> None:
    server = TcpServer(_echo_line, name="echo", conn_timeout_s=0.2).start()
    try:
        for word in (b"one\n", b"two\n"):
            with socket.create_connection((server.host, server.port), timeout=5.0) as client:
                client.sendall(word)
                assert client.makefile("rb").readline() == word.upper()
        wait_until(lambda: server.open_connections == 0, 5.0, "the served clients closing")
        idle = socket.create_connection((server.host, server.port), timeout=5.0)
        wait_until(lambda: server.accepted == 3, 5.0, "the third client being accepted")
    finally:
        server.stop()
    with idle:
        assert idle.recv(16) == b""  # stop() closed the connection the handler still held
    assert server.open_connections == 0
