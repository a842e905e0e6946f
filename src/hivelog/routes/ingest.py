"""Write routes of every API generation. Each decodes, normalises, and awaits one durable job."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hivelog.errors import BadInput
from hivelog.event import Event, EventUpdate
from hivelog.normalize.rest import (
    event_from_wire,
    model_event_from_wire,
    session_from_wire,
    update_from_wire,
)
from hivelog.normalize.times import now_ms
from hivelog.query.events import event_dict
from hivelog.routes.http import (
    convert,
    decode_json,
    json_response,
    named_project,
    project_name,
    read_body,
    store,
    writer,
)
from hivelog.store.base import JobResult, WriteEvents
from hivelog.wire.rest import (
    CreateEventBody,
    CreateModelEventBody,
    EventBatchBody,
    EventIn,
    ModelEventBatchBody,
    SessionEventsBody,
    SessionIn,
    SessionTracesBody,
    UpdateEventBody,
)


async def _store(
    request: Request,
    project: str | None,
    nbytes: int,
    events: list[Event] | None = None,
    updates: list[EventUpdate] | None = None,
) -> JobResult:
    job = WriteEvents(project=project, events=events or [], updates=updates or [])
    return await writer(request).submit(job, nbytes)


# ---- sessions -------------------------------------------------------------------------------


def _session_in(body: Any) -> SessionIn:
    """`{"session": {...}}`, `{"session": "<json>"}`, or the session fields flat."""
    if not isinstance(body, dict):
        raise BadInput("expected a JSON object with a `session` object", "$")
    inner = body.get("session", body)
    if isinstance(inner, str):
        inner = decode_json(inner.encode(), dict)
        return convert(inner, SessionIn, "$.session")
    session = convert(inner, SessionIn, "$.session" if "session" in body else "$")
    if session.project is None and isinstance(body.get("project"), str):
        session.project = body["project"]
    return session


async def _start_session(request: Request, session: SessionIn, where: str, nbytes: int) -> Response:
    event = session_from_wire(session, where)
    result = await _store(request, project_name(request, session.project), nbytes, [event])
    assert result.project is not None
    return json_response(event_dict(event, result.project))


async def session_start(request: Request) -> Response:
    raw = await read_body(request)
    return await _start_session(request, _session_in(decode_json(raw, Any)), "$.session", len(raw))


async def v1_session_create(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, dict)
    return await _start_session(request, _session_in(body), "$", len(raw))


# ---- single events --------------------------------------------------------------------------


async def _create(request: Request, item: EventIn, event: Event, nbytes: int) -> Response:
    await _store(request, project_name(request, item.project), nbytes, [event])
    return json_response(
        {"success": True, "event_id": event.event_id, "session_id": event.session_id}
    )


async def event_create(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, CreateEventBody)
    return await _create(request, body.event, event_from_wire(body.event, "$.event"), len(raw))


async def v1_event_create(request: Request) -> Response:
    raw = await read_body(request)
    item = decode_json(raw, EventIn)
    return await _create(request, item, event_from_wire(item, "$"), len(raw))


async def model_event_create(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, CreateModelEventBody)
    event = model_event_from_wire(body.model_event, "$.model_event")
    return await _create(request, body.model_event, event, len(raw))


async def event_update(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, UpdateEventBody)
    event_id = request.path_params.get("event_id")
    update = update_from_wire(body, "$", event_id)
    project = named_project(request, body.project)
    if project is None:  # SDKs send no project on updates: the event's own project is meant
        found = await run_in_threadpool(store(request).project_of_event, update.event_id)
        # Not found (yet): the store finds it in the write, or parks the update for the
        # event of that id in any project (WriteEvents.project None).
        project = found.name if found is not None else None
    await _store(request, project, len(raw), updates=[update])
    return json_response({"success": True, "event_id": update.event_id})


def _first_project(items: list[Any]) -> str | None:
    """Batch items may each name the project; the first that does names it for the batch."""
    return next((item.project for item in items if item.project), None)


# ---- batches --------------------------------------------------------------------------------


async def _batch(
    request: Request,
    body: EventBatchBody | ModelEventBatchBody,
    items: list[Any],
    nbytes: int,
    *,
    model: bool,
) -> Response:
    single = bool(body.is_single_session or body.single_session)
    props = body.session_properties or body.session
    events: list[Event] = []
    session_id: str | None = None
    now = now_ms()
    if single:
        session = session_from_wire(props or SessionIn(), "$.session_properties", now)
        session_id = session.session_id
        events.append(session)
    make = model_event_from_wire if model else event_from_wire
    key = "model_events" if model else "events"
    for i, item in enumerate(items):
        events.append(make(item, f"$.{key}[{i}]", session_id=session_id, now=now))
    project = project_name(
        request,
        body.project,
        props.project if props else None,
        _first_project(items),
    )
    await _store(request, project, nbytes, events)
    created = events[1:] if single else events
    return json_response(
        {
            "success": True,
            "event_ids": [e.event_id for e in created],
            **({"session_id": session_id} if session_id else {}),
        }
    )


async def event_batch(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, EventBatchBody)
    return await _batch(request, body, body.events, len(raw), model=False)


async def model_event_batch(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, ModelEventBatchBody)
    return await _batch(request, body, body.model_events, len(raw), model=True)


async def _session_events(
    request: Request, items: list[EventIn], key: str, project: str | None, nbytes: int
) -> list[Event]:
    session_id = request.path_params["session_id"]
    now = now_ms()
    events = [
        event_from_wire(item, f"$.{key}[{i}]", session_id=session_id, now=now)
        for i, item in enumerate(items)
    ]
    await _store(request, project_name(request, project, _first_project(items)), nbytes, events)
    return events


async def v1_session_events(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, SessionEventsBody)
    events = await _session_events(request, body.events, "events", body.project, len(raw))
    return json_response({"success": True, "event_ids": [e.event_id for e in events]})


async def session_traces(request: Request) -> Response:
    raw = await read_body(request)
    body = decode_json(raw, SessionTracesBody)
    if (body.logs is None) == (body.events is None):
        raise BadInput("send exactly one of `logs` or `events`", "$")
    key = "logs" if body.logs is not None else "events"
    items = body.logs if body.logs is not None else body.events
    assert items is not None
    events = await _session_events(request, items, key, body.project, len(raw))
    return json_response({"success": True, "event_ids": [e.event_id for e in events]})
