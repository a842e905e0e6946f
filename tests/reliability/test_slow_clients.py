"""Slow and idle clients do not block others: connections that trickle a request head, stall a
body or sit idle are served around, and closed by the header, body and keep-alive timeouts."""

from __future__ import annotations

import contextlib
import socket
import time

from tests.conftest import Server


def _open(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _closed_by_server(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slowloris_and_idle_connections_do_not_block_other_clients(fresh_database: str) -> None:
    srv = Server(
        fresh_database,
        ["--header-timeout-seconds", "2", "--body-timeout-seconds", "2",
         "--keep-alive-seconds", "2"],
    )  # fmt: skip
    srv.start()
    slow: list[socket.socket] = []
    stalled: list[socket.socket] = []
    try:
        # 200 connections that send nothing, 200 that drip a request head, 50 that stall a body
        for _ in range(200):
            slow.append(_open(srv.port))
        for _ in range(200):
            s = _open(srv.port)
            s.sendall(b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(s)
        for _ in range(50):
            s = _open(srv.port)
            s.sendall(
                b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"event": '
            )
            stalled.append(s)
        latencies = []
        with srv.client() as c:
            for _ in range(50):
                began = time.monotonic()
                r = c.post("/events", json={"event": {"event_type": "tool", "event_name": "ok"}})
                latencies.append(time.monotonic() - began)
                assert r.status_code == 200, r.text
                # keep dripping: one more header line on each slow connection (on a busy
                # machine the header timeout may already have closed some: that is its job)
                for s in slow[200:210]:
                    with contextlib.suppress(OSError):
                        s.sendall(b"X-Drip: 1\r\n")
        # Blocked behind the slow connections, normal requests would wait for their 2 s
        # timeouts; served around them, a typical one takes milliseconds. The median, not the
        # maximum: one request may be slow on a busy machine for reasons of its own.
        latencies.sort()
        median = latencies[len(latencies) // 2]
        assert median < 1.0, f"normal requests waited {median:.2f} s (median)"
        # the timeouts close what is slow: a dripping head within ~2 s, a stalled body with 408
        assert _closed_by_server(slow[0], 5), "an idle connection was never closed"
        assert _closed_by_server(slow[250], 5), "a dripping request head was never closed"
        stalled[0].settimeout(5)
        answer = stalled[0].recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        # an idle keep-alive connection after a response is closed too
        k = _open(srv.port)
        k.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert k.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed_by_server(k, 5), "an idle keep-alive connection was never closed"
        k.close()
        print(
            f"\nslow clients: 450 slow connections held; 50 normal requests, "
            f"max latency {max(latencies) * 1000:.0f} ms"
        )
    finally:
        for s in slow + stalled:
            s.close()
        srv.stop()
