"""What a hostile web page can make a browser send is refused; curl, SDKs and exporters are not.

The open loopback server (no keys) trusts the local machine, never a web page: a `Host` that is
not one of its names (DNS rebinding) gets 421, and a browser request that is not same-origin
(`Sec-Fetch-Site: cross-site|same-site`, or an `Origin` of another site) gets 403 on every
route kind — REST write, OTLP, read, UI page, login, logout — before anything is stored or read.
Requests as curl sends them, and browsers' same-origin requests, pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import Server
from tests.security.keyed import create_key

Request = Callable[[httpx.Client, dict[str, str]], httpx.Response]


def _otlp(project: str) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "honeyhive.project", project
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = uuid.uuid4().bytes, uuid.uuid4().bytes[:8], "guard"
    span.start_time_unix_nano = span.end_time_unix_nano = 1_700_000_000_000_000_000
    return req.SerializeToString()


def _routes(project: str) -> dict[str, Request]:
    event = {"event": {"project": project, "event_type": "tool", "event_name": "guard"}}
    return {
        "REST write": lambda c, h: c.post("/events", json=event, headers=h),
        "REST write as text/plain": lambda c, h: c.post(
            "/events",
            content=httpx.Request("POST", "/", json=event).content,
            headers={**h, "Content-Type": "text/plain"},
        ),
        "OTLP": lambda c, h: c.post(
            "/v1/traces",
            content=_otlp(project),
            headers={**h, "Content-Type": "application/x-protobuf"},
        ),
        "read": lambda c, h: c.post("/events/export", json={"project": project}, headers=h),
        "GET read": lambda c, h: c.get("/events", params={"project": project}, headers=h),
        "UI page": lambda c, h: c.get("/", params={"project": project}, headers=h),
        "login": lambda c, h: c.post(
            "/login",
            content=b"key=hl_00000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxx&next=/",
            headers={**h, "Content-Type": "application/x-www-form-urlencoded"},
        ),
        "logout": lambda c, h: c.post("/logout", headers=h),
    }


CROSS_SITE = {
    "Origin of another site": {"Origin": "http://evil.example"},
    "Origin null": {"Origin": "null"},
    "Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    "Sec-Fetch-Site same-site": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"},
    "both": {
        "Origin": "http://evil.example",
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "no-cors",
        "Sec-Fetch-Dest": "empty",
    },
}
REBINDING = {"Host": "evil.example:{port}"}


def _stored(server: Server, project: str) -> int:
    with server.client() as c:
        r = c.post("/events/export", json={"project": project})
    assert r.status_code == 200, r.text
    total: int = r.json()["totalEvents"]
    return total


@pytest.fixture()
def open_server(server: Server) -> Server:
    assert "auth: OPEN" in server.log()
    return server


@pytest.mark.parametrize("route", list(_routes("x")))
@pytest.mark.parametrize("kind", list(CROSS_SITE))
def test_cross_site_browser_requests_are_refused(
    open_server: Server, project: str, route: str, kind: str
) -> None:
    with open_server.client() as c:
        r = _routes(project)[route](c, CROSS_SITE[kind])
    assert r.status_code == 403, (route, kind, r.status_code, r.text[:200])
    assert r.json()["error"]["code"] == "cross_site_request"
    assert "set-cookie" not in r.headers
    assert _stored(open_server, project) == 0


@pytest.mark.parametrize("route", list(_routes("x")))
def test_rebinding_host_is_refused_while_open(
    open_server: Server, project: str, route: str
) -> None:
    headers = {"Host": REBINDING["Host"].format(port=open_server.port)}
    with open_server.client() as c:
        r = _routes(project)[route](c, headers)
    assert r.status_code == 421, (route, r.status_code, r.text[:200])
    body = r.json()["error"]
    assert body["code"] == "unknown_host" and body["where"] == "Host"
    assert "--allowed-hosts" in body["message"]
    assert _stored(open_server, project) == 0


def test_curl_and_same_origin_browsers_pass(open_server: Server, project: str) -> None:
    port = open_server.port
    same_origin: list[dict[str, str]] = [
        {},  # curl, SDKs, exporters
        {"Host": f"localhost:{port}"},
        {"Host": f"127.0.0.1:{port}"},
        {"Host": "[::1]"},
        {"Host": f"LOCALHOST.:{port}"},
        {"Origin": f"http://127.0.0.1:{port}"},
        {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
        {"Sec-Fetch-Site": "same-origin", "Origin": f"http://127.0.0.1:{port}"},
        {"Sec-Fetch-Site": "none"},  # typed in the address bar
    ]
    with open_server.client() as c:
        first = 0
        for i, headers in enumerate(same_origin):
            for name, request in _routes(project).items():
                r = request(c, headers)
                expected = {"login": 401, "logout": 303}.get(name, 200)
                assert r.status_code == expected, (name, headers, r.status_code, r.text[:200])
            first = first or _stored(open_server, project)
            assert first > 0 and _stored(open_server, project) == first * (i + 1)  # all stored
        # a link followed from another site shows the page to the person, not to the linker
        nav = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Origin": "null"}
        r = c.get("/", params={"project": project}, headers={**nav, "Sec-Fetch-Dest": "document"})
        assert r.status_code == 200
        # ... but a form posted from another site is refused
        r = c.post("/events", json={"event": {"project": project}}, headers=nav)
        assert r.status_code == 403


@pytest.fixture()
def proxied(fresh_database: str) -> Iterator[Server]:
    srv = Server(fresh_database, ["--allowed-hosts", "hivelog.example.com, .internal"])
    srv.start()
    yield srv
    srv.stop()


def test_allowed_hosts_for_a_server_behind_a_proxy(proxied: Server) -> None:
    ok: dict[str, Any] = {"json": {"event": {"event_type": "tool"}}}
    with proxied.client() as c:
        for host in ("hivelog.example.com", "hivelog.example.com:443", "a.internal", "localhost"):
            assert c.post("/events", headers={"Host": host}, **ok).status_code == 200, host
        for host in ("example.com", "evil.hivelog.example.com", "internal.evil"):
            assert c.post("/events", headers={"Host": host}, **ok).status_code == 421, host
        # an old browser behind a proxy that rewrites Host: the origin is one of ours
        headers = {"Host": "127.0.0.1:8080", "Origin": "https://hivelog.example.com"}
        assert c.post("/events", headers=headers, **ok).status_code == 200
    # once --allowed-hosts is set the list applies with keys too
    key = create_key(proxied.db, "guarded")
    with proxied.client(headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.post("/events", headers={"Host": "example.com"}, **ok).status_code == 421


def test_with_keys_any_host_is_answered_but_cross_site_is_still_refused(
    fresh_database: str,
) -> None:
    key = create_key(fresh_database, "keyed")
    srv = Server(fresh_database)
    srv.start()
    try:
        with srv.client(headers={"Authorization": f"Bearer {key}"}) as c:
            event = {"event": {"event_type": "tool"}}
            assert c.post("/events", json=event, headers={"Host": "hivelog.lan"}).status_code == 200
            r = c.post("/events", json=event, headers={"Origin": "http://evil.example"})
            assert r.status_code == 403
    finally:
        srv.stop()
