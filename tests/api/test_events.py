"""Events: create, update (merge/replace), idempotency, and order-free arrival."""

from __future__ import annotations

import httpx

from tests.helpers import export, get_event, is_, post_ok, session_events, uid


def _event(project: str, sid: str, **fields: object) -> dict[str, object]:
    return {
        "project": project,
        "session_id": sid,
        "event_type": "tool",
        "event_name": "search",
        "source": "test",
        "config": {"index": "docs"},
        "inputs": {"query": "hello"},
        "duration": 12.0,
        **fields,
    }


def test_create_event_and_read_it_back(client: httpx.Client, project: str) -> None:
    sid = post_ok(client, "/session/start", {"session": {"project": project}})["session_id"]
    eid = uid()
    out = post_ok(
        client,
        "/events",
        {"event": _event(project, sid, event_id=eid, start_time=1000, outputs={"r": [1, 2]})},
    )
    assert out == {"success": True, "event_id": eid, "session_id": sid}
    e = get_event(client, project, eid)
    assert e["parent_id"] == sid  # defaults to the session
    assert e["event_type"] == "tool" and e["event_name"] == "search"
    assert e["start_time"] == 1000 and e["end_time"] == 1012 and e["duration"] == 12.0
    assert e["config"] == {"index": "docs"} and e["outputs"] == {"r": [1, 2]}
    assert e["children_ids"] == []
    session = get_event(client, project, sid)
    assert session["children_ids"] == [eid]


def test_generated_ids_and_event_without_session_gets_its_own(
    client: httpx.Client, project: str
) -> None:
    out = post_ok(
        client, "/events", {"event": {"project": project, "event_type": "chain", "inputs": {}}}
    )
    assert out["event_id"] and out["session_id"] and out["event_id"] != out["session_id"]
    session = get_event(client, project, out["session_id"])
    assert session["event_type"] == "session"
    assert session["children_ids"] == [out["event_id"]]


def test_same_event_twice_is_one_event(client: httpx.Client, project: str) -> None:
    sid, eid = uid(), uid()
    body = {"event": _event(project, sid, event_id=eid)}
    post_ok(client, "/events", body)
    post_ok(client, "/events", body)
    assert len(export(client, project, is_("event_id", eid))) == 1
    assert get_event(client, project, sid)["children_ids"] == [eid]


def test_update_merges_and_outputs_replace(client: httpx.Client, project: str) -> None:
    sid, eid = uid(), uid()
    post_ok(
        client,
        "/events",
        {
            "event": _event(
                project,
                sid,
                event_id=eid,
                metadata={"a": 1, "b": 1},
                outputs={"x": 1, "y": 2},
                feedback={"rating": 1},
            )
        },
    )
    r = client.put(
        "/events",
        json={
            "event_id": eid,
            "project": project,
            "metadata": {"b": 2, "c": 3},
            "outputs": {"z": 9},
            "feedback": {"comment": "ok"},
            "metrics": {"score": 0.5},
            "user_properties": {"user": "u"},
            "config": {"temperature": 0.1},
            "duration": 99,
        },
    )
    assert r.status_code == 200 and r.json()["success"] is True
    e = get_event(client, project, eid)
    assert e["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert e["outputs"] == {"z": 9}
    assert e["feedback"] == {"rating": 1, "comment": "ok"}
    assert e["metrics"] == {"score": 0.5}
    assert e["user_properties"] == {"user": "u"}
    assert e["config"] == {"index": "docs", "temperature": 0.1}
    assert e["duration"] == 99
    # outputs: null keeps the old value
    client.put(
        "/events", json={"event_id": eid, "project": project, "outputs": None, "metadata": {"d": 4}}
    )
    e = get_event(client, project, eid)
    assert e["outputs"] == {"z": 9} and e["metadata"]["d"] == 4


def test_update_before_the_event_exists_is_folded_when_it_arrives(
    client: httpx.Client, project: str
) -> None:
    sid, eid = uid(), uid()
    assert (
        client.put(
            "/events",
            json={
                "event_id": eid,
                "project": project,
                "metadata": {"late": True},
                "outputs": {"o": 1},
            },
        ).status_code
        == 200
    )
    assert (
        client.put(
            "/events", json={"event_id": eid, "project": project, "metadata": {"second": 2}}
        ).status_code
        == 200
    )
    assert export(client, project, is_("event_id", eid)) == []
    post_ok(
        client,
        "/events",
        {"event": _event(project, sid, event_id=eid, metadata={"own": 1}, outputs={"o": 0})},
    )
    e = get_event(client, project, eid)
    assert e["metadata"] == {"own": 1, "late": True, "second": 2}
    assert e["outputs"] == {"o": 1}
    # a resend after folding changes nothing and does not re-apply anything
    post_ok(client, "/events", {"event": _event(project, sid, event_id=eid, metadata={"own": 1})})
    assert get_event(client, project, eid)["metadata"] == {"own": 1, "late": True, "second": 2}


def test_session_referenced_before_it_starts(client: httpx.Client, project: str) -> None:
    sid, eid = uid(), uid()
    post_ok(client, "/events", {"event": _event(project, sid, event_id=eid)})
    placeholder = get_event(client, project, sid)
    assert placeholder["event_type"] == "session" and placeholder["children_ids"] == [eid]
    # enrich_session before start: PUT with event_id = session_id
    client.put(
        "/events", json={"event_id": sid, "project": project, "metadata": {"enriched": True}}
    )
    post_ok(
        client,
        "/session/start",
        {
            "session": {
                "project": project,
                "session_id": sid,
                "session_name": "real",
                "inputs": {"q": 1},
            }
        },
    )
    s = get_event(client, project, sid)
    assert s["event_name"] == "real" and s["inputs"] == {"q": 1}
    assert s["metadata"] == {"enriched": True}
    assert s["children_ids"] == [eid]
    assert len(session_events(client, project, sid)) == 2


def test_child_before_parent_builds_the_same_tree(client: httpx.Client, project: str) -> None:
    sid, parent, child, grandchild = uid(), uid(), uid(), uid()
    post_ok(
        client,
        "/events",
        {"event": _event(project, sid, event_id=grandchild, parent_id=child, start_time=3)},
    )
    post_ok(
        client,
        "/events",
        {"event": _event(project, sid, event_id=child, parent_id=parent, start_time=2)},
    )
    post_ok(
        client,
        "/events",
        {"event": _event(project, sid, event_id=parent, event_type="chain", start_time=1)},
    )
    post_ok(
        client,
        "/session/start",
        {"session": {"project": project, "session_id": sid, "start_time": 0}},
    )
    assert get_event(client, project, parent)["children_ids"] == [child]
    assert get_event(client, project, child)["children_ids"] == [grandchild]
    tree = client.get(f"/v1/sessions/{sid}", params={"project": project}).json()
    assert [c["event_id"] for c in tree["children"]] == [parent]
    assert tree["children"][0]["children"][0]["children"][0]["event_id"] == grandchild
    assert tree["metadata"]["num_events"] == 3


def test_children_ids_sent_by_the_client_are_kept(client: httpx.Client, project: str) -> None:
    sid, eid, other = uid(), uid(), uid()
    post_ok(client, "/events", {"event": _event(project, sid, event_id=eid, children_ids=[other])})
    assert get_event(client, project, eid)["children_ids"] == [other]
    client.put("/events", json={"event_id": eid, "project": project, "children_ids": [other, "x"]})
    assert get_event(client, project, eid)["children_ids"] == [other, "x"]


def test_v1_event_routes(client: httpx.Client, project: str) -> None:
    sid, eid = uid(), uid()
    out = post_ok(client, "/v1/events", _event(project, sid, event_id=eid))
    assert out["event_id"] == eid
    r = client.put(f"/v1/events/{eid}", json={"metadata": {"m": 1}}, params={"project": project})
    assert r.status_code == 200
    got = client.get(f"/v1/events/{eid}").json()
    assert got["event"]["metadata"] == {"m": 1}
    assert got["event_id"] == eid and got["children"] == []
    batch = post_ok(
        client,
        f"/v1/sessions/{sid}/events/batch",
        {
            "project": project,
            "events": [_event(project, "ignored", event_type="model"), _event(project, "ignored")],
        },
    )
    assert len(batch["event_ids"]) == 2
    assert {e["session_id"] for e in session_events(client, project, sid)} == {sid}
    assert len(session_events(client, project, sid)) == 4


def test_session_traces_route(client: httpx.Client, project: str) -> None:
    sid = uid()
    logs = post_ok(
        client, f"/session/{sid}/traces", {"project": project, "logs": [_event(project, sid)]}
    )
    events = post_ok(
        client, f"/session/{sid}/traces", {"project": project, "events": [_event(project, sid)]}
    )
    assert logs["success"] and events["success"]
    assert len(session_events(client, project, sid)) == 3
    both = client.post(f"/session/{sid}/traces", json={"logs": [], "events": []})
    assert both.status_code == 400


def test_times_as_iso_strings_and_floats(client: httpx.Client, project: str) -> None:
    eid = uid()
    post_ok(
        client,
        "/events",
        {
            "event": _event(
                project,
                uid(),
                event_id=eid,
                start_time="2026-01-02T03:04:05.500Z",
                end_time=1_767_323_046_000.4,
            )
        },
    )
    e = get_event(client, project, eid)
    assert e["start_time"] == 1_767_323_045_500 and e["end_time"] == 1_767_323_046_000
    assert e["duration"] == 12.0
