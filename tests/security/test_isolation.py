"""A key of one project sees nothing of another: every read route (taken from the route table,
so a new route is covered the day it is added), with the first project's ids, by a second
project's key, returns nothing of the first; deletes and updates through it change nothing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from hivelog.routes import API
from tests.conftest import Server
from tests.security.keyed import create_key, keyed_client

SECRET = "secret-of-the-first-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def two_projects(database: str) -> Iterator[tuple[Server, str, str, dict[str, str]]]:
    alpha = create_key(database, "alpha")
    beta = create_key(database, "beta")
    srv = Server(database)
    srv.start()
    session_id, model_id, tool_id = (str(uuid.uuid4()) for _ in range(3))
    with keyed_client(srv, alpha) as c:
        r = c.post(
            "/session/start",
            json={
                "session": {
                    "session_id": session_id,
                    "session_name": SECRET,
                    "source": "t",
                    "metadata": {"note": SECRET},
                }
            },
        )
        assert r.status_code == 200, r.text
        r = c.post(
            "/events/batch",
            json={
                "events": [
                    {
                        "event_id": model_id,
                        "session_id": session_id,
                        "event_type": "model",
                        "event_name": SECRET,
                        "config": {"model": "gpt-4o"},
                        "inputs": {"q": SECRET},
                        "metadata": {"prompt_tokens": 3, "completion_tokens": 4},
                    },
                    {
                        "event_id": tool_id,
                        "session_id": session_id,
                        "parent_id": model_id,
                        "event_type": "tool",
                        "event_name": "search",
                        "outputs": {"a": SECRET},
                    },
                ]
            },
        )
        assert r.status_code == 200, r.text
        assert (
            c.put("/events", json={"event_id": tool_id, "feedback": {"ok": SECRET}}).status_code
            == 200
        )
        # alpha sees its own data
        tree = c.get(f"/v1/sessions/{session_id}")
        assert tree.status_code == 200 and SECRET in tree.text
    ids = {"session_id": session_id, "event_id": model_id, "tool_id": tool_id}
    yield srv, alpha, beta, ids
    srv.stop()


def _leaks(response: httpx.Response, ids: dict[str, str]) -> list[str]:
    """What of alpha's the response holds, beyond the ids the request itself sent (a 404 may
    name the id it did not find)."""
    asked = str(response.request.url) + response.request.content.decode()
    from urllib.parse import unquote

    asked = unquote(asked)
    return [w for w in (SECRET, *ids.values()) if w in response.text and w not in asked]


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), ids["event_id"]), path)


def test_every_read_route_with_another_projects_key_returns_nothing(
    two_projects: tuple[Server, str, str, dict[str, str]],
) -> None:
    srv, _, beta, ids = two_projects
    filters = json.dumps([{"field": "session_id", "operator": "is", "value": ids["session_id"]}])
    tried: list[str] = []
    with keyed_client(srv, beta) as c:
        reads = [a for a in API if a.method == "GET" and a.tag != "service"]
        reads += [
            a for a in API if a.method == "POST" and ("export" in a.path or "search" in a.path)
        ]
        for api in reads:
            path = _fill(api.path, ids)
            for params in ({}, {"filters": filters}):
                if api.method == "GET":
                    r = c.get(path, params=params)
                else:
                    body = (
                        {
                            "filters": [
                                {
                                    "field": "session_id",
                                    "operator": "is",
                                    "value": ids["session_id"],
                                }
                            ]
                        }
                        if params
                        else {}
                    )
                    r = c.post(path, json=body)
                assert r.status_code in (200, 400, 404), (api.path, r.status_code, r.text)
                assert not _leaks(r, ids), (api.path, params, r.text[:500])
                tried.append(f"{api.method} {api.path}")
        # the chart and the web UI, with the session and event ids in their paths
        for path in (
            "/v1/events/chart?metric=duration&aggregation=count&bucket=day",
            f"/v1/events/chart?metric=duration&aggregation=count&bucket=day&filters={filters}",
            "/ui/sessions",
            "/ui/events",
            "/ui/dashboard",
            f"/ui/sessions?q={SECRET}",
            f"/ui/sessions/{ids['session_id']}",
            f"/ui/event/{ids['event_id']}",
            f"/ui/event/{ids['tool_id']}",
            f"/ui/events?q={SECRET}",
        ):
            r = c.get(path)
            assert r.status_code in (200, 404), (path, r.status_code, r.text[:300])
            assert not _leaks(r, ids), (path, r.text[:500])
            assert "alpha" not in r.text, path  # not even the project's name
            tried.append(path)
    assert len(tried) >= 20


def test_delete_and_update_with_another_projects_key_change_nothing(
    two_projects: tuple[Server, str, str, dict[str, str]],
) -> None:
    srv, alpha, beta, ids = two_projects
    with keyed_client(srv, beta) as c:
        for path in ("/session/{session_id}", "/v1/sessions/{session_id}"):
            r = c.delete(_fill(path, ids))
            assert r.status_code == 404, r.text
        r = c.put("/events", json={"event_id": ids["tool_id"], "outputs": {"a": "overwritten"}})
        assert r.status_code in (200, 404)
        r = c.put(
            f"/v1/events/{ids['model_id'] if 'model_id' in ids else ids['event_id']}",
            json={"metadata": {"note": "overwritten"}},
        )
        assert r.status_code in (200, 404)
    with keyed_client(srv, alpha) as c:
        tree = c.get(f"/v1/sessions/{ids['session_id']}").json()
        assert tree["metadata"]["note"] == SECRET
        tool = c.post(
            "/events/export",
            json={"filters": [{"field": "event_id", "operator": "is", "value": ids["tool_id"]}]},
        ).json()["events"]
        assert tool[0]["outputs"] == {"a": SECRET}
        model = c.post(
            "/events/export",
            json={"filters": [{"field": "event_id", "operator": "is", "value": ids["event_id"]}]},
        ).json()["events"]
        assert "overwritten" not in str(model)
