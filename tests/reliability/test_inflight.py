"""Bodies on their way in are bounded too: while one large upload is being received, a second
that would pass --inflight-bytes is refused with 503 + Retry-After before it is read, and is
accepted once the first is done."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from tests.conftest import Server
from tests.helpers import export

BUDGET = 1_000_000
SIZE = 600_000  # two of these pass the budget; one alone fits


def _body(project: str, event_id: str) -> bytes:
    head = {
        "project": project,
        "events": [{"event_id": event_id, "event_type": "tool", "inputs": {"pad": ""}}],
    }
    pad = SIZE - len(json.dumps(head).encode())
    head["events"][0]["inputs"]["pad"] = "x" * pad  # type: ignore[index]
    body = json.dumps(head).encode()
    assert len(body) == SIZE
    return body


def test_second_large_upload_waits_for_the_first(tmp_path: Path) -> None:
    srv = Server(str(tmp_path / "h.db"), ["--inflight-bytes", str(BUDGET)])
    srv.start()
    try:
        first, second = _body("inflight", "first"), _body("inflight", "second")
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        head = (
            "POST /events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {SIZE}\r\n\r\n"
        )
        slow.sendall(head.encode() + first[:1000])  # the first upload is under way, not finished
        with srv.client() as c:
            assert c.get("/healthz").status_code == 200  # reads are not held up
            refused = c.post(
                "/events/batch", content=second, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 503, refused.text
            assert (
                refused.headers["retry-after"] == "1"
                and "--inflight-bytes" in refused.json()["error"]["message"]
            )
            slow.sendall(first[1000:])
            answer = slow.recv(4096).decode()
            assert answer.startswith("HTTP/1.1 200"), answer
            slow.close()
            accepted = c.post(
                "/events/batch", content=second, headers={"content-type": "application/json"}
            )
            assert accepted.status_code == 200, accepted.text
            stored = {e["event_id"] for e in export(c, "inflight") if e["event_type"] == "tool"}
            assert stored == {"first", "second"}
    finally:
        srv.stop()


def test_one_request_alone_may_use_the_whole_budget(tmp_path: Path) -> None:
    srv = Server(str(tmp_path / "h.db"), ["--inflight-bytes", "1000"])
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            r = c.post(
                "/events/batch",
                content=_body("alone", "big"),
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 200, r.text
    finally:
        srv.stop()
