"""A test-only HTTP front for the embedded ClickHouse engine (chDB). Never shipped.

chDB runs ClickHouse's engine in one process per data directory and has no network server.
To test what only several processes can show — two `hivelog serve` processes (one with
`--workers 2`) sharing one database through the production HTTP transport and
`clickhouse-connect` — this process owns the engine and answers the subset of ClickHouse's
HTTP interface those clients use: the query in the `query` URL parameter and/or the body
(INSERT data follows the query), output in the query's `FORMAT` or `default_format`, errors as
`Code: N. DB::Exception…` with status 500 and `X-ClickHouse-Exception-Code`. It is a double of
the server's shell only: every statement runs on the real engine.

Run: `python -m tests.chdb_front PATH PORT` (prints `ready` when listening).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*$", re.IGNORECASE)
# Where to append one line per statement (milliseconds, then the statement on one line), to
# see what a page or a test costs in queries; unset: nothing is written.
_LOG = os.environ.get("HIVELOG_CHDB_FRONT_LOG")
_log_lock = threading.Lock()


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # an answer leaves as two writes (head, then body): with Nagle's algorithm the body waits
    # for the client's delayed ACK, ~40 ms per query, most of a chdb test's time
    disable_nagle_algorithm = True
    session: Any = None
    inserts: Any = None  # a second session on the same data, for INSERT streams
    insert_lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if urllib.parse.urlsplit(self.path).path in ("/ping", "/"):
            self._answer(200, b"Ok.\n", {})
            return
        self._run(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._run(body)

    def _run(self, body: bytes) -> None:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        query = params.get("query")
        if query is None:
            sql, data = body.decode(), b""
        else:
            sql, data = query, body  # INSERT rows: text or binary (RowBinary), as bytes
        sql = sql.strip().rstrip(";")
        fmt = params.get("default_format", "TabSeparated")
        m = _FORMAT.search(sql)
        started = time.perf_counter()
        try:
            if data and m:  # rows beside the statement, as the server reads a request body
                self._insert(sql[: m.start()], m.group(1), data)
                out = b""
            else:
                if m:
                    fmt = m.group(1)
                out = bytes(self.session.query(sql, fmt).bytes())
        except Exception as exc:
            message = str(exc)
            if "Code: " in message:  # the engine's own words, after chDB's prefix if any
                message = message[message.index("Code: ") :]
            code = re.search(r"Code: (\d+)", message)
            self._answer(
                500,
                (message if message.startswith("Code:") else f"Code: 1000. {message}").encode(),
                {"X-ClickHouse-Exception-Code": code.group(1) if code else "1000"},
            )
            return
        self._answer(200, out, {"X-ClickHouse-Format": fmt, "X-ClickHouse-Timezone": "UTC"})
        if _LOG:
            line = " ".join(sql.split())
            with _log_lock, open(_LOG, "a") as log:
                log.write(f"{(time.perf_counter() - started) * 1000:.1f}\t{line}\n")

    def _insert(self, statement: str, fmt: str, data: bytes) -> None:
        """chDB's INSERT stream (rows in the statement's text would be lexed as SQL, and
        end at an empty line); its own session, as a stream blocks its connection."""
        with Front.insert_lock:
            inserter = Front.inserts.send_insert(statement, fmt)
            try:
                inserter.append(data)
                inserter.finish()
            except Exception:
                with contextlib.suppress(Exception):
                    inserter.cancel()
                raise

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front")
        self.send_header("X-ClickHouse-Query-Id", "test")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def serve(path: str, port: int) -> None:
    from chdb import session

    Front.session = session.Session(path)
    Front.inserts = session.Session(path)
    server = ThreadingHTTPServer(("127.0.0.1", port), Front)
    server.daemon_threads = True
    print("ready", flush=True)
    try:
        server.serve_forever()
    finally:
        Front.inserts.close()
        Front.session.close()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
    threading.Event().wait()
