"""Folding log records into an event composes: any order, any split into updates, any resend
gives the same event (normalize/logs.py, the merge the store applies for every update)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from hivelog.event import Event, apply_update
from hivelog.normalize.logs import logs_to_updates
from hivelog.wire.otlp import LogIn

TRACE, SPAN = "ab" * 16, "cd" * 8
BASE = 1_700_000_000_000_000_000


def _record(n: int, name: str, body: object) -> LogIn:
    return LogIn(TRACE, SPAN, BASE + n, 9, "", name, body, {}, {}, "tests")


RECORDS = [
    _record(0, "gen_ai.system.message", {"content": "be brief"}),
    _record(1, "gen_ai.user.message", {"content": "hi — 日本"}),
    _record(2, "gen_ai.assistant.message", {"content": None, "tool_calls": [{"id": "c1"}]}),
    _record(3, "gen_ai.tool.message", {"content": "42", "id": "c1"}),
    _record(4, "gen_ai.choice", {"index": 1, "finish_reason": "stop", "message": {"content": "B"}}),
    _record(5, "gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "A"}}),
    _record(6, "", "a plain log line"),
    _record(7, "app.step", {"step": 3}),
]


def _fold(batches: list[list[LogIn]]) -> Event:
    event = Event(event_id="e", session_id="s", parent_id="s", event_type="model")
    for batch in batches:
        for update in logs_to_updates(batch, "p").updates["p"]:
            # through the encoding a parked update takes, as a store would
            apply_update(event, msgspec.json.decode(msgspec.json.encode(update), type=type(update)))
    return event


EXPECTED = _fold([RECORDS])


def test_messages_in_order_and_other_records_kept() -> None:
    assert EXPECTED.inputs["chat_history"] == [
        {"content": "be brief", "role": "system"},
        {"content": "hi — 日本", "role": "user"},
        {"content": None, "tool_calls": [{"id": "c1"}], "role": "assistant"},
        {"content": "42", "id": "c1", "role": "tool"},
    ]
    assert EXPECTED.outputs["content"] == "A"  # choice index 0 first, whatever came first
    assert [c["content"] for c in EXPECTED.outputs["choices"]] == ["A", "B"]
    assert [e.get("body") for e in EXPECTED.metadata["logs"]] == ["a plain log line", {"step": 3}]


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(len(RECORDS))), st.lists(st.integers(1, 4), min_size=8))
def test_any_order_and_split_and_resend_converge(order: list[int], cuts: list[int]) -> None:
    shuffled = [RECORDS[i] for i in order]
    batches: list[list[LogIn]] = []
    i = 0
    for size in cuts:
        if i >= len(shuffled):
            break
        batches.append(shuffled[i : i + size])
        i += size
    if i < len(shuffled):
        batches.append(shuffled[i:])
    batches.append(shuffled[: len(shuffled) // 2])  # a resend of some of them
    got = _fold(batches)
    # records have times of their own, so the in-request position never decides the order
    assert got.inputs == EXPECTED.inputs
    assert got.outputs == EXPECTED.outputs
    assert [e.get("body") for e in got.metadata["logs"]] == ["a plain log line", {"step": 3}]
