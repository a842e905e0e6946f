"""Download what a page shows: `/ui/export/{events|sessions}.{jsonl|csv}` with the page's own
query parameters (project, range, filters, search, sort).

Both formats are what `hivelog import` reads back: JSONL has one event per line exactly as the
export route returns it; CSV has one column per event field, JSON objects as JSON text. The
sessions page downloads every event of the sessions it lists (the session events included),
so an import recreates whole sessions. The body is streamed a chunk of events at a time, so
memory stays flat whatever the size.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hivelog.errors import BadInput, NotFound
from hivelog.event import Event
from hivelog.query import aggregates
from hivelog.query.events import event_dict
from hivelog.query.filters import compile_query
from hivelog.query.sessions import read_event_chunks, read_events, read_session_events
from hivelog.routes.http import store
from hivelog.store.base import EventQuery, Project, Store, StoredEvent
from hivelog.ui.pages import View, read_view

CHUNK = 1000  # events read per query
SESSION_CHUNK = 100  # sessions read per query
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = (
    "event_id", "session_id", "parent_id", "event_type", "event_name", "source",
    "start_time", "end_time", "duration", "error", "config", "inputs", "outputs",
    "metadata", "feedback", "metrics", "user_properties", "children_ids", "project_id",
)  # fmt: skip
_JSON_COLUMNS = frozenset(
    ("config", "inputs", "outputs", "metadata", "feedback", "metrics", "user_properties")
) | {"children_ids"}
_encode = msgspec.json.Encoder().encode

AnyEvent = Event | StoredEvent


def _events_query(s: Store, view: View, page: int) -> EventQuery:
    query = compile_query(
        s.dialect, view.filters, view.date_range(), CHUNK, page, newest_first=view.desc
    )
    return dataclasses.replace(query, search=view.q or None, order_by=view.sort, count=False)


def _events(s: Store, project: Project, view: View) -> Iterator[list[AnyEvent]]:
    """The events page's events, a chunk at a time, in the page's order."""
    if view.sort == "start_time":
        for chunk in read_event_chunks(
            s, project, view.filters, view.date_range(),
            chunk=CHUNK, newest_first=view.desc, search=view.q or None,
        ):  # fmt: skip
            yield list(chunk)
        return
    for page in range(1, 10**9):
        events, _ = read_events(s, project, _events_query(s, view, page))
        if events:
            yield list(events)
        if len(events) < CHUNK:
            return


def _sessions(s: Store, project: Project, view: View) -> Iterator[list[AnyEvent]]:
    """Every event of each session the sessions page lists, session by session."""
    for page in range(1, 10**9):
        rows, _ = aggregates.list_sessions(
            s, project, filters=view.filters, date_range=view.date_range(),
            search=view.q or None, match_any_event=view.match == "event",
            page=page, limit=SESSION_CHUNK,
        )  # fmt: skip
        for row in rows:
            yield list(read_session_events(s, project, row.session_id))
        if len(rows) < SESSION_CHUNK:
            return


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, msgspec.Raw):
        text = bytes(value).decode()
        return "" if text in ("", "null", "{}", "[]") else text
    if name in _JSON_COLUMNS:
        return _encode(value).decode() if value else ""
    return str(value)


def _jsonl(events: Iterable[AnyEvent], project: Project) -> bytes:
    return b"".join(_encode(event_dict(e, project)) + b"\n" for e in events)


def _csv(events: Iterable[AnyEvent], project: Project, header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for e in events:
        d = event_dict(e, project)
        writer.writerow([_cell(c, d.get(c)) for c in CSV_COLUMNS])
    return out.getvalue().encode()


async def download(request: Request) -> Response:
    """`GET /ui/export/events.jsonl` (or `.csv`, or `sessions.*`)."""
    kind, fmt = request.path_params["kind"], request.path_params["format"]
    if kind not in ("events", "sessions") or fmt not in FORMATS:
        raise NotFound(f"no download {kind}.{fmt}: use events or sessions, .jsonl or .csv", "path")
    view = await read_view(request)
    project = view.project
    if project is None:
        raise BadInput(f"no project {view.project_name!r}", "project")
    s = store(request)
    _events_query(s, view, 1)  # a bad filter is a 400 now, not a broken download later
    source = _events if kind == "events" else _sessions
    chunks = source(s, project, view)

    async def body() -> AsyncIterator[bytes]:
        first = True
        while True:
            chunk = await run_in_threadpool(next, chunks, None)
            if chunk is None:
                if first and fmt == "csv":
                    yield _csv((), project, header=True)
                return
            yield _jsonl(chunk, project) if fmt == "jsonl" else _csv(chunk, project, first)
            first = False

    name = f"hivelog-{project.name}-{kind}.{fmt}".replace('"', "")
    return StreamingResponse(
        body(),
        media_type=FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
