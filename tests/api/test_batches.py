"""Batch routes and model events: session grouping, field mapping, cost."""

from __future__ import annotations

import httpx

from tests.helpers import export, get_event, is_, post_ok, session_events, uid

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "こんにちは"}]
RESPONSE = {"role": "assistant", "content": "やあ"}


def _tool(name: str, **fields: object) -> dict[str, object]:
    return {"event_type": "tool", "event_name": name, "inputs": {"n": name}, **fields}


def test_single_session_batch(client: httpx.Client, project: str) -> None:
    out = post_ok(
        client,
        "/events/batch",
        {
            "project": project,
            "is_single_session": True,
            "session_properties": {
                "session_name": "batched",
                "source": "prod",
                "metadata": {"k": 1},
            },
            "events": [_tool("a"), _tool("b", session_id="ignored")],
        },
    )
    sid = out["session_id"]
    assert out["success"] and len(out["event_ids"]) == 2
    events = session_events(client, project, sid)
    assert len(events) == 3
    session = get_event(client, project, sid)
    assert session["event_name"] == "batched" and session["metadata"] == {"k": 1}
    assert sorted(session["children_ids"]) == sorted(out["event_ids"])


def test_data_plane_field_names(client: httpx.Client, project: str) -> None:
    sid = uid()
    out = post_ok(
        client,
        "/v1/events/batch",
        {
            "project": project,
            "single_session": True,
            "session": {"session_id": sid, "session_name": "dp"},
            "events": [_tool("a")],
        },
    )
    assert out["session_id"] == sid
    assert get_event(client, project, sid)["event_name"] == "dp"


def test_multi_session_batch_follows_each_events_session(
    client: httpx.Client, project: str
) -> None:
    s1, s2 = uid(), uid()
    out = post_ok(
        client,
        "/events/batch",
        {
            "project": project,
            "is_single_session": False,
            "events": [
                _tool("a", session_id=s1),
                _tool("b", session_id=s2),
                _tool("c", session_id=s1),
                _tool("lonely"),
            ],
        },
    )
    assert "session_id" not in out and len(out["event_ids"]) == 4
    assert len(session_events(client, project, s1)) == 3
    assert len(session_events(client, project, s2)) == 2
    lonely = get_event(client, project, out["event_ids"][3])
    assert lonely["session_id"] not in (s1, s2)
    assert get_event(client, project, lonely["session_id"])["event_type"] == "session"


def test_model_event_carries_both_shapes(client: httpx.Client, project: str) -> None:
    out = post_ok(
        client,
        "/events/model",
        {
            "model_event": {
                "project": project,
                "model": "gpt-4o",
                "provider": "openai",
                "messages": MESSAGES,
                "response": RESPONSE,
                "duration": 420,
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
                "hyperparameters": {"temperature": 0.2},
                "template": [{"role": "system", "content": "{{x}}"}],
                "template_inputs": {"x": 1},
                "tools": [{"type": "function"}],
                "tool_choice": "auto",
            }
        },
    )
    e = get_event(client, project, out["event_id"])
    assert e["event_type"] == "model" and e["event_name"] == "gpt-4o"
    assert e["config"]["model"] == "gpt-4o" and e["config"]["provider"] == "openai"
    assert e["config"]["hyperparameters"] == {"temperature": 0.2}
    assert e["inputs"]["chat_history"] == MESSAGES and e["inputs"]["messages"] == MESSAGES
    for key in (
        "provider",
        "usage",
        "hyperparameters",
        "template",
        "template_inputs",
        "tools",
        "tool_choice",
        "duration",
    ):
        assert key in e["inputs"], key
    assert e["outputs"]["role"] == "assistant" and e["outputs"]["content"] == "やあ"
    assert e["outputs"]["response"] == RESPONSE
    md = e["metadata"]
    assert (md["prompt_tokens"], md["completion_tokens"], md["total_tokens"]) == (1000, 500, 1500)
    assert md["cost_status"] == "computed"
    assert abs(md["cost"] - 0.0075) < 1e-9  # 1000 × $2.50/M + 500 × $10/M
    assert e["duration"] == 420


def test_cost_sent_is_kept_and_unknown_model_is_unpriced(
    client: httpx.Client, project: str
) -> None:
    given = post_ok(
        client,
        "/events/model",
        {
            "model_event": {
                "project": project,
                "model": "gpt-4o",
                "usage": {"prompt_tokens": 10},
                "cost": 1.25,
            }
        },
    )
    assert get_event(client, project, given["event_id"])["metadata"]["cost"] == 1.25
    unknown = post_ok(
        client,
        "/events/model",
        {
            "model_event": {
                "project": project,
                "model": "my-own-finetune-xyz",
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }
        },
    )
    md = get_event(client, project, unknown["event_id"])["metadata"]
    assert "cost" not in md and md["cost_status"] == "unpriced"
    assert md["total_tokens"] == 15
    # a model event logged through POST /events is priced the same way
    plain = post_ok(
        client,
        "/events",
        {
            "event": {
                "project": project,
                "event_type": "model",
                "config": {"model": "gpt-4o"},
                "metadata": {"prompt_tokens": 1000, "completion_tokens": 500},
            }
        },
    )
    assert abs(get_event(client, project, plain["event_id"])["metadata"]["cost"] - 0.0075) < 1e-9


def test_model_batch_gives_each_event_its_own_session(client: httpx.Client, project: str) -> None:
    items = [
        {
            "model": "gpt-4o-mini",
            "messages": MESSAGES,
            "response": RESPONSE,
            "usage": {"prompt_tokens": 3},
        }
        for _ in range(3)
    ]
    out = post_ok(client, "/events/model/batch", {"project": project, "model_events": items})
    sessions = {get_event(client, project, eid)["session_id"] for eid in out["event_ids"]}
    assert len(sessions) == 3
    single = post_ok(
        client,
        "/events/model/batch",
        {
            "project": project,
            "model_events": items,
            "is_single_session": True,
            "session_properties": {"session_name": "llm"},
        },
    )
    assert len(session_events(client, project, single["session_id"])) == 4


def test_a_bad_item_rejects_the_whole_batch_and_names_it(
    client: httpx.Client, project: str
) -> None:
    r = client.post(
        "/events/batch",
        json={
            "project": project,
            "events": [_tool("ok", event_id="keep-out"), {"event_type": "dance"}],
        },
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["where"] == "$.events[1].event_type" and "dance" in err["message"]
    assert export(client, project, is_("event_id", "keep-out")) == []
