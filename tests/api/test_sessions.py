"""POST /session/start in every shape real clients send, and the session reads."""

from __future__ import annotations

import json

import httpx

from tests.helpers import export, is_, post_ok, uid

REQUIRED = ("event_id", "session_id", "org_id", "workspace_id", "project_id")


def test_wrapped_session_start_returns_the_full_session_event(
    client: httpx.Client, project: str
) -> None:
    sid = uid()
    body = {
        "session": {
            "project": project,
            "session_name": "chat",
            "source": "dev",
            "session_id": sid,
            "inputs": {"q": "hi"},
            "metadata": {"git": "abc"},
            "user_properties": {"user_id": "u1"},
            "start_time": 1_795_778_365_045.0,
        }
    }
    out = post_ok(client, "/session/start", body)
    for key in REQUIRED:
        assert isinstance(out[key], str) and out[key], key
    assert out["event_id"] == out["session_id"] == sid
    assert out["event_type"] == "session"
    assert out["event_name"] == "chat"
    assert out["parent_id"] is None
    assert out["start_time"] == 1_795_778_365_045
    stored = client.get(f"/session/{sid}", params={"project": project}).json()
    assert stored["event_id"] == sid
    assert stored["inputs"] == {"q": "hi"}
    assert stored["metadata"] == {"git": "abc"}
    assert stored["user_properties"] == {"user_id": "u1"}
    assert stored["project_id"] == out["project_id"]


def test_flat_and_json_string_session_bodies(client: httpx.Client, project: str) -> None:
    flat = post_ok(
        client, "/session/start", {"project": project, "session_name": "flat", "source": "x"}
    )
    assert flat["event_name"] == "flat" and flat["source"] == "x"
    text = json.dumps({"project": project, "session_name": "stringly"})
    stringly = post_ok(client, "/session/start", {"session": text})
    assert stringly["event_name"] == "stringly"
    assert stringly["project_id"] == flat["project_id"]
    assert stringly["session_id"] != flat["session_id"]


def test_defaults_when_nothing_is_given(client: httpx.Client, project: str) -> None:
    out = post_ok(client, "/session/start", {"session": {"project": project}})
    assert out["event_name"] == "unknown" and out["source"] == "unknown"
    assert out["start_time"] > 1_700_000_000_000


def test_same_session_started_twice_is_one_session(client: httpx.Client, project: str) -> None:
    sid = uid()
    for _ in range(2):
        post_ok(
            client,
            "/session/start",
            {"session": {"project": project, "session_id": sid, "session_name": "a"}},
        )
    assert len(export(client, project, is_("session_id", sid))) == 1


def test_v1_sessions_create(client: httpx.Client, project: str) -> None:
    sid = uid()
    out = post_ok(
        client, "/v1/sessions", {"project": project, "session_id": sid, "session_name": "v1"}
    )
    assert out["session_id"] == sid and out["event_id"] == sid
    assert client.get(f"/session/{sid}").json()["event_name"] == "v1"  # project found from the id


def test_project_defaults_and_isolation(client: httpx.Client, project: str) -> None:
    other = project + "-other"
    a = post_ok(client, "/session/start", {"session": {"project": project}})
    b = post_ok(client, "/session/start", {"session": {"project": other}})
    assert a["project_id"] != b["project_id"]
    assert [e["session_id"] for e in export(client, project)] == [a["session_id"]]
    assert [e["session_id"] for e in export(client, other)] == [b["session_id"]]
    assert client.get(f"/session/{a['session_id']}", params={"project": other}).status_code == 404
    d = post_ok(client, "/session/start", {"session": {}})
    assert (
        client.get(f"/session/{d['session_id']}", params={"project": "default"}).status_code == 200
    )


def test_unknown_session_is_404_with_json(client: httpx.Client) -> None:
    r = client.get(f"/session/{uid()}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
