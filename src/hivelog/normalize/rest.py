"""REST wire bodies → `Event` / `EventUpdate`. Pure functions, no I/O.

Defaults follow the data-plane spec: ids are generated when absent, `parent_id` defaults to
the session, names and sources default to "unknown", times to now.
"""

from __future__ import annotations

import uuid
from typing import Any

from hivelog.errors import BadInput
from hivelog.event import EVENT_TYPES, Event, EventUpdate
from hivelog.normalize.cost import fill_cost
from hivelog.normalize.times import event_times, now_ms, to_ms
from hivelog.normalize.tokens import usage_tokens
from hivelog.wire.rest import EventFields, EventIn, ModelEventIn, SessionIn, UpdateEventBody


def new_id() -> str:
    return str(uuid.uuid4())


def _event_type(value: str | None, where: str) -> str:
    if value is None:
        raise BadInput("event_type is required (one of model, tool, chain, session)", where)
    kind = value.lower()
    if kind not in EVENT_TYPES:
        raise BadInput(
            f"unknown event_type {value!r}; expected one of {', '.join(EVENT_TYPES)}", where
        )
    return kind


def event_from_wire(
    item: EventIn, where: str, *, session_id: str | None = None, now: int | None = None
) -> Event:
    """One REST event; a `session_id` from a single-session batch or a URL wins over the item."""
    event = _base_event(item, where, session_id, None, now)
    fill_cost(event)
    return event


def _base_event(
    item: EventIn, where: str, session_id: str | None, default_type: str | None, now: int | None
) -> Event:
    kind = _event_type(item.event_type or default_type, f"{where}.event_type")
    event_id = item.event_id or None
    sid = session_id or item.session_id or None
    if kind == "session":
        event_id = sid = sid or event_id or new_id()
    event_id = event_id or new_id()
    sid = sid or new_id()
    parent_id = None if kind == "session" else (item.parent_id or sid)
    return _event(item, where, kind, event_id, sid, parent_id, item.event_name, now)


def session_from_wire(item: SessionIn, where: str, now: int | None = None) -> Event:
    """A session start: the event whose `event_id` is its `session_id`."""
    sid = item.session_id or new_id()
    return _event(item, where, "session", sid, sid, None, item.event_name or item.session_name, now)


def _event(
    item: EventFields,
    where: str,
    kind: str,
    event_id: str,
    session_id: str,
    parent_id: str | None,
    name: str | None,
    now: int | None,
) -> Event:
    """The Event of a wire item whose type and ids are settled; the defaults of every route."""
    start, end, duration = event_times(
        item.start_time, item.end_time, item.duration, where, now or now_ms()
    )
    return Event(
        event_id=event_id,
        session_id=session_id,
        parent_id=parent_id,
        event_type=kind,
        event_name=name or "unknown",
        source=item.source or "unknown",
        start_time=start,
        end_time=end,
        duration=duration,
        error=item.error,
        children_ids=item.children_ids or [],
        config=item.config or {},
        inputs=item.inputs or {},
        outputs=item.outputs or {},
        metadata=item.metadata or {},
        feedback=item.feedback or {},
        metrics=item.metrics or {},
        user_properties=item.user_properties or {},
    )


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def model_event_from_wire(
    item: ModelEventIn, where: str, *, session_id: str | None = None, now: int | None = None
) -> Event:
    """`POST /events/model`: the canonical classic shape plus the data-plane `inputs.*` copies."""
    event = _base_event(item, where, session_id, "model", now)
    if event.event_type != "model":
        raise BadInput("a model event must have event_type model", f"{where}.event_type")
    model = item.model_name or item.model
    if item.event_name is None and model:
        event.event_name = model

    config = dict(event.config)
    _put(config, "model", model)
    _put(config, "provider", item.provider)
    _put(config, "version", item.model_version)
    _put(config, "hyperparameters", item.hyperparameters)
    _put(config, "template", item.template)
    event.config = config

    inputs = dict(event.inputs)
    _put(inputs, "chat_history", item.messages)
    for key in (
        "messages",
        "provider",
        "usage",
        "cost",
        "hyperparameters",
        "template",
        "template_inputs",
        "tools",
        "tool_choice",
        "response_format",
        "duration",
        "error",
    ):
        _put(inputs, key, getattr(item, key))
    event.inputs = inputs

    if item.response is not None:
        outputs = dict(event.outputs)
        outputs.update(item.response)
        outputs["response"] = item.response
        event.outputs = outputs

    metadata = dict(event.metadata)
    for key, count in usage_tokens(item.usage).items():
        metadata.setdefault(key, count)  # counts the client set in metadata win
    _put(metadata, "cost", item.cost)
    event.metadata = metadata
    fill_cost(event)
    return event


def update_from_wire(body: UpdateEventBody, where: str, event_id: str | None = None) -> EventUpdate:
    """`PUT /events` / `PUT /v1/events/{id}`; the path's id wins over the body's."""
    target = event_id or body.event_id
    if not target:
        raise BadInput("event_id is required", f"{where}.event_id")
    return EventUpdate(
        event_id=target,
        config=body.config,
        outputs=body.outputs,
        metadata=body.metadata,
        feedback=body.feedback,
        metrics=body.metrics,
        user_properties=body.user_properties,
        duration=float(body.duration) if body.duration is not None else None,
        end_time=to_ms(body.end_time, f"{where}.end_time"),
        error=body.error,
        children_ids=body.children_ids or None,
    )
