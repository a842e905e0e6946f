"""Read and delete routes: single events, session trees, export/search, `GET /events`."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hivelog.errors import BadInput, NotFound
from hivelog.query.events import event_dict, project_fields
from hivelog.query.filters import compile_query
from hivelog.query.sessions import build_tree, encode_tree, read_event, read_events
from hivelog.routes.http import (
    DEFAULT_PROJECT,
    check_filters,
    convert,
    decode_json,
    json_response,
    named_project,
    read_body,
    store,
    writer,
)
from hivelog.store.base import DeleteSession, Project
from hivelog.wire.rest import DateRange, EventFilterIn, ExportBody


async def _project(
    request: Request, name: str | None = None, event_id: str | None = None
) -> Project | None:
    """The project a read is about: the one named; else the one holding `event_id`; else default.

    Clients of HoneyHive's newer API name no project on reads (it comes from the key), so an
    id that exists in exactly one place finds its project by itself.
    """
    s = store(request)
    named = named_project(request, name)
    if named is None and event_id is not None:
        found = await run_in_threadpool(s.project_of_event, event_id)
        if found is not None:
            return found
    return await run_in_threadpool(s.find_project, named or DEFAULT_PROJECT)


def _id_filter(body: ExportBody) -> str | None:
    """The session or event id a query asks for (`session_id is …`, `event_id is …`): a
    query that names no project is about that id's project."""
    for f in body.filters or ():
        is_id = f.field in ("session_id", "event_id")
        if is_id and f.operator in ("is", "=") and isinstance(f.value, str):
            return f.value
    return None


async def _event(request: Request, event_id: str) -> tuple[Project, dict[str, Any]]:
    project = await _project(request, event_id=event_id)
    event = (
        await run_in_threadpool(read_event, store(request), project, event_id) if project else None
    )
    if project is None or event is None:
        raise NotFound(f"no event {event_id!r}", "path")
    return project, event_dict(event, project)


async def session_get(request: Request) -> Response:
    """`GET /session/{id}`: the session event itself."""
    _, event = await _event(request, request.path_params["session_id"])
    return json_response(event)


async def _tree(request: Request, root_id: str) -> dict[str, Any]:
    project = await _project(request, event_id=root_id)
    if project is not None:
        s = store(request)
        root = await run_in_threadpool(s.get_event, project, root_id)
        if root is not None:
            events = await run_in_threadpool(s.session_events, project, root.session_id)
            tree = build_tree(events, root_id, project)
            if tree is not None:
                return tree
    raise NotFound(f"no session or event {root_id!r}", "path")


def _tree_response(body: bytes) -> Response:
    return Response(body, media_type="application/json")


async def session_tree(request: Request) -> Response:
    """`GET /v1/sessions/{id}`: the session with `children` nested, and its aggregates."""
    return _tree_response(encode_tree(await _tree(request, request.path_params["session_id"])))


async def v1_event_get(request: Request) -> Response:
    """`GET /v1/events/{id}`: the event's subtree (preview spec) with the flat event in `event`."""
    tree = await _tree(request, request.path_params["event_id"])
    flat = {k: v for k, v in tree.items() if k != "children"}
    return _tree_response(encode_tree(tree, event=flat))


async def session_delete(request: Request) -> Response:
    """`DELETE /session/{id}`, `DELETE /v1/sessions/{id}`: the session and all its events."""
    session_id = request.path_params["session_id"]
    project = await _project(request, event_id=session_id)
    deleted = 0
    if project is not None:
        result = await writer(request).submit(DeleteSession(project.name, session_id))
        deleted = result.deleted
    if not deleted:
        raise NotFound(f"no session {session_id!r}", "path")
    return json_response({"success": True, "deleted": session_id, "deleted_events": deleted})


async def _export(request: Request, body: ExportBody) -> Response:
    check_filters(request, body.filters, "$.filters")
    project = await _project(request, body.project, _id_filter(body))
    s = store(request)
    query = compile_query(
        s.dialect, body.filters, body.dateRange or body.date_range, body.limit, body.page
    )
    if project is None:
        return json_response({"events": [], "totalEvents": 0, "count": 0})
    events, total = await run_in_threadpool(read_events, s, project, query)
    out = [project_fields(event_dict(e, project), body.projections) for e in events]
    return json_response({"events": out, "totalEvents": total, "count": total})


async def export(request: Request) -> Response:
    """`POST /events/export`, `/v1/events/export`, `/v1/events/search`."""
    raw = await read_body(request)
    return await _export(request, decode_json(raw, ExportBody))


def _json_param(request: Request, name: str) -> Any:
    values = request.query_params.getlist(name)
    if not values:
        return None
    if name in ("filters", "projections") and len(values) > 1:
        parsed = [_maybe_json(v, name) for v in values]
        return [p for v in parsed for p in (v if isinstance(v, list) else [v])]
    return _maybe_json(values[0], name)


def _maybe_json(text: str, name: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return msgspec.json.decode(stripped)
        except msgspec.DecodeError as exc:
            raise BadInput(f"query parameter {name} is not valid JSON: {exc}", name) from None
    if name == "projections":
        return [p for p in stripped.split(",") if p]
    return stripped


async def events_list(request: Request) -> Response:
    """`GET /events`: the export query with its parts as query parameters (JSON or plain)."""
    filters = _json_param(request, "filters")
    if isinstance(filters, dict):
        filters = [filters]
    body = ExportBody(
        project=request.query_params.get("project"),
        filters=convert(filters, list[EventFilterIn], "filters") if filters else None,
        dateRange=convert(_json_param(request, "dateRange"), DateRange, "dateRange")
        if request.query_params.get("dateRange")
        else None,
        projections=convert(_json_param(request, "projections"), list[str], "projections")
        if request.query_params.get("projections")
        else None,
        limit=_int_param(request, "limit"),
        page=_int_param(request, "page"),
    )
    return await _export(request, body)


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # not a number; infinity ("1e400", "inf")
        raise BadInput(f"{name} must be a whole number, got {value!r:.40}", name) from None
