"""The indexed router finds exactly the route Starlette's scan finds, for every method and for
paths that several routes could take (a fixed path beside a parameterised one, a mount)."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import BaseRoute, Match

from hivelog.routes import routes
from hivelog.routes.router import IndexedRouter, fixed_path_index

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
TABLE = routes()
INDEX = fixed_path_index(TABLE)


def _choice(candidates: list[BaseRoute], method: str, path: str) -> tuple[object, Match, dict]:
    """What Starlette's Router.app would hand the request to: the first full match, else the
    first partial one (a 405), else nothing (a 404)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    partial = None
    for route in candidates:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, match, child
        if match is Match.PARTIAL and partial is None:
            partial = (route, match, child)
    return partial or (None, Match.NONE, {})


def test_every_fixed_path_is_indexed() -> None:
    fixed = {r.path for r in TABLE if hasattr(r, "path") and not r.param_convertors}
    assert fixed == set(INDEX) and "/healthz" in fixed and "/v1/events/chart" in fixed
    # a fixed path that parameterised routes also match keeps them all, in table order
    # (`PUT /v1/events/{event_id}` comes first: for a GET it is only a partial match)
    assert [r.path for r in INDEX["/v1/events/chart"]] == [  # type: ignore[attr-defined]
        "/v1/events/{event_id}",
        "/v1/events/chart",
        "/v1/events/{event_id}",
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", sorted(INDEX))
def test_index_chooses_what_the_scan_chooses(path: str, method: str) -> None:
    assert _choice(INDEX[path], method, path) == _choice(TABLE, method, path)


def test_router_indexes_its_own_table() -> None:
    router = IndexedRouter(TABLE)
    assert router.fixed.keys() == INDEX.keys()


def test_routes_over_http(client: httpx.Client) -> None:
    """Fixed paths, their 405s, parameterised paths and the mount, through the server."""
    assert client.get("/healthz").json()["success"] is True
    r = client.post("/healthz")
    assert r.status_code == 405 and "POST" in r.json()["error"]["message"]
    r = client.get("/v1/events/chart", params={"metric": "duration"})
    assert r.status_code == 200 and r.json()["metric"] == "duration"
    r = client.get("/v1/events/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/nope").status_code == 404
