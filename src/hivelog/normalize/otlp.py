"""OTLP spans → canonical `Event`s, grouped by project. Pure, no I/O.

The parts every span shares live here (ids, session, parent, times, status, project, what is
left over); what each instrumentation library calls things lives in one module per dialect
(`normalize/dialects/`), all with the same `applies`/`apply` interface.

Ids (`normalize/ids.py`): an event's id is a UUIDv5 of (trace id, span id) under a fixed
namespace, so a resent span is the same event and a child can name its parent's event id
without having seen it — spans of one trace may arrive in any order, in any number of requests.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from hivelog.event import Event, EventUpdate, PackedEvents, TraceLink
from hivelog.normalize.cost import fill_cost
from hivelog.normalize.dialects import (
    genai,
    honeyhive,
    langfuse,
    logfire,
    openinference,
    openllmetry,
    vercel,
)
from hivelog.normalize.dialects._shared import merge_into, unflatten
from hivelog.normalize.ids import span_event_id, trace_session_id
from hivelog.wire.otlp import SPAN_KINDS, STATUS_ERROR, STATUS_OK, SpanIn

SESSION_KEYS = (
    "honeyhive.session_id",
    "traceloop.association.properties.session_id",
    "honeyhive_session_id",
    "session.id",
    "langfuse.session.id",
    "ai.telemetry.metadata.sessionId",
)
# A GenAI conversation id names a session too, but weaker (`TraceLink.rank` 1): an agent
# framework sets one per agent run, and one trace may hold several runs. It stays in
# metadata (`gen_ai.conversation.id`) so each span still says which run it belonged to.
CONVERSATION_KEYS = ("gen_ai.conversation.id",)
# A user id in any dialect → user_properties.user_id (HoneyHive's own is its dialect's)
USER_KEYS = (
    "user.id",
    "traceloop.association.properties.user_id",
    "langfuse.user.id",
    "langfuse.trace.user_id",
    "ai.telemetry.metadata.userId",
)
# What names the session of a trace, before its root span's name (read, kept in metadata)
SESSION_NAME_KEYS = ("session.name", "langfuse.trace.name")
PROJECT_KEYS = (
    "honeyhive.project",
    "traceloop.association.properties.project",
    "honeyhive_project",
)
SOURCE_KEYS = ("honeyhive.source", "traceloop.association.properties.source")
_ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment", "service.name")
# Every key `take` reads from a span: a span with none of them (most) skips those lookups
_TAKEN_KEYS = frozenset(PROJECT_KEYS + SESSION_KEYS + CONVERSATION_KEYS + SOURCE_KEYS)
_MAX_REASONS = 3


class Dialect(Protocol):
    NAME: str

    def applies(self, attrs: dict[str, Any]) -> bool: ...

    def apply(self, attrs: dict[str, Any], span: SpanIn, event: Event) -> str | None: ...


# Order matters: later dialects see what earlier ones left; HoneyHive's explicit fields last,
# so they win over anything an auto-instrumentor inferred.
DIALECTS: tuple[Any, ...] = (
    genai,
    openinference,
    openllmetry,
    vercel,
    langfuse,
    logfire,
    honeyhive,
)


@dataclasses.dataclass
class Converted:
    """Events (spans) or updates (log records) to store, by project, and the spans or records
    refused (for OTLP `partial_success`)."""

    # lists when converted in this process; packed (decoded on first read) from a worker
    by_project: dict[str, list[Event] | PackedEvents] = dataclasses.field(default_factory=dict)
    updates: dict[str, list[EventUpdate]] = dataclasses.field(default_factory=dict)
    # per project: each trace's own session id → what this request says of its session
    traces: dict[str, dict[str, TraceLink]] = dataclasses.field(default_factory=dict)
    rejected: int = 0
    reasons: list[str] = dataclasses.field(default_factory=list)
    # Rows of the events of some projects, encoded by a conversion worker with `encoded_by`
    # (the store's `encode_rows`), parallel to `by_project`, for projects whose events the
    # limits `checked_by` leave unchanged (`ingest.converters`, `Limits.unchanged`).
    rows: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    encoded_by: Any = None
    checked_by: object = None

    def refuse(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.reasons)
        return "; ".join(self.reasons) + (f"; and {more} more" if more > 0 else "")


def take(
    attrs: dict[str, Any], resource: dict[str, Any], keys: tuple[str, ...], keep: bool = False
) -> Any:
    """The first value of `keys` in the span (else the resource); drop span copies equal to
    it (unless `keep`)."""
    found = None
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            found = value
            break
    if found is None:
        for key in keys:
            value = resource.get(key)
            if value is not None and value != "":
                return value
        return None
    if keep:
        return found
    for key in keys:
        if key in attrs and attrs[key] == found:
            del attrs[key]
    return found


def _error(span: SpanIn) -> str | None:
    if span.status_code != STATUS_ERROR:
        return None
    if span.status_message:
        return span.status_message
    for item in span.events:
        if item.name == "exception":
            kind = item.attributes.get("exception.type")
            text = item.attributes.get("exception.message")
            if kind or text:
                return f"{kind}: {text}" if kind and text else str(kind or text)
    return "error"


class _Converter:
    def __init__(self, default_project: str) -> None:
        self.default_project = default_project
        self.out = Converted()
        self._groups: dict[str, list[Event]] = {}  # out.by_project's lists
        self._resources: dict[int, dict[str, Any]] = {}
        # per resource: what `take` finds there (project, session, its rank, source), once
        self._resource_values: dict[int, tuple[Any, Any, int, Any]] = {}
        # (trace id, span id) → event id: a parent's id is its own, computed once
        self._ids: dict[tuple[str, str], str] = {}
        self._trace_sessions: dict[str, str] = {}
        self._session_spans: dict[tuple[str, str], str] = {}
        self._children: list[tuple[Event, str, str]] = []
        # (project, trace session id) → the trace's events in this request, and its root
        self._trace_events: dict[tuple[str, str], list[Event]] = {}
        self._roots: dict[tuple[str, str], tuple[Event, SpanIn]] = {}

    def resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        meta = self._resources.get(id(resource))
        if meta is None:
            meta = self._resources[id(resource)] = unflatten(resource.items())
        return meta

    def taken(self, resource: dict[str, Any]) -> tuple[Any, Any, int, Any]:
        """Project, session (and its rank) and source a resource gives spans that give none
        of their own."""
        found = self._resource_values.get(id(resource))
        if found is None:
            found = _taken({}, resource)
            self._resource_values[id(resource)] = found
        return found

    def event_id(self, trace_id: str, span_id: str) -> str:
        key = (trace_id, span_id)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = span_event_id(trace_id, span_id)
        return found

    def trace_session(self, trace_id: str) -> str:
        found = self._trace_sessions.get(trace_id)
        if found is None:
            found = self._trace_sessions[trace_id] = trace_session_id(trace_id)
        return found

    def add(self, project: str, event: Event) -> None:
        group = self._groups.get(project)
        if group is None:
            group = self._groups[project] = self.out.by_project[project] = []
        group.append(event)

    def span(self, index: int, span: SpanIn) -> None:
        if not span.trace_id or not span.span_id:
            what = "trace_id" if not span.trace_id else "span_id"
            self.out.refuse(f"span {index} ({span.name!r}): missing or invalid {what}")
            return
        attrs = span.attributes
        resource = span.resource
        if attrs.keys().isdisjoint(_TAKEN_KEYS):
            project, session, rank, source = self.taken(resource)
        else:
            project, session, rank, source = _taken(attrs, resource)
        trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
        trace_session = self.trace_session(trace_id)
        session_id = str(session) if session is not None else trace_session
        start_ms = span.start_ns // 1_000_000
        end_ns = max(span.end_ns, span.start_ns)
        event = Event(
            event_id=self.event_id(trace_id, span_id),
            session_id=session_id,
            parent_id=self.event_id(trace_id, parent) if parent else session_id,
            event_type="chain",
            event_name=span.name or "unknown",
            source=str(source) if source is not None else "unknown",
            start_time=start_ms,
            end_time=end_ns // 1_000_000,
            duration=(end_ns - span.start_ns) / 1e6,
        )

        given_name = _name(attrs)
        explicit: str | None = None
        implied: list[str] = []
        for dialect in DIALECTS:
            if not attrs:  # every dialect applies by its attributes: none left, none applies
                break
            if dialect.applies(attrs):
                kind = dialect.apply(attrs, span, event)
                if dialect is honeyhive:
                    explicit = kind
                elif kind:
                    implied.append(kind)
        event.event_type = explicit or (
            "model" if "model" in implied else "tool" if "tool" in implied else "chain"
        )
        for key in USER_KEYS:
            if key in attrs:
                user = attrs.pop(key)
                if user is not None and user != "":
                    event.user_properties.setdefault("user_id", user)
        if event.error is None:
            event.error = _error(span)

        metadata = event.metadata
        if attrs:
            merge_into(metadata, unflatten(attrs.items()))
        otel: dict[str, Any] = {"trace_id": trace_id, "span_id": span_id}
        if parent:
            otel["parent_span_id"] = parent
        if span.kind:
            otel["kind"] = SPAN_KINDS[span.kind] if span.kind < len(SPAN_KINDS) else span.kind
        if span.scope:
            otel["scope"] = span.scope
        if span.status_code == STATUS_OK:
            otel["status"] = "ok"
        if span.status_message:
            otel["status_message"] = span.status_message
        metadata["otel"] = otel
        if span.events:
            metadata["events"] = [
                {"name": e.name, "time": e.time_ns // 1_000_000, "attributes": e.attributes}
                for e in span.events
            ]
        if resource:
            metadata["resource"] = self.resource(resource)
        if event.event_type == "model":
            fill_cost(event)

        project_name = str(project or self.default_project)
        trace = (project_name, trace_session)
        link = self.out.traces.setdefault(project_name, {}).setdefault(trace[1], TraceLink())
        if session is not None and link.prefers(session_id, rank):
            link.session_id, link.rank = session_id, rank
        honeyhive_name = metadata.get("session_name")
        name = given_name or (honeyhive_name if isinstance(honeyhive_name, str) else None)
        if name and not link.name:
            link.name = name
        if event.event_type == "session":
            # The span is the session itself: it takes the session's id, and its children
            # (in this request) hang from the session directly.
            event.event_id = session_id
            event.parent_id = None
            self._session_spans[(trace_id, span_id)] = session_id
        else:
            self._trace_events.setdefault(trace, []).append(event)
            if parent:
                self._children.append((event, trace_id, parent))
            else:
                self._roots[trace] = (event, span)
        self.add(project_name, event)

    def _trace_session(self, root: Event, span: SpanIn) -> Event:
        """The session of a trace that names none: shaped after its root span."""
        return Event(
            event_id=root.session_id,
            session_id=root.session_id,
            parent_id=None,
            event_type="session",
            event_name=root.event_name,
            source=root.source,
            start_time=root.start_time,
            end_time=root.end_time,
            duration=root.duration,
            metadata={"otel": {"trace_id": span.trace_id}},
        )

    def _one_session(self) -> None:
        """One trace, one session: when a span of a trace named a session, every span of the
        trace in this request goes there; a trace that names none gets a session of its own,
        shaped after its root span. (The store does the same across requests.)"""
        for (project, trace_session), events in self._trace_events.items():
            link = self.out.traces[project][trace_session]
            root = self._roots.get((project, trace_session))
            if root is not None and not link.name:
                link.name = root[0].event_name
            target = link.session_id
            if target is None:
                if root is not None:
                    self.add(project, self._trace_session(*root))
                continue
            for event in events:
                if event.parent_id == event.session_id:
                    event.parent_id = target
                event.session_id = target

    def finish(self) -> Converted:
        self._one_session()
        if self._session_spans:
            for event, trace_id, parent in self._children:
                session_id = self._session_spans.get((trace_id, parent))
                if session_id is not None:
                    event.parent_id = session_id
        return self.out


def _taken(attrs: dict[str, Any], resource: dict[str, Any]) -> tuple[Any, Any, int, Any]:
    """Project, session, the session's rank (`TraceLink.rank`) and source of a span: its own
    attributes first, then its resource's."""
    project = take(attrs, resource, PROJECT_KEYS)
    session, rank = take(attrs, resource, SESSION_KEYS), 0
    if session is None:
        session, rank = take(attrs, resource, CONVERSATION_KEYS, keep=True), 1
    source = take(attrs, resource, SOURCE_KEYS) or take({}, resource, _ENVIRONMENT_KEYS)
    return project, session, rank, source


def _name(attrs: dict[str, Any]) -> str | None:
    """The session name a span's attributes give, if any (they stay in metadata)."""
    for key in SESSION_NAME_KEYS:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def spans_to_events(spans: list[SpanIn], default_project: str) -> Converted:
    """Every span → an event (or a refusal); the project of each comes from its attributes
    (`honeyhive.project`, `traceloop.association.properties.project`), else `default_project`."""
    converter = _Converter(default_project)
    for index, span in enumerate(spans):
        converter.span(index, span)
    return converter.finish()
