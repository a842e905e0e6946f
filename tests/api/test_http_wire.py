"""HTTP/1.1 on the wire: a response's head and body leave in one write (`OneWriteCycle`), and
everything around that stays as HTTP says: keep-alive, pipelining, `Connection: close`, HEAD,
`Expect: 100-continue` and a streamed download."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from hivelog.server import OneWriteCycle
from tests.conftest import Server
from tests.helpers import post_ok, run_alone, uid


@pytest.fixture(scope="module")
def wire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(str(tmp_path_factory.mktemp("db") / "h.db"))
    srv.start()
    yield srv
    srv.stop()


class _Recording(asyncio.Transport):
    """Records what the cycle writes, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def _answer(
    kind: type[RequestResponseCycle], keep_alive: bool, fail: bool = False
) -> _Recording:
    """What `kind` writes for a 200 with a 2-byte body, or (`fail`) for an app that fails
    after sending its head: uvicorn then sends its 500 if no head has gone out."""
    transport = _Recording()
    cycle = kind(
        scope={"type": "http", "method": "GET", "path": "/"},  # type: ignore[arg-type]
        transport=transport,
        flow=FlowControl(transport),
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await cycle.send({"type": "http.response.start", "status": 200, "headers": headers})
    if fail:
        if not cycle.response_started:
            await cycle.send_500_response()
        return transport
    await cycle.send({"type": "http.response.body", "body": b"{}"})
    return transport


def test_head_and_body_leave_in_one_write() -> None:
    one = run_alone(_answer(OneWriteCycle, keep_alive=True))
    assert len(one.writes) == 1 and one.writes[0].endswith(b"\r\n\r\n{}")
    assert one.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and not one.closed
    two = run_alone(_answer(RequestResponseCycle, keep_alive=True))
    assert len(two.writes) == 2 and b"".join(two.writes) == one.writes[0]  # the same bytes
    closing = run_alone(_answer(OneWriteCycle, keep_alive=False))
    assert len(closing.writes) == 1 and b"connection: close" in closing.writes[0]
    assert closing.closed  # closed after the write, as before
    # the app fails after its head: a whole 500 in one write, not a 200 head left hanging
    failed = run_alone(_answer(OneWriteCycle, keep_alive=True, fail=True))
    assert len(failed.writes) == 1 and failed.writes[0].startswith(b"HTTP/1.1 500 ")
    assert failed.writes[0].endswith(b"Internal Server Error")


def _read_response(
    sock: socket.socket, buffered: bytearray, head_only: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """One response from `sock` (bytes already read but not used are in `buffered`); a HEAD
    request's (`head_only`) has no body whatever its Content-Length says."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-head: {bytes(buffered)!r}"
        buffered += chunk
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    del buffered[:]
    buffered += rest
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(buffered) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        buffered += chunk
    body = bytes(buffered[:length])
    del buffered[:length]
    return int(status_line.split()[1]), headers, body


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def test_pipelined_requests_answer_in_order(wire_server: Server) -> None:
    with _connect(wire_server) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        buffered = bytearray()
        status, headers, body = _read_response(sock, buffered)
        assert status == 200 and json.loads(body)["success"] is True
        assert headers["x-content-type-options"] == "nosniff"  # security headers still on
        status, _, body = _read_response(sock, buffered)
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
        # HEAD: the head only, with the length the GET's body has
        status, headers, _ = _read_response(sock, buffered, head_only=True)
        assert status == 200 and int(headers["content-length"]) > 0 and not buffered
        # `Connection: close`: the whole answer, then the server closes
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        rest = bytearray()
        while chunk := sock.recv(65536):
            rest += chunk
        status, headers, body = _read_response(sock, rest)
        assert status == 200 and headers["connection"] == "close" and not rest
        assert json.loads(body)["success"] is True


def test_expect_100_continue(wire_server: Server) -> None:
    event = {"event": {"project": "p-" + uid(), "event_type": "tool", "event_name": "t"}}
    body = json.dumps(event).encode()
    with _connect(wire_server) as sock:
        sock.sendall(
            b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        buffered = bytearray(interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :])
        status, _, answer = _read_response(sock, buffered)
        assert status == 200 and json.loads(answer)["success"] is True


def test_streamed_download(wire_server: Server) -> None:
    project = "p-" + uid()
    with wire_server.client() as client:
        events = [
            {"project": project, "event_type": "tool", "event_name": f"e{i}"} for i in range(3)
        ]
        post_ok(client, "/events/batch", {"project": project, "events": events})
        r = client.get("/ui/export/events.jsonl", params={"project": project})
        assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
        lines = [json.loads(line) for line in r.text.splitlines()]
        names = sorted(e["event_name"] for e in lines if e["event_type"] != "session")
        assert names == ["e0", "e1", "e2"]
