"""Request and response bodies of HoneyHive's REST routes, every generation, as msgspec Structs.

Types are as lenient as real clients need (times as int, float or ISO string; `null` for
"not given") and no more: a list where an object belongs is a 400 naming its path. Unknown
keys are ignored, as the data-plane spec allows them. `/openapi.json` is generated from these.
"""

from __future__ import annotations

from typing import Any

import msgspec

Time = int | float | str | None
Obj = dict[str, Any] | None


class EventFields(msgspec.Struct, kw_only=True):
    """What events and sessions both carry; `EventIn` and `SessionIn` add their own ids."""

    project: str | None = None
    source: str | None = None
    event_name: str | None = None
    session_id: str | None = None
    children_ids: list[str] | None = None
    config: Obj = None
    inputs: Obj = None
    outputs: Obj = None
    error: str | None = None
    start_time: Time = None
    end_time: Time = None
    duration: int | float | None = None
    metadata: Obj = None
    feedback: Obj = None
    metrics: Obj = None
    user_properties: Obj = None


class EventIn(EventFields, kw_only=True):
    """One event as `POST /events`, `/events/batch` items and `/v1/events` send it."""

    project_id: str | None = None
    event_type: str | None = None
    event_id: str | None = None
    parent_id: str | None = None


class SessionIn(EventFields, kw_only=True):
    """A session as `POST /session/start` (inside `session`) and `POST /v1/sessions` send it."""

    session_name: str | None = None


class SessionStartBody(msgspec.Struct, kw_only=True):
    """`POST /session/start`: `session` as an object or a JSON-encoded string."""

    session: SessionIn | str


class ModelEventIn(EventIn, kw_only=True):
    """`POST /events/model`: an LLM call in the request/response shape of a provider SDK."""

    model: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    provider: str | None = None
    messages: list[Any] | None = None
    response: Obj = None
    usage: Obj = None
    cost: int | float | None = None
    hyperparameters: Obj = None
    template: list[Any] | None = None
    template_inputs: Obj = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: Obj = None


class CreateEventBody(msgspec.Struct):
    event: EventIn


class CreateModelEventBody(msgspec.Struct):
    model_event: ModelEventIn


class SessionProperties(SessionIn, kw_only=True):
    pass


class EventBatchBody(msgspec.Struct, kw_only=True):
    """`POST /events/batch` and `/v1/events/batch`; both generations' field names."""

    events: list[EventIn]
    is_single_session: bool | None = None
    single_session: bool | None = None
    session_properties: SessionProperties | None = None
    session: SessionProperties | None = None
    project: str | None = None


class ModelEventBatchBody(msgspec.Struct, kw_only=True):
    model_events: list[ModelEventIn]
    is_single_session: bool | None = None
    single_session: bool | None = None
    session_properties: SessionProperties | None = None
    session: SessionProperties | None = None
    project: str | None = None


class SessionEventsBody(msgspec.Struct, kw_only=True):
    """`POST /v1/sessions/{id}/events/batch`: the session comes from the path."""

    events: list[EventIn]
    project: str | None = None


class SessionTracesBody(msgspec.Struct, kw_only=True):
    """`POST /session/{id}/traces`: the old JS tracer's `logs`, or `events`."""

    logs: list[EventIn] | None = None
    events: list[EventIn] | None = None
    project: str | None = None


class UpdateEventBody(msgspec.Struct, kw_only=True):
    """`PUT /events` (flat, with `event_id`) and `PUT /v1/events/{id}`."""

    event_id: str | None = None
    project: str | None = None
    metadata: Obj = None
    feedback: Obj = None
    metrics: Obj = None
    outputs: Obj = None
    config: Obj = None
    user_properties: Obj = None
    duration: int | float | None = None
    end_time: Time = None
    error: str | None = None
    children_ids: list[str] | None = None


class EventFilterIn(msgspec.Struct, kw_only=True):
    """One filter: `field` is a dotted path (`metadata.cost`); `type` guides comparison."""

    field: str
    operator: str = "is"
    value: str | int | float | bool | None = None
    type: str | None = None


class DateRange(msgspec.Struct, kw_only=True, rename={"gte": "$gte", "lte": "$lte"}):
    gte: Time = None
    lte: Time = None


class ExportBody(msgspec.Struct, kw_only=True):
    """`POST /events/export`, `/v1/events/export`, `/v1/events/search` (and `GET /events`)."""

    project: str | None = None
    filters: list[EventFilterIn] | None = None
    dateRange: DateRange | None = None  # noqa: N815 - the wire name
    date_range: DateRange | None = None
    projections: list[str] | None = None
    limit: int | float | None = None
    page: int | float | None = None
    ignore_order: bool | None = None
    evaluation_id: str | None = None


# ---- responses ------------------------------------------------------------------------------


class EventOut(msgspec.Struct, kw_only=True):
    event_id: str
    session_id: str
    parent_id: str | None
    children_ids: list[str]
    event_type: str
    event_name: str
    source: str
    project_id: str
    org_id: str
    workspace_id: str
    start_time: int
    end_time: int
    duration: float
    error: str | None
    config: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    metadata: dict[str, Any]
    feedback: dict[str, Any]
    metrics: dict[str, Any]
    user_properties: dict[str, Any]


class CreateEventOut(msgspec.Struct):
    success: bool
    event_id: str
    session_id: str


class BatchOut(msgspec.Struct, omit_defaults=True):
    success: bool
    event_ids: list[str]
    session_id: str | None = None


class SuccessOut(msgspec.Struct):
    success: bool


class WriterStats(msgspec.Struct):
    committed_jobs: int
    refused_jobs: int
    queued_events: int
    queued_bytes: int
    # the queue's bounds in this server process (with --workers N, its share)
    max_events: int
    max_bytes: int


class HealthOut(msgspec.Struct):
    success: bool
    version: str
    writer: WriterStats


class DeleteOut(msgspec.Struct):
    success: bool
    deleted: str
    deleted_events: int


class ExportOut(msgspec.Struct):
    events: list[dict[str, Any]]
    totalEvents: int  # noqa: N815 - the wire name
    count: int


class SessionNode(msgspec.Struct, kw_only=True):
    """`GET /v1/sessions/{id}`: an event with its `children` nested by `parent_id`."""

    event_id: str
    event_type: str
    event_name: str
    children: list[SessionNode]
    start_time: int
    end_time: int
    duration: float
    metadata: dict[str, Any]
    org_id: str
    project_id: str


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    message: str
    code: str
    where: str | None = None


class ErrorOut(msgspec.Struct):
    error: ErrorDetail
    message: str
    errorCode: str  # noqa: N815 - the wire name read by HoneyHive SDKs
    success: bool
