"""Export, search and GET /events: every operator, dotted fields, dates, projections, paging;
the session tree with aggregates; deleting a session."""

from __future__ import annotations

import json

import httpx
import pytest

from hivelog.query.filters import MAX_LIMIT
from tests.helpers import export, is_, post_ok, uid


@pytest.fixture()
def seeded(client: httpx.Client, project: str) -> dict[str, str]:
    """One session: a chain with a model child and a tool child, at known times."""
    sid, chain, model, tool = uid(), uid(), uid(), uid()
    post_ok(
        client,
        "/session/start",
        {"session": {"project": project, "session_id": sid, "start_time": 1_000_000}},
    )
    events = [
        {
            "event_id": chain,
            "event_type": "chain",
            "event_name": "answer",
            "start_time": 1_000_100,
            "duration": 900,
        },
        {
            "event_id": model,
            "parent_id": chain,
            "event_type": "model",
            "event_name": "gpt",
            "start_time": 1_000_200,
            "duration": 500,
            "config": {"model": "gpt-4o"},
            "metadata": {
                "cost": 0.5,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
            },
            "inputs": {"chat_history": [{"role": "user", "content": "Привет, мир"}]},
            "feedback": {"rating": 5},
        },
        {
            "event_id": tool,
            "parent_id": chain,
            "event_type": "tool",
            "event_name": "search",
            "start_time": 1_000_300,
            "duration": 50,
            "metadata": {"cost": 0.25, "hits": 3, "flag": True},
            "error": "timeout",
        },
    ]
    post_ok(
        client,
        "/events/batch",
        {"project": project, "events": [{**e, "session_id": sid} for e in events]},
    )
    return {"sid": sid, "chain": chain, "model": model, "tool": tool}


def _ids(events: list[dict[str, object]]) -> set[object]:
    return {e["event_id"] for e in events}


def f(
    field: str, operator: str, value: object = None, type_: str | None = None
) -> dict[str, object]:
    out: dict[str, object] = {"field": field, "operator": operator, "value": value}
    if type_:
        out["type"] = type_
    return out


def test_every_operator(client: httpx.Client, project: str, seeded: dict[str, str]) -> None:
    s = seeded
    cases = [
        (f("event_type", "is", "model", "string"), {s["model"]}),
        (f("event_type", "is not", "session"), {s["chain"], s["model"], s["tool"]}),
        (f("event_name", "contains", "EAR"), {s["tool"]}),
        (f("event_name", "not contains", "a"), {s["sid"], s["model"]}),
        (f("metadata.cost", "greater than", 0.3, "number"), {s["model"]}),
        (f("metadata.cost", "less than", "0.3", "number"), {s["tool"]}),
        (f("metadata.cost", "is", 0.25), {s["tool"]}),
        (f("metadata.hits", "exists"), {s["tool"]}),
        (f("metadata.hits", "not exists"), {s["sid"], s["chain"], s["model"]}),
        (f("metadata.flag", "is", True, "boolean"), {s["tool"]}),
        (f("metadata.flag", "is", "true", "boolean"), {s["tool"]}),
        (f("duration", "greater than", 100), {s["chain"], s["model"]}),
        (f("start_time", "after", 1_000_150, "datetime"), {s["model"], s["tool"]}),
        (f("start_time", "before", "1970-01-01T00:16:40.150Z", "datetime"), {s["sid"], s["chain"]}),
        (f("inputs.chat_history.0.content", "contains", "мир"), {s["model"]}),
        (f("config.model", "is", "gpt-4o"), {s["model"]}),
        (f("error", "exists"), {s["tool"]}),
        (f("parent_id", "is", s["chain"]), {s["model"], s["tool"]}),
        (f("feedback.rating", "greater than", 4), {s["model"]}),
        (f("event_name", "=", "gpt"), {s["model"]}),
    ]
    for flt, expected in cases:
        got = _ids(
            export(
                client, project, {"field": "session_id", "operator": "is", "value": s["sid"]}, flt
            )
        )
        assert got == expected, flt


def test_filters_are_anded_and_date_range_applies(
    client: httpx.Client, project: str, seeded: dict[str, str]
) -> None:
    got = export(
        client,
        project,
        f("event_type", "is not", "session"),
        f("metadata.cost", "exists"),
        dateRange={"$gte": 1_000_250, "$lte": "1970-01-01T00:16:40.400Z"},
    )
    assert _ids(got) == {seeded["tool"]}
    assert len(export(client, project, dateRange={})) == 4  # an empty range, as one SDK sends


def test_projections_limit_and_page(
    client: httpx.Client, project: str, seeded: dict[str, str]
) -> None:
    got = export(
        client, project, projections=["event_id", "event_type", "metadata.cost"], limit=2, page=1
    )
    assert len(got) == 2
    assert set(got[1]) <= {"event_id", "event_type", "metadata"}
    page2 = client.post(
        "/events/export", json={"project": project, "filters": [], "limit": 2.0, "page": 2.0}
    ).json()
    assert page2["totalEvents"] == 4 and len(page2["events"]) == 2
    assert _ids(got).isdisjoint(_ids(page2["events"]))
    ordered = export(client, project)
    assert [e["start_time"] for e in ordered] == sorted(e["start_time"] for e in ordered)


def test_v1_export_search_and_get_events(
    client: httpx.Client, project: str, seeded: dict[str, str]
) -> None:
    flt = [f("event_type", "is", "tool")]
    for path in ("/v1/events/export", "/v1/events/search"):
        r = client.post(path, json={"project": project, "filters": flt}).json()
        assert _ids(r["events"]) == {seeded["tool"]} and r["count"] == 1
    r = client.get(
        "/events",
        params={
            "project": project,
            "filters": json.dumps(flt),
            "projections": "event_id,event_name",
            "limit": 5,
        },
    ).json()
    assert r["events"] == [{"event_id": seeded["tool"], "event_name": "search"}]
    r = client.get(
        "/events", params={"project": project, "dateRange": json.dumps({"$gte": 1_000_250})}
    ).json()
    assert r["totalEvents"] == 1


def test_export_without_project_finds_it_from_the_session(
    client: httpx.Client, project: str, seeded: dict[str, str]
) -> None:
    r = client.post(
        "/v1/events/export",
        json={
            "filters": [
                {"field": "session_id", "operator": "is", "value": seeded["sid"], "type": "string"}
            ],
            "limit": 1000,
            "page": 1,
        },
    )
    assert r.json()["totalEvents"] == 4


def test_bad_filters_say_where(client: httpx.Client, project: str) -> None:
    cases = [
        ({"filters": [f("event_type", "resembles", "x")]}, "$.filters[0].operator"),
        ({"filters": [f("nonsense", "is", "x")]}, "$.filters[0].field"),
        (
            {"filters": [f("metadata.cost", "greater than", "cheap", "number")]},
            "$.filters[0].value",
        ),
        ({"filters": [{"operator": "is"}]}, "$.filters[0]"),
        ({"dateRange": {"$gte": "last tuesday"}}, "$.dateRange.$gte"),
        ({"limit": 0}, "$.limit"),
    ]
    for body, where in cases:
        r = client.post("/events/export", json={"project": project, **body})
        assert r.status_code == 400, body
        assert r.json()["error"]["where"] == where, r.json()


def test_session_tree_with_aggregates(
    client: httpx.Client, project: str, seeded: dict[str, str]
) -> None:
    for path in (f"/v1/sessions/{seeded['sid']}", f"/v1/events/{seeded['sid']}"):
        tree = client.get(path, params={"project": project}).json()
        assert tree["event_id"] == seeded["sid"] and tree["project_id"] and tree["org_id"]
        md = tree["metadata"]
        assert md["num_events"] == 3 and md["num_model_events"] == 1 and md["has_feedback"] is True
        assert md["cost"] == 0.75 and md["total_tokens"] == 15
        assert md["prompt_tokens"] == 10 and md["completion_tokens"] == 5
        (chain,) = tree["children"]
        assert chain["event_id"] == seeded["chain"]
        assert [c["event_id"] for c in chain["children"]] == [seeded["model"], seeded["tool"]]
    sub = client.get(f"/v1/events/{seeded['chain']}").json()
    assert sub["event"]["event_id"] == seeded["chain"] and len(sub["children"]) == 2
    assert client.get(f"/v1/sessions/{uid()}").status_code == 404


def test_delete_session_removes_it_and_all_its_events(
    client: httpx.Client, project: str, seeded: dict[str, str]
) -> None:
    keep = post_ok(client, "/session/start", {"session": {"project": project}})["session_id"]
    r = client.delete(f"/session/{seeded['sid']}", params={"project": project})
    assert (
        r.status_code == 200
        and r.json()["deleted"] == seeded["sid"]
        and r.json()["deleted_events"] == 4
    )
    assert export(client, project) == export(client, project, f("session_id", "is", keep))
    assert (
        client.delete(f"/v1/sessions/{seeded['sid']}", params={"project": project}).status_code
        == 404
    )
    r = client.delete(f"/v1/sessions/{keep}")
    assert r.status_code == 200 and r.json()["success"] is True
    assert export(client, project) == []


def test_children_of_a_page_of_many_sessions(client: httpx.Client, project: str) -> None:
    """A page of events from many sessions gets each event's children from its own session
    only: an event id named as parent in another session is not its child there."""
    sessions = [uid() for _ in range(30)]
    parents = {sid: uid() for sid in sessions}
    kids = {sid: uid() for sid in sessions}
    stray = uid()  # in the second session, naming the first session's chain as its parent
    events: list[dict[str, object]] = []
    for n, sid in enumerate(sessions):
        events.append({"event_id": parents[sid], "session_id": sid, "event_type": "chain",
                       "event_name": "c", "start_time": 2_000_000 + n, "duration": 5})  # fmt: skip
        events.append({"event_id": kids[sid], "session_id": sid, "parent_id": parents[sid],
                       "event_type": "tool", "event_name": "t", "start_time": 2_000_100 + n,
                       "duration": 1})  # fmt: skip
    events.append({"event_id": stray, "session_id": sessions[1], "parent_id": parents[sessions[0]],
                   "event_type": "tool", "event_name": "t", "start_time": 2_000_200,
                   "duration": 1})  # fmt: skip
    post_ok(client, "/events/batch", {"project": project, "events": events})
    found = export(client, project, {"field": "event_type", "operator": "is",
                                     "value": "chain", "type": "string"}, limit=100)  # fmt: skip
    by_id = {e["event_id"]: e for e in found}
    assert len(by_id) == 30
    for sid in sessions:
        assert by_id[parents[sid]]["children_ids"] == [kids[sid]], sid


def test_a_full_page_of_events_from_as_many_sessions(client: httpx.Client, project: str) -> None:
    """The largest page (MAX_LIMIT events), each event in a session of its own: the store's
    statements name every id of the page and of its sessions, longer than a SQL engine's
    default statement size (ClickHouse: 256 KiB), and the page still reads whole."""
    chains = {uid(): uid() for _ in range(MAX_LIMIT)}  # chain id: its session
    events = [
        {"event_id": eid, "session_id": sid, "event_type": "chain", "event_name": "c",
         "start_time": 3_000_000 + n, "duration": 1}
        for n, (eid, sid) in enumerate(chains.items())
    ]  # fmt: skip
    last, child = list(chains)[-1], uid()
    events.append({"event_id": child, "session_id": chains[last], "parent_id": last,
                   "event_type": "tool", "event_name": "t", "start_time": 2_000_000,
                   "duration": 1})  # fmt: skip
    for at in range(0, len(events), 1000):
        post_ok(client, "/events/batch", {"project": project, "events": events[at : at + 1000]})
    found = export(client, project, is_("event_type", "chain"), limit=MAX_LIMIT)
    by_id = {e["event_id"]: e for e in found}
    assert sorted(by_id) == sorted(chains)
    assert by_id[last]["children_ids"] == [child]
    assert sum(len(e["children_ids"]) for e in found) == 1
