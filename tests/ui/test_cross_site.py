"""A real browser on a hostile page cannot write to (or read from) the open loopback server.

Two attacks, each in Chromium against a real `hivelog serve` that runs open (no keys):

- a page of another origin (served here on `localhost:<other port>`, another site than
  `127.0.0.1`) sends `fetch(..., {mode: "no-cors"})` `text/plain` POSTs to `/events` and
  `/v1/traces` — requests a browser sends without any CORS preflight;
- DNS rebinding: the browser resolves `rebind.test` to 127.0.0.1 (`--host-resolver-rules`), so a
  page at `http://rebind.test:<port>/` is same-origin with the server and could read answers.

Neither stores anything; the same events sent as curl sends them are stored.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import struct
import threading
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Server, free_port
from tests.otlp.otlp_helpers import new_span, new_trace, pb_request, pb_span
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

ATTACK = """<!doctype html><html><body><script>
window.sent = (async () => {
  const target = %(target)s, project = %(project)s, results = [];
  const event = JSON.stringify({event: {project, event_type: "tool", event_name: "csrf"}});
  const span = JSON.stringify({resourceSpans: [{
    resource: {attributes: [{key: "honeyhive.project", value: {stringValue: project}}]},
    scopeSpans: [{spans: [{traceId: "5b8efff798038103d269b633813fc60c",
      spanId: "eee19b7ec3c1b174", name: "csrf", startTimeUnixNano: "1700000000000000000",
      endTimeUnixNano: "1700000001000000000"}]}]}]});
  for (const [path, body] of [["/events", event], ["/v1/traces", span]]) {
    try {
      await fetch(target + path, {method: "POST", mode: "no-cors", body,
                                  headers: {"Content-Type": "text/plain"}});
      results.push(path + " sent");
    } catch (e) { results.push(path + " " + e); }
  }
  return results;
})();
</script></body></html>"""


@pytest.fixture(scope="module")
def chromium(browser: Browser) -> Iterator[Browser]:
    """Chromium resolving rebind.test to this machine, as a rebinding attacker's DNS would
    (launched by the Playwright instance of the shared `browser`: one per test session)."""
    b = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.test 127.0.0.1"],
    )
    yield b
    b.close()


def _stored(server: Server, project: str) -> int:
    with server.client() as c:
        r = c.post("/events/export", json={"project": project})
    assert r.status_code == 200, r.text
    total: int = r.json()["totalEvents"]
    return total


class _Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def attacker(chromium: Browser, html: str) -> Iterator[tuple[Page, str]]:
    """A page of another site than the server's (`localhost:<port>`, not `127.0.0.1`) serving
    `html`, and a fresh browser page to open it in: (page, its URL)."""
    _Attacker.page = html.encode()
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Attacker)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    context = chromium.new_context()
    try:
        yield context.new_page(), f"http://localhost:{port}/"
    finally:
        context.close()
        httpd.shutdown()


def test_a_page_of_another_origin_cannot_store_events(chromium: Browser, server: Server) -> None:
    project = f"csrf-{uuid.uuid4().hex[:8]}"
    html = ATTACK % {"target": json.dumps(server.url), "project": json.dumps(project)}
    with attacker(chromium, html) as (page, url):
        # seen by the server: what the browser really sent
        seen: list[int] = []
        page.on("response", lambda r: seen.append(1) if server.url in r.url else None)
        page.goto(url)
        results = page.evaluate("window.sent")
        assert results == ["/events sent", "/v1/traces sent"], results
        assert len(seen) == 2  # the browser did send both requests
    assert _stored(server, project) == 0
    # the same body, as curl sends it, is stored: the refusal is about the browser's page
    r = httpx.post(
        server.url + "/events",
        content=json.dumps({"event": {"project": project, "event_type": "tool"}}),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 200 and _stored(server, project) >= 1


def test_dns_rebinding_page_cannot_read_or_write(chromium: Browser, server: Server) -> None:
    project = f"rebind-{uuid.uuid4().hex[:8]}"
    context = chromium.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"http://rebind.test:{server.port}/?project={project}")
        assert response is not None and response.status == 421
        assert "does not answer to the host" in page.content()
        # the page is same-origin with the server now: it could read any answer it gets
        answer = page.evaluate(
            """async (project) => {
              const w = await fetch("/events", {method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({event: {project, event_type: "tool"}})});
              const r = await fetch("/events/export", {method: "POST",
                headers: {"Content-Type": "application/json"}, body: "{}"});
              return [w.status, r.status];
            }""",
            project,
        )
        assert answer == [421, 421]
    finally:
        context.close()
    assert _stored(server, project) == 0


GRPC_ATTACK = """<!doctype html><html><body><script>
window.sent = (async () => {
  const target = %(target)s, body = Uint8Array.from(atob(%(body)s), c => c.charCodeAt(0));
  const results = [];
  for (const path of [%(traces)s, "/"]) {
    try {
      await fetch(target + path, {method: "POST", mode: "no-cors", body,
                                  headers: {"Content-Type": "text/plain"}});
      results.push(path + " sent");
    } catch (e) { results.push(path + " refused"); }
  }
  return results;
})();
</script></body></html>"""


def test_a_page_cannot_write_to_the_grpc_port(chromium: Browser, grpc_server: Server) -> None:
    """OTLP/gRPC is HTTP/2 over cleartext (h2c), which browsers never speak: whatever a page
    sends to the gRPC port arrives as HTTP/1.1 and is refused before any export runs; the
    same export from a gRPC client on the machine is stored."""
    project = f"grpc-csrf-{uuid.uuid4().hex[:8]}"
    message = pb_request([pb_span(new_trace(), new_span(), "csrf")], {"honeyhive.project": project})
    framed = b"\x00" + struct.pack(">I", len(message)) + message  # one gRPC message
    traces = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    html = GRPC_ATTACK % {
        "target": json.dumps(f"http://127.0.0.1:{grpc_server.grpc_port}"),
        "body": json.dumps(base64.b64encode(framed).decode()),
        "traces": json.dumps(traces),
    }
    with attacker(chromium, html) as (page, url):
        page.goto(url)
        results = page.evaluate("window.sent")
        assert len(results) == 2, results  # both attempts ran to an answer or a refusal
    assert _stored(grpc_server, project) == 0
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        channel.unary_unary(traces)(message, timeout=30)
    assert _stored(grpc_server, project) > 0  # the span (and the session it opens)
