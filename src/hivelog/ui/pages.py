"""The web UI's pages: server-rendered HTML; htmx asks the same URLs for just the results.

A request with the `HX-Request` header gets the results fragment only (filters, paging and
the live tail all swap that part), anything else the whole page, so every view has a URL
that can be shared and reloaded. Reads go through the same query functions as the API.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any
from urllib.parse import urlencode

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hivelog import __version__
from hivelog.auth import COOKIE
from hivelog.errors import HivelogError
from hivelog.event import JSON_FIELDS
from hivelog.query import aggregates
from hivelog.query.filters import OPERATORS, compile_query
from hivelog.query.sessions import aggregates as session_aggregates
from hivelog.query.sessions import read_event, read_events
from hivelog.routes.http import DEFAULT_PROJECT, key_project, store
from hivelog.store.base import SORTABLE, EventBrief, Project, Store
from hivelog.ui import chat, costs, feedback
from hivelog.ui.render import embed_json, render
from hivelog.wire.rest import DateRange, EventFilterIn

PAGE_SIZE = 50
RANGES = {
    "15m": ("last 15 minutes", 15 * 60_000),
    "1h": ("last hour", 3_600_000),
    "24h": ("last 24 hours", 86_400_000),
    "7d": ("last 7 days", 7 * 86_400_000),
    "30d": ("last 30 days", 30 * 86_400_000),
    "all": ("all time", 0),
    "custom": ("custom range…", 0),  # `from` / `to` in epoch ms (the browser fills them)
}
# Suggestions for the filter field box; any field the export route takes works.
FIELDS = (
    "event_name", "event_type", "source", "error", "duration", "session_id", "event_id",
    "config.model", "config.provider", "metadata.cost", "metadata.total_tokens",
    "metadata.prompt_tokens", "metadata.completion_tokens", "user_properties.user_id",
    "feedback.rating", "metrics.score", "inputs.chat_history.0.content",
)  # fmt: skip
JSON_SECTIONS = JSON_FIELDS  # config, inputs, outputs, metadata, feedback, metrics, user_properties
_encode = msgspec.json.Encoder().encode


@dataclasses.dataclass
class View:
    """What the user asked for: project, time range, filters, search, paging, sort."""

    project: Project | None
    project_name: str
    projects: list[str]
    range: str
    filters: list[EventFilterIn]
    rows: list[tuple[str, str, str]]  # (field, operator, value) as typed, for the form
    q: str
    match: str
    page: int
    sort: str
    desc: bool
    params: QueryParams
    from_ms: int | None = None  # the custom range
    to_ms: int | None = None

    def date_range(self) -> DateRange | None:
        if self.range == "custom":
            if self.from_ms is None and self.to_ms is None:
                return None
            return DateRange(gte=self.from_ms, lte=self.to_ms)
        span = RANGES[self.range][1]
        return DateRange(gte=int(time.time() * 1000) - span, lte=None) if span else None

    def url(self, path: str, **changes: Any) -> str:
        """This view's URL at `path` with some parameters changed (None removes one)."""
        items = [(k, v) for k, v in self.params.multi_items() if k not in changes]
        items += [(k, str(v)) for k, v in changes.items() if v is not None]
        return f"{path}?{urlencode(items)}" if items else path


def _value(text: str) -> str | int | float | bool:
    """A typed filter value: numbers and true/false as such; "quoted" stays a string."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] == '"':
        return t[1:-1]
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        number = float(t)
    except ValueError:
        return t
    if math.isfinite(number):
        return int(number) if number.is_integer() and "." not in t and "e" not in t else number
    return t


async def _view(request: Request, default_range: str = "all") -> View:
    p = request.query_params
    s = store(request)
    scoped = key_project(request)  # an API key shows its own project and no other
    projects = [scoped] if scoped else await run_in_threadpool(s.list_projects)
    names = [x.name for x in projects]
    name = (
        scoped.name
        if scoped
        else p.get("project")
        or (DEFAULT_PROJECT if DEFAULT_PROJECT in names or not names else names[0])
    )
    project = next((x for x in projects if x.name == name), None)
    rows = list(zip(p.getlist("f"), p.getlist("op"), p.getlist("v"), strict=False))
    filters = [
        EventFilterIn(field=f.strip(), operator=op, value=_value(v) if v.strip() else None)
        for f, op, v in rows
        if f.strip()
    ]
    range_ = p.get("range") or default_range
    sort = p.get("sort") or "start_time"
    try:
        page = max(1, int(p.get("page") or 1))
    except ValueError:
        page = 1
    from_ms, to_ms = _ms(p.get("from")), _ms(p.get("to"))
    return View(
        project=project,
        project_name=name,
        projects=names,
        range=range_ if range_ in RANGES else default_range,
        filters=filters,
        rows=[(f, op, v) for f, op, v in rows if f.strip()],
        q=(p.get("q") or "").strip(),
        match="event" if p.get("match") == "event" else "session",
        page=page,
        sort=sort if sort in SORTABLE else "start_time",
        desc=p.get("dir") != "asc",
        params=p,
        from_ms=from_ms,
        to_ms=to_ms,
    )


def _ms(text: str | None) -> int | None:
    """An epoch-ms query parameter; anything else is no bound."""
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value if 0 <= value < 10**14 else None


def _page(
    request: Request, template: str, fragment: str, status: int = 200, **context: Any
) -> Response:
    """The whole page, or for htmx only the results fragment."""
    common = {
        "version": __version__,
        "ranges": RANGES,
        "operators": OPERATORS,
        "fields": FIELDS,
        "request_path": request.url.path,
        "signed_in": COOKIE in request.cookies,
        "csrf_token": feedback.csrf_token(request),
        "nav": {"sessions.html": "sessions", "session.html": "sessions"}.get(template)
        or template.removesuffix(".html"),
    }
    name = fragment if request.headers.get("HX-Request") else template
    response = HTMLResponse(render(name, **common, **context), status_code=status)
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


def not_found(request: Request, view: View, what: str, ident: str) -> Response:
    """A styled 404 page (an htmx request gets the same message as a fragment)."""
    return _page(
        request, "not_found.html", "_not_found.html", status=404, view=view, what=what, ident=ident
    )


read_view = _view  # what other UI modules use to read the same parameters


async def _has_any_session(s: Store, project: Project | None) -> bool:
    if project is None:
        return False
    query = compile_query(s.dialect, (), None, 1, 1)
    _, total = await run_in_threadpool(s.list_sessions, project, query, None)
    return total > 0


# ---- sessions --------------------------------------------------------------------------------


async def sessions_page(request: Request) -> Response:
    """`/`: sessions, newest first, with filters, search, a time range and a live tail."""
    view = await _view(request)
    s = store(request)
    rows: list[aggregates.SessionRow] = []
    total, error = 0, None
    started = time.perf_counter()
    if view.project is not None:
        try:
            rows, total = await run_in_threadpool(
                lambda: aggregates.list_sessions(
                    s,
                    view.project,  # type: ignore[arg-type]
                    filters=view.filters,
                    date_range=view.date_range(),
                    search=view.q or None,
                    match_any_event=view.match == "event",
                    page=view.page,
                    limit=PAGE_SIZE,
                )
            )
        except HivelogError as exc:
            error = exc.message
    narrowed = bool(view.filters or view.q or view.range != "all")
    empty = not rows and not error and not (narrowed and await _has_any_session(s, view.project))
    return _page(
        request,
        "sessions.html",
        "_sessions_results.html",
        view=view,
        rows=rows,
        total=total,
        error=error,
        empty=empty and not narrowed,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        elapsed_ms=(time.perf_counter() - started) * 1000,
        base_url=str(request.base_url).rstrip("/"),
    )


def _outline_json(events: list[EventBrief]) -> str:
    """The session's events as compact rows for session.js:
    [id, parent index (-1 for none), type, name, start, end, duration, error, has feedback];
    "has feedback" is filled in later from the usage fragment (`session_usage`)."""
    index = {e.event_id: i for i, e in enumerate(events)}
    rows = [
        [
            e.event_id,
            index.get(e.parent_id, -1) if e.parent_id else -1,
            e.event_type,
            e.event_name,
            e.start_time,
            e.end_time,
            e.duration,
            e.error,
            0,
        ]
        for e in events
    ]
    return embed_json(rows)


async def session_page(request: Request) -> Response:
    """`/ui/sessions/{id}`: the event tree beside a waterfall timeline; details on click."""
    view = await _view(request)
    session_id = request.path_params["session_id"]
    s = store(request)
    project = view.project
    session = await run_in_threadpool(s.get_event, project, session_id) if project else None
    if session is None and not key_project(request):  # a link may not name the project
        project = await run_in_threadpool(s.project_of_event, session_id)
        session = await run_in_threadpool(s.get_event, project, session_id) if project else None
    if session is None or project is None:
        return not_found(request, view, "session", session_id)
    view.project, view.project_name = project, project.name
    outline = await run_in_threadpool(s.session_outline, project, session.session_id)
    stats = await run_in_threadpool(s.session_stats, project, [session.session_id])
    row = aggregates.session_row(session, stats.get(session.session_id))
    return _page(
        request,
        "session.html",
        "session.html",
        view=view,
        session=session,
        row=row,
        cost_status=row.cost_status,
        outline=_outline_json(outline),
        count=len(outline),
    )


async def event_detail(request: Request) -> Response:
    """`/ui/event/{id}`: one event's detail: chat, then every JSON field. The session page
    loads it into its side panel (htmx: the fragment); opened directly it is a whole page."""
    view = await _view(request)
    event_id = request.path_params["event_id"]
    s = store(request)
    project = view.project
    event = await run_in_threadpool(read_event, s, project, event_id) if project else None
    if event is None and not key_project(request):
        project = await run_in_threadpool(s.project_of_event, event_id)
        event = await run_in_threadpool(read_event, s, project, event_id) if project else None
    if event is None or project is None:
        return not_found(request, view, "event", event_id)
    view.project, view.project_name = project, project.name
    return _page(
        request,
        "event.html",
        "_event.html",
        view=view,
        event=event,
        project=project,
        messages=chat.conversation(event.inputs, event.outputs),
        sections=[(name, getattr(event, name)) for name in JSON_SECTIONS],
        usage=costs.event_usage(event.event_type, event.config, event.metadata),
    )


# ---- events explorer -------------------------------------------------------------------------


async def events_page(request: Request) -> Response:
    """`/ui/events`: every event, the same filters and search, sortable columns."""
    view = await _view(request)
    s = store(request)
    events: list[Any] = []
    total, error = 0, None
    if view.project is not None:
        try:
            query = compile_query(
                s.dialect, view.filters, view.date_range(), PAGE_SIZE, view.page,
                newest_first=view.desc,
            )  # fmt: skip
            query = dataclasses.replace(query, search=view.q or None, order_by=view.sort)
            events, total = await run_in_threadpool(read_events, s, view.project, query)
        except HivelogError as exc:
            error = exc.message
    return _page(
        request,
        "events.html",
        "_events_results.html",
        view=view,
        events=events,
        total=total,
        error=error,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        empty=not events and not error and not await _has_any_session(s, view.project),
        base_url=str(request.base_url).rstrip("/"),
    )


# ---- dashboard -------------------------------------------------------------------------------


async def dashboard_page(request: Request) -> Response:
    """`/ui/dashboard`: charts drawn in the browser from `GET /v1/events/chart`."""
    view = await _view(request, default_range="7d")
    group = request.query_params.get("group") or ""
    chart_filters = [
        {"field": f.field, "operator": f.operator, "value": f.value} for f in view.filters
    ]
    return _page(
        request,
        "dashboard.html",
        "dashboard.html",
        view=view,
        group=group,
        chart_filters=embed_json(chart_filters),
        relative="" if view.range in ("all", "custom") else view.range,
        empty=not await _has_any_session(store(request), view.project),
        base_url=str(request.base_url).rstrip("/"),
    )


async def unknown_page(request: Request) -> Response:
    """Any other `/ui/...` path: the styled "not found" page rather than a JSON error."""
    return not_found(request, await _view(request), "page", request.url.path)


def _object(raw: msgspec.Raw) -> dict[str, Any]:
    """A stored JSON object field as a dict ({} when it is empty or not an object)."""
    value = msgspec.json.decode(bytes(raw)) if len(raw) else None
    return value if isinstance(value, dict) else {}


def _session_extras(
    s: Store, project: Project, session_id: str
) -> tuple[costs.Usage | None, list[str]]:
    """The session's tokens and cost by kind, added up over its events (not the session event
    itself), and the ids of the events that carry feedback or metrics: one read of the
    session's events, made after the page is drawn (it reads every event's metadata, the page
    does not)."""
    events = s.session_events(project, session_id)
    marked: list[str] = []
    usages: list[costs.Usage | None] = []
    for e in events:
        if e.feedback or bytes(e.metrics) not in (b"", b"null", b"{}"):
            marked.append(e.event_id)
        if e.event_id == session_id:
            continue
        # the config (the model's name) is only read to split a cost hivelog computed
        computed = e.metadata.get("cost_status") == "computed"
        config = _object(e.config) if computed else {}
        usages.append(costs.event_usage(e.event_type, config, e.metadata))
    totals = session_aggregates(events, session_id)
    usage = costs.session_usage(usages, totals["cost"], totals["cost_status"])
    return usage, marked


async def session_usage(request: Request) -> Response:
    """`/ui/sessions/{id}/usage`: the session's tokens by kind, and (for session.js, which marks
    them in the tree) the ids of its events with feedback."""
    view = await _view(request)
    session_id = request.path_params["session_id"]
    s = store(request)
    project = view.project
    if project is None or await run_in_threadpool(s.get_event, project, session_id) is None:
        return not_found(request, view, "session", session_id)
    usage, marked = await run_in_threadpool(_session_extras, s, project, session_id)
    return _page(
        request,
        "_usage.html",
        "_usage.html",
        view=view,
        usage=usage,
        session_total=True,
        marked=_encode(marked).decode(),  # an attribute value: escaped by the template
    )
