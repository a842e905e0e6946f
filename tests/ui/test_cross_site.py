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
import time
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import Server, free_port
from tests.otlp.otlp_helpers import new_span, new_trace, pb_request, pb_span
from tests.security.keyed import keyed_client
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
def attacker_site(html: str) -> Iterator[str]:
    """A site other than the server's (`localhost:<port>`, not `127.0.0.1`) serving `html`:
    its URL."""
    _Attacker.page = html.encode()
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Attacker)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{port}/"
    finally:
        httpd.shutdown()


@contextlib.contextmanager
def attacker(chromium: Browser, html: str) -> Iterator[tuple[Page, str]]:
    """A page of another site than the server's serving `html`, and a fresh browser page to
    open it in: (page, its URL)."""
    with attacker_site(html) as url:
        context = chromium.new_context()
        try:
            yield context.new_page(), url
        finally:
            context.close()


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


# A page of another site, opened in a browser signed in to a keyed server (its HttpOnly,
# SameSite=Strict cookie in the jar), tries every write the cookie could be used for: the
# feedback route (a no-cors text/plain POST, a JSON POST with a made-up token that needs a
# preflight, and a text/plain form), the API's writes (POST /events, /events/batch,
# /session/start, /v1/traces; PUT /events, which needs a preflight), and signing out.
SIGNED_IN_ATTACK = """<!doctype html><html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe><iframe name="sink3"></iframe>
<script>
window.sent = (async () => {
  const target = %(target)s, id = %(event_id)s, results = [];
  const rating = JSON.stringify({rating: 1, comment: "pwned"});
  const event = JSON.stringify({event: {event_type: "tool", event_name: "pwned"}});
  const plain = {"Content-Type": "text/plain"};
  const attempts = [
    ["POST", "/ui/feedback/" + id, rating, plain, "no-cors"],
    ["POST", "/ui/feedback/" + id, rating,
     {"Content-Type": "application/json", "X-Hivelog-CSRF": "0".repeat(64)}, "cors"],
    ["POST", "/events", event, plain, "no-cors"],
    ["POST", "/events/batch", JSON.stringify({events: [{event_type: "tool",
      event_name: "pwned"}]}), plain, "no-cors"],
    ["POST", "/session/start", JSON.stringify({session: {session_name: "pwned"}}), plain,
     "no-cors"],
    ["POST", "/v1/traces", "{}", plain, "no-cors"],
    ["PUT", "/events", JSON.stringify({event_id: id, feedback: {rating: 1}}),
     {"Content-Type": "application/json"}, "cors"],
  ];
  for (const [method, path, body, headers, mode] of attempts) {
    try {
      await fetch(target + path, {method, mode, body, headers, credentials: "include"});
      results.push(method + " " + path + " answered");
    } catch (e) { results.push(method + " " + path + " refused"); }
  }
  // forms: what a page can send with no script at all (text/plain, a JSON-looking body),
  // each into a frame of its own; done when every frame has loaded the server's answer
  const loaded = [];
  for (const [path, sink] of [["/ui/feedback/" + id, "sink1"], ["/events", "sink2"],
                              ["/logout", "sink3"]]) {
    const frame = document.querySelector(`iframe[name=${sink}]`);
    loaded.push(new Promise((done) => frame.addEventListener("load", done, {once: true})));
    const f = document.createElement("form");
    f.method = "POST"; f.action = target + path; f.enctype = "text/plain"; f.target = sink;
    const i = document.createElement("input");
    i.name = '{"rating": 1, "event": {"event_type": "tool", "x": "'; i.value = '"}}';
    f.appendChild(i); document.body.appendChild(f); f.submit();
  }
  await Promise.all(loaded);
  return results;
})();
</script></body></html>"""


def test_another_site_cannot_write_through_a_signed_in_browser(
    browser: Browser, signed_in: tuple[Server, str, str]
) -> None:
    srv, key, event_id = signed_in
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{srv.url}/ui/event/{event_id}")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        # from its own page, the signed-in browser annotates (the cookie's one write)
        page.locator(".star", has_text="4★").click()
        expect(page.locator("[data-feedback-status]")).to_have_text("Saved")

        with keyed_client(srv, key) as c:
            before = c.post("/events/export", json={"filters": []}).json()
        assert before["totalEvents"] == 2  # the event and the session it named

        # what reached the server from the other site's page, what it answered, and the
        # cookie the browser sent with it (None until Chromium reports the raw headers)
        reached: list[tuple[str, str, int]] = []
        cookies: list[str | None] = []

        def answered(response: Response) -> None:
            request = response.request
            if request.url.startswith(srv.url) and request.method in ("POST", "PUT"):
                reached.append((request.method, request.url, response.status))
                cookies.append(None)
                slot = len(cookies) - 1
                # all_headers waits for Chromium's raw headers, which for a form's navigation
                # in a cross-site frame may never be reported: the answer is recorded first
                with contextlib.suppress(PlaywrightError):
                    cookies[slot] = request.all_headers().get("cookie", "")

        context.on("response", answered)
        with attacker_site(
            SIGNED_IN_ATTACK % {"target": json.dumps(srv.url), "event_id": json.dumps(event_id)}
        ) as url:
            evil = context.new_page()
            evil.goto(url)
            results = evil.evaluate("window.sent")
            assert len(results) == 7, results
            # Playwright reports each response to this test as an event of its own, which may
            # come after the page's promises settled: wait for the eight and their headers
            # (or a deadline)
            deadline = time.monotonic() + 30
            while (len(reached) < 8 or None in cookies) and time.monotonic() < deadline:
                evil.wait_for_timeout(50)  # lets Playwright deliver the events
        # the five no-cors posts and the three forms reached the server (the two that need a
        # CORS preflight were stopped in the browser: no CORS is granted), each refused there
        assert sorted((m, u.split("?")[0].removeprefix(srv.url)) for m, u, _ in reached) == [
            ("POST", "/events"), ("POST", "/events"), ("POST", "/events/batch"),
            ("POST", "/logout"), ("POST", "/session/start"), ("POST", f"/ui/feedback/{event_id}"),
            ("POST", f"/ui/feedback/{event_id}"), ("POST", "/v1/traces"),
        ], reached  # fmt: skip
        assert all(status == 403 for *_, status in reached), reached
        # SameSite=Strict: the browser did not even send the cookie with them (every request
        # whose raw headers Chromium reported: at least the five fetches' in every run seen)
        known = [cookie for cookie in cookies if cookie is not None]
        assert len(known) >= 5, (reached, cookies)
        assert not any("hivelog_key" in cookie for cookie in known), (reached, cookies)

        # nothing was written: the rating is the page's, no event named "pwned" exists, the
        # project is as it was, and the browser is still signed in (its sign-out was refused)
        with keyed_client(srv, key) as c:
            stored = c.get(f"/v1/events/{event_id}").json()
            assert stored["feedback"] == {"rating": 4}, stored
            pwned = c.post(
                "/events/export",
                json={"filters": [{"field": "event_name", "operator": "is", "value": "pwned"}]},
            ).json()
            assert pwned["totalEvents"] == 0, pwned
            assert c.post("/events/export", json={"filters": []}).json() == before
        page.reload()
        expect(page.locator(".event h2")).to_have_text("lookup")
    finally:
        context.close()
