"""A resend that names another start time changes nothing, on every backend: the first
arrival wins, in every read, whatever date range it asks for.

On ClickHouse this is what lets reads prune day partitions and deduplicate within each day
(store/clickhouse/connection.READ_SETTINGS): the writer never stores a resend, so every row
of an event lies in its first arrival's day.
"""

from __future__ import annotations

import httpx

from tests.helpers import export, post_ok, uid

DAY = 86_400_000
BASE = 1_790_000_000_000


def _in_range(client: httpx.Client, project: str, start: int, end: int) -> list[str]:
    found = export(client, project, dateRange={"$gte": start, "$lte": end})
    return [e["event_id"] for e in found]


def test_a_resend_on_another_day_changes_nothing(client: httpx.Client, project: str) -> None:
    session, event = uid(), uid()
    first = {"project": project, "session_id": session, "event_id": event, "event_type": "tool",
             "event_name": "first", "start_time": BASE, "duration": 5}  # fmt: skip
    post_ok(client, "/events", {"event": first})
    again = {**first, "event_name": "again", "start_time": BASE + 3 * DAY}
    post_ok(client, "/events", {"event": again})
    post_ok(client, "/events/batch", {"project": project, "events": [again, again]})
    (stored,) = [e for e in export(client, project) if e["event_id"] == event]
    assert (stored["event_name"], stored["start_time"]) == ("first", BASE)
    assert event in _in_range(client, project, BASE - DAY, BASE + DAY)
    assert event not in _in_range(client, project, BASE + 2 * DAY, BASE + 4 * DAY)
    tree = client.get(f"/v1/sessions/{session}", params={"project": project}).json()
    assert [c["event_name"] for c in tree["children"]] == ["first"]


def test_one_batch_holding_an_event_twice_keeps_the_first(
    client: httpx.Client, project: str
) -> None:
    session, event = uid(), uid()
    one = {"session_id": session, "event_id": event, "event_type": "model",
           "event_name": "one", "start_time": BASE + DAY, "duration": 1}  # fmt: skip
    two = {**one, "event_name": "two", "start_time": BASE + 5 * DAY}
    post_ok(client, "/events/batch", {"project": project, "events": [one, two]})
    found = [e for e in export(client, project) if e["event_id"] == event]
    assert [(e["event_name"], e["start_time"]) for e in found] == [("one", BASE + DAY)]


def test_resends_of_a_session_spanning_days_in_a_batch_with_new_sessions(
    client: httpx.Client, project: str
) -> None:
    """The writer looks stored keys up by session, in the days that session's rows occupy:
    a resend must be found in any of them, next to new sessions in the same batch."""
    session, child, late, fresh = uid(), uid(), uid(), uid()
    start = {"event_id": session, "session_id": session, "event_type": "session",
             "event_name": "old", "start_time": BASE, "duration": 1}  # fmt: skip
    first = {"event_id": child, "session_id": session, "parent_id": session,
             "event_type": "tool", "event_name": "first", "start_time": BASE + 2 * DAY,
             "duration": 1}  # fmt: skip
    post_ok(client, "/events/batch", {"project": project, "events": [start, first]})
    resent = [
        {**first, "event_name": "again", "start_time": BASE + 6 * DAY},
        {**start, "event_name": "again", "start_time": BASE + 7 * DAY},
        {**first, "event_id": late, "event_name": "late", "start_time": BASE + DAY},
        {"event_id": fresh, "session_id": fresh, "event_type": "session",
         "event_name": "new", "start_time": BASE + 6 * DAY, "duration": 1},
    ]  # fmt: skip
    post_ok(client, "/events/batch", {"project": project, "events": resent})
    stored = export(client, project)
    found = {e["event_id"]: (e["event_name"], e["start_time"]) for e in stored}
    assert len(stored) == len(found)  # one row per event
    assert found == {
        session: ("old", BASE),
        child: ("first", BASE + 2 * DAY),
        late: ("late", BASE + DAY),
        fresh: ("new", BASE + 6 * DAY),
    }
