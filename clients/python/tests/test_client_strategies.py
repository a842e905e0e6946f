"""The guide's four logging strategies, end to end against a real hivelog."""

from __future__ import annotations

import time

from conftest import Server
from hivelog_client import BatchLogger, HivelogError, Logger


def by_id(events: list[dict]) -> dict[str, dict]:
    return {e["event_id"]: e for e in events}


def test_sync_llm(server: Server, project: str) -> None:
    logger = Logger(server.url, project=project, source="test")
    sid = logger.start_session("chat", inputs={"topic": "orders"})
    eid = logger.log_model(
        "gpt-4o",
        provider="openai",
        messages=[{"role": "user", "content": "Where is my order?"}],
        response={"role": "assistant", "content": "It ships today."},
        usage={"prompt_tokens": 12, "completion_tokens": 6},
        duration=840,
    )
    logger.close()
    events = by_id(server.export(project))
    assert set(events) == {sid, eid}
    session, model = events[sid], events[eid]
    assert session["event_type"] == "session" and session["event_name"] == "chat"
    assert session["inputs"] == {"topic": "orders"} and session["source"] == "test"
    assert model["event_type"] == "model" and model["session_id"] == sid
    assert model["parent_id"] == sid
    assert model["config"]["model"] == "gpt-4o"
    assert model["inputs"]["chat_history"][0]["content"] == "Where is my order?"
    assert model["outputs"]["content"] == "It ships today."
    assert model["metadata"]["total_tokens"] == 18
    assert model["duration"] == 840


def test_a_call_logged_with_its_duration_ended_when_logged(server: Server, project: str) -> None:
    """The guide's sync strategy logs a call after it returns, with its duration: the call
    ran for the `duration` just past, it does not run into the future."""
    logger = Logger(server.url, project=project)
    before = time.time() * 1000
    model = logger.log_model("gpt-4o", usage={"prompt_tokens": 1}, duration=840)
    tool = logger.log_tool("search", duration=120)
    after = time.time() * 1000
    events = by_id(server.export(project))
    for eid, duration in ((model, 840), (tool, 120)):
        e = events[eid]
        assert e["end_time"] - e["start_time"] == duration
        assert before - 1 <= e["end_time"] <= after + 1


def test_sync_llm_and_tools(server: Server, project: str) -> None:
    logger = Logger(server.url, project=project)
    sid = logger.start_session("agent")
    chain = logger.log_chain("answer", inputs={"question": "q"})
    tool = logger.log_tool(
        "order-db", parent_id=chain, inputs={"user": "u1"}, outputs={"status": "shipped"}
    )
    model = logger.log_model("gpt-4o-mini", parent_id=chain, messages=[], response={"a": 1})
    logger.update(chain, feedback={"rating": 5}, metrics={"ok": True}, outputs={"answer": "x"})
    logger.update(sid, metadata={"finished": True})
    events = by_id(server.export(project))
    assert set(events) == {sid, chain, tool, model}
    assert events[tool]["parent_id"] == chain and events[model]["parent_id"] == chain
    assert events[chain]["parent_id"] == sid
    assert sorted(events[chain]["children_ids"]) == sorted([tool, model])
    assert events[chain]["feedback"] == {"rating": 5}
    assert events[chain]["outputs"] == {"answer": "x"}
    assert events[sid]["metadata"]["finished"] is True
    assert events[tool]["event_type"] == "tool" and events[tool]["outputs"]["status"] == "shipped"


def test_sync_logger_raises_on_refusal(server: Server, project: str) -> None:
    logger = Logger(server.url, project=project)
    try:
        logger.log_event("tool", "x", start_time="not a time")
    except HivelogError as exc:
        assert exc.status == 400
    else:
        raise AssertionError("a refused event must raise in the sync logger")


def test_async_llm_and_tools(server: Server, project: str) -> None:
    logger = BatchLogger(server.url, project=project, flush_interval=0.2)
    with logger.session("async chat") as sid:
        tool = logger.log_tool("search", inputs={"q": "x"}, outputs={"hits": 3})
        model = logger.log_model(
            "gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            response={"role": "assistant", "content": "hello"},
        )
    logger.update(tool, metrics={"recall": 0.5})
    assert logger.flush(timeout=20)
    logger.close()
    events = by_id(server.export(project))
    assert set(events) == {sid, tool, model}
    assert events[sid]["event_name"] == "async chat"
    assert events[tool]["session_id"] == sid and events[model]["session_id"] == sid
    assert events[tool]["metrics"] == {"recall": 0.5}
    assert events[model]["config"]["model"] == "gpt-4o"
    stats = logger.stats()
    assert stats["sent"] == 4 and stats["dropped_full"] == stats["dropped_failed"] == 0


def test_async_batching_of_many_sessions(server: Server, project: str) -> None:
    logger = BatchLogger(server.url, project=project, batch_size=1000, flush_interval=5.0)
    expected: dict[str, str] = {}
    for s in range(200):
        sid = logger.start_session(f"s{s}", metadata={"n": s})
        expected[sid] = sid
        for i in range(4):
            expected[logger.log_tool(f"t{i}", session_id=sid, inputs={"i": i})] = sid
        expected[logger.log_model("gpt-4o", session_id=sid, messages=[], response={})] = sid
    logger.close()
    stats = logger.stats()
    assert stats["sent"] == len(expected) == 1200
    # Two flushes (at 1000 waiting, then at close), each one /events/batch request and one
    # /events/model/batch request: 1200 events in 4 requests.
    assert stats["requests"] <= 4, stats
    events = by_id(server.export(project))
    assert {eid: e["session_id"] for eid, e in events.items()} == expected
    assert sum(e["event_type"] == "session" for e in events.values()) == 200
