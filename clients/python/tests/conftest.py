"""Fixtures: a real `hivelog serve` process, and a stub proxy that misbehaves on purpose.

Standard library only, like the client. The server binary is `$HIVELOG_BIN`, else the
`hivelog` next to this Python. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HIVELOG = os.environ.get("HIVELOG_BIN") or str(Path(sys.executable).parent / "hivelog")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `hivelog serve` subprocess on a free port and its own SQLite file."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(db).with_suffix(".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        env = {k: v for k, v in os.environ.items() if k != "HIVELOG_DB"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [HIVELOG, "serve", "--port", str(self.port), "--db", self.db],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hivelog exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hivelog did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def export(self, project: str, filters: list[dict[str, Any]] | None = None) -> list[Any]:
        """Every event of a project, all pages."""
        events: list[Any] = []
        for page in range(1, 1000):
            body = {"project": project, "filters": filters or [], "limit": 7500, "page": page}
            got = self.post("/events/export", body)
            events.extend(got["events"])
            if len(events) >= got["totalEvents"] or not got["events"]:
                return events
        raise AssertionError("export did not end")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(str(tmp_path_factory.mktemp("db") / "hivelog.db"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture()
def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _no_leftover_context() -> Iterator[None]:
    """Each test starts with no current session and no default tracer logger."""
    from hivelog_client import _context, configure

    token = _context.current.set(None)
    yield
    _context.current.reset(token)
    configure(None)


# ---- a proxy that can be down, slow, or overloaded -------------------------------------------


class Proxy:
    """Forwards to `upstream` once started; until then its port refuses connections.

    `fail_first` requests get 503 + `Retry-After: retry_after`; the first `slow_first`
    requests are forwarded, then answered only after `delay` seconds (the client gives up
    waiting and retries a request the server already stored). Every event id seen in a
    request body is recorded in `seen`, with the time of each request in `times`.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.split("//", 1)[1]
        self.port = free_port()
        self.fail_first = 0
        self.retry_after = "1"
        self.slow_first = 0
        self.delay = 0.0
        self.requests = 0
        self.times: list[tuple[float, int]] = []
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self._httpd: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # head and body are two writes: no 40 ms wait

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.requests += 1
                    n = proxy.requests
                    fail = n <= proxy.fail_first
                    slow = not fail and n - proxy.fail_first <= proxy.slow_first
                    proxy.times.append((time.monotonic(), 503 if fail else 200))
                    proxy.seen.extend(_event_ids(body))
                if fail:
                    out = b'{"message":"overloaded"}'
                    self.send_response(503)
                    self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {"Content-Type": "application/json"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if slow:
                    time.sleep(proxy.delay)
                try:
                    self.send_response(resp.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client stopped waiting

            do_POST = do_PUT = _handle  # noqa: N815

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _event_ids(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data.get("events") or data.get("model_events") or []
    if "event" in data:
        items = [data["event"]]
    return [i["event_id"] for i in items if isinstance(i, dict) and "event_id" in i]


@pytest.fixture()
def proxy(server: Server) -> Iterator[Proxy]:
    p = Proxy(server.url)
    yield p
    p.stop()
