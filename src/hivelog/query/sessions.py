"""A session as a tree: events nested by `parent_id`, with the session's aggregates.

Built in one pass over the session's events (one indexed read), so a 10,000-event session
costs one query and linear work. An event whose parent is missing hangs under the root.
Built and encoded without recursion (`encode_tree`): a chain of events thousands deep is read
like any other session, whatever the interpreter's recursion limit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import msgspec

from hivelog.event import Event
from hivelog.query.events import event_dict
from hivelog.query.filters import compile_query
from hivelog.store.base import EventQuery, Project, SessionStats, Store, StoredEvent
from hivelog.store.rows import whole
from hivelog.wire.rest import DateRange, EventFilterIn

AnyEvent = TypeVar("AnyEvent", Event, StoredEvent)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value)


def is_priced(metadata: dict[str, Any]) -> bool:
    """An event whose cost is known: `metadata.cost` is a number."""
    cost = metadata.get("cost")
    return isinstance(cost, (int, float)) and not isinstance(cost, bool)


def cost_of(cost: float, priced: int, unpriced: int) -> tuple[float | None, str]:
    """A session's cost and `cost_status` from the costs of its events.

    `unpriced` counts model calls without a cost (a model nobody has a price for, or no
    tokens). All of them unpriced: the cost is unknown (None), never $0; some: the sum of
    the known costs, marked "partial"; none: "complete" (a session without model calls
    costs what its events say, often 0).
    """
    if unpriced and not priced:
        return None, "unpriced"
    # To 1e-12 USD: sums in another order (SQLite's floats, PostgreSQL's numeric, Python)
    # differ in the last bits, and every backend and route must show the same figure.
    return round(cost, 12), "partial" if unpriced else "complete"


@dataclasses.dataclass
class _Tally:
    """Sums over a session's events (its session event excluded), for `aggregates` and
    `stats_of`."""

    num_events: int = 0
    num_model: int = 0
    errors: int = 0
    priced: int = 0
    unpriced: int = 0
    has_feedback: bool = False
    cost: float = 0.0
    prompt: float = 0.0
    completion: float = 0.0
    total: float = 0.0


def _tally(events: list[StoredEvent], root_id: str) -> _Tally:
    t = _Tally()
    for e in events:
        if e.error is not None:
            t.errors += 1
        if e.event_id == root_id:
            continue
        t.num_events += 1
        if e.feedback:
            t.has_feedback = True
        md = e.metadata
        if is_priced(md):
            t.priced += 1
            t.cost += md["cost"]
        elif e.event_type == "model":
            t.unpriced += 1
        if e.event_type == "model":
            t.num_model += 1
        p, c = _number(md.get("prompt_tokens")), _number(md.get("completion_tokens"))
        t.prompt += p
        t.completion += c
        t.total += _number(md.get("total_tokens")) or (p + c)
    return t


def aggregates(events: list[StoredEvent], root_id: str) -> dict[str, Any]:
    """HoneyHive's session metadata aggregates over every event but the root, and the
    `cost_status` of its cost (see cost_of)."""
    t = _tally(events, root_id)
    session_cost, status = cost_of(t.cost, t.priced, t.unpriced)
    return {
        "num_events": t.num_events,
        "num_model_events": t.num_model,
        "has_feedback": t.has_feedback,
        "cost": session_cost,
        "cost_status": status,
        "prompt_tokens": whole(t.prompt),
        "completion_tokens": whole(t.completion),
        "total_tokens": whole(t.total),
    }


def stats_of(events: list[StoredEvent], root_id: str) -> SessionStats:
    """`Store.session_stats` of a session whose events are all at hand (a tree, a download)."""
    t = _tally(events, root_id)
    return SessionStats(
        num_events=t.num_events,
        num_model_events=t.num_model,
        errors=t.errors,
        total_tokens=whole(t.total),
        cost=t.cost,
        first_start=min(e.start_time for e in events),
        last_end=max(e.end_time for e in events),
        priced=t.priced,
        unpriced=t.unpriced,
    )


def build_tree(events: list[StoredEvent], root_id: str, project: Project) -> dict[str, Any] | None:
    """The nested node of `root_id` with all its descendants, or None if it is not there.

    The whole session is assembled first: an event whose parent is missing, or which sits in
    a parent cycle, hangs under the session, so no event is ever left out of the tree.
    """
    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        node = event_dict(e, project)
        node["children"] = []
        nodes[e.event_id] = node
    if root_id not in nodes:
        return None
    session_id = events[0].session_id if events else root_id
    top = nodes.get(session_id, nodes[root_id])
    placed: set[str] = {top["event_id"]}
    pending = [e for e in events if e.event_id != top["event_id"]]
    kids: dict[str, list[StoredEvent]] = {}
    for e in pending:
        kids.setdefault(e.parent_id or "", []).append(e)

    def walk(start: str) -> None:  # iterative: deep chains cannot exhaust the Python stack
        stack = [start]
        while stack:
            parent_id = stack.pop()
            for child in kids.get(parent_id, ()):
                if child.event_id not in placed:
                    placed.add(child.event_id)
                    nodes[parent_id]["children"].append(nodes[child.event_id])
                    stack.append(child.event_id)

    walk(top["event_id"])
    for e in pending:  # orphans and cycles hang under the session, with their descendants
        if e.event_id not in placed:
            placed.add(e.event_id)
            top["children"].append(nodes[e.event_id])
            walk(e.event_id)
    if top["event_type"] == "session":
        top["metadata"] = {**top["metadata"], **aggregates(events, top["event_id"])}
        session = next(e for e in events if e.event_id == top["event_id"])
        start, end = session_span(session, stats_of(events, top["event_id"]))
        top["start_time"], top["end_time"], top["duration"] = start, end, float(end - start)
    return nodes[root_id]


# ---- a session's span and cost, the same on every route and page ---------------------------


def session_span(session: Event | StoredEvent, stats: SessionStats | None) -> tuple[int, int]:
    """(start, end) of a session: what the client set, else the span of its events.

    A session start names no end (HoneyHive's API has no "session ended" call), so a session
    whose stored end is its start and whose duration is 0 spans itself and its events, from
    the earliest start to the latest end of any of them. An end or duration the client set
    (at the start, or later with `PUT /events`) is explicit and is kept as set.
    """
    start, end = session.start_time, session.end_time
    if math.isfinite(session.duration) and session.duration > 0:
        end = max(end, start + round(session.duration))
    if end > start or stats is None:
        return start, end
    return min(start, stats.first_start), max(end, stats.last_end)


def complete_session(event: AnyEvent, stats: SessionStats | None) -> AnyEvent:
    """A session event as every route and page shows it: its span (session_span) and, when
    any of its events has or lacks a price, their cost and `cost_status` (cost_of) in its
    metadata (as the session tree's aggregates carry them)."""
    if event.event_type != "session" or event.event_id != event.session_id:
        return event
    start, end = session_span(event, stats)
    event.start_time, event.end_time, event.duration = start, end, float(end - start)
    if stats is not None and (stats.priced or stats.unpriced):
        cost, status = cost_of(stats.cost, stats.priced, stats.unpriced)
        event.metadata = {**event.metadata, "cost": cost, "cost_status": status}
    return event


def _complete(store: Store, project: Project, events: list[Event]) -> list[Event]:
    ids = [e.session_id for e in events if e.event_type == "session" and e.event_id == e.session_id]
    if ids:
        stats = store.session_stats(project, ids)
        for e in events:
            complete_session(e, stats.get(e.session_id))
    return events


def read_event(store: Store, project: Project, event_id: str) -> Event | None:
    """`Store.get_event`, with a session completed (complete_session). Every route and page
    that shows one event reads it here."""
    event = store.get_event(project, event_id)
    return _complete(store, project, [event])[0] if event is not None else None


def read_events(store: Store, project: Project, query: EventQuery) -> tuple[list[Event], int]:
    """`Store.query_events`, with sessions completed: export, search and the events page."""
    events, total = store.query_events(project, query)
    return _complete(store, project, events), total


def read_session_events(store: Store, project: Project, session_id: str) -> list[StoredEvent]:
    """`Store.session_events`, with the session event completed from the events themselves:
    a download of a session shows what its page shows."""
    events = store.session_events(project, session_id)
    for e in events:
        if e.event_type == "session" and e.event_id == session_id:
            complete_session(e, stats_of(events, session_id))
    return events


def read_event_chunks(
    store: Store,
    project: Project,
    filters: Sequence[EventFilterIn] | None,
    date_range: DateRange | None,
    *,
    chunk: int,
    newest_first: bool = False,
    search: str | None = None,
) -> Iterator[list[Event]]:
    """Every event a filter matches, `chunk` at a time in start-time order, sessions completed.

    Each chunk starts where the last ended (an indexed range read however deep into the
    result) rather than at an ever larger OFFSET: downloads and `hivelog export` stay linear.
    """
    base = date_range or DateRange()
    edge: int | None = None
    at_edge: set[str] = set()  # ids already sent whose start time is `edge`
    while True:
        if edge is None:
            bounds = base
        elif newest_first:
            bounds = DateRange(gte=base.gte, lte=edge)
        else:
            bounds = DateRange(gte=edge, lte=base.lte)
        query = compile_query(
            store.dialect, filters, bounds, chunk + len(at_edge), 1, newest_first=newest_first
        )
        found, _ = store.query_events(
            project, dataclasses.replace(query, search=search, count=False)
        )
        fresh = [e for e in found if not (e.start_time == edge and e.event_id in at_edge)]
        if not fresh:
            return
        # The next edge from the stored start times, before completing moves a session's.
        last = fresh[-1].start_time
        at_edge = (at_edge if last == edge else set()) | {
            e.event_id for e in fresh if e.start_time == last
        }
        edge = last
        yield _complete(store, project, fresh)
        if len(found) < query.limit:
            return


_encode = msgspec.json.Encoder().encode


def encode_tree(node: dict[str, Any], **extra: Any) -> bytes:
    """JSON of a `build_tree` node (with `extra` keys added at its top), without recursion.

    Each event is encoded alone (its own fields nest only as deep as ingest allows); the
    `children` arrays are spliced in with an explicit stack, so depth costs no stack frames.
    """
    out: list[bytes] = []
    # (node, extra keys) to open, or None to close the "children" array and the object
    stack: list[tuple[dict[str, Any], dict[str, Any]] | None] = [(node, extra)]
    first: list[bool] = []  # per open children array: no element written yet
    while stack:
        item = stack.pop()
        if item is None:
            out.append(b"]}")
            first.pop()
            continue
        current, more = item
        if first:
            if not first[-1]:
                out.append(b",")
            first[-1] = False
        fields = {k: v for k, v in current.items() if k != "children"}
        fields.update(more)
        body = _encode(fields)
        children = current.get("children") or []
        out.append(body[:-1] + b',"children":[' if len(body) > 2 else b'{"children":[')
        first.append(True)
        stack.append(None)
        stack.extend((child, {}) for child in reversed(children))
    return b"".join(out)
