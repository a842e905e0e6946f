"""A resend that names another session, in a batch with new events of that session.

The first arrival of an event id wins, so the resend changes nothing; the batch's other events
that name the new session are stored, and so is their session (its placeholder row), as when
each event comes alone. The placeholder used to be checked against the first event naming the
session only, which here is the ignored resend, so the session row was missing.

On every backend: ClickHouse keys its rows by (session, event), and finds a resend by its id
alone in `event_ids` (migration m0010), so there too the resend is not stored a second time.
"""

from __future__ import annotations

import httpx

from tests.helpers import get_event, post_ok, session_events, uid


def _tool(name: str, event_id: str, session_id: str) -> dict[str, object]:
    return {
        "event_type": "tool",
        "event_name": name,
        "event_id": event_id,
        "session_id": session_id,
    }


def test_a_session_first_named_by_an_ignored_resend_is_still_stored(
    client: httpx.Client, project: str
) -> None:
    old_session, new_session, resent = uid(), uid(), uid()
    post_ok(
        client, "/events/batch", {"project": project, "events": [_tool("a", resent, old_session)]}
    )
    later = [uid(), uid()]
    post_ok(
        client,
        "/events/batch",
        {
            "project": project,
            "events": [
                _tool("a again", resent, new_session),
                *(_tool("b", e, new_session) for e in later),
            ],
        },
    )
    first = get_event(client, project, resent)
    assert (first["session_id"], first["event_name"]) == (old_session, "a")  # nothing changed
    assert get_event(client, project, new_session)["event_type"] == "session"
    assert {e["event_id"] for e in session_events(client, project, new_session)} == {
        new_session,
        *later,
    }


def test_a_resend_alone_leaves_no_session_behind(client: httpx.Client, project: str) -> None:
    """The rule the placeholder check keeps: an ignored resend naming a new session, with
    nothing else in that session, leaves no session row behind."""
    old_session, new_session, resent = uid(), uid(), uid()
    for session in (old_session, new_session):
        post_ok(
            client, "/events/batch", {"project": project, "events": [_tool("a", resent, session)]}
        )
    assert session_events(client, project, new_session) == []


def test_the_id_of_a_deleted_session_s_event_is_free_again(
    client: httpx.Client, project: str
) -> None:
    old_session, new_session, event = uid(), uid(), uid()
    post_ok(
        client, "/events/batch", {"project": project, "events": [_tool("a", event, old_session)]}
    )
    r = client.delete(f"/session/{old_session}", params={"project": project})
    assert r.status_code == 200, r.text
    post_ok(
        client, "/events/batch", {"project": project, "events": [_tool("b", event, new_session)]}
    )
    stored = get_event(client, project, event)
    assert (stored["session_id"], stored["event_name"]) == (new_session, "b")
