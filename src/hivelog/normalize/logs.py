"""OTLP log records → updates of the span events they belong to, and how they fold in. Pure.

A log record with a span context (trace id + span id) belongs to that span's event, whose id
(`span_event_id`) is known without seeing the span. Each record therefore becomes part of an
`EventUpdate` of that event, and the store's update path does the rest: applied at once when
the event is stored, parked and folded on when it arrives — in any order, in any process.

GenAI message events (`gen_ai.user.message`, `gen_ai.choice`,
`gen_ai.client.inference.operation.details`, …) become `inputs.chat_history` and `outputs`
through the GenAI dialect's own mapping (`genai.event_messages`), exactly as the same content
on span events does. Other records are kept in `metadata.logs`.

Why updates carry records, not a history: a conversation arrives as many records, often in
several requests, and an update that replaced `chat_history` would lose what another one
brought. So an update carries the records themselves (`EventUpdate.logs`) and folding one in
inserts its messages at their place, ordered by record time, then position in its request,
then record key. The sort key of every message folded in is kept in
`metadata.otel.log_order` (`history`, `outputs`, parallel to the lists they order) so the
next record knows where its messages go. A record's key is a hash of its content: a record
already folded in is skipped, so resending a log changes nothing.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import Any

import msgspec

from hivelog.event import Event, EventUpdate
from hivelog.normalize.dialects.genai import event_messages, output_fields
from hivelog.normalize.ids import span_event_id
from hivelog.normalize.otlp import PROJECT_KEYS, Converted, take
from hivelog.wire.otlp import LogIn

MAX_KEPT = 1000  # other records kept per event in metadata.logs; later ones are only counted
_encode = msgspec.msgpack.Encoder().encode


def record_key(record: LogIn) -> str:
    """A stable hash of everything the record says: a resend has the same key."""
    body = (
        record.trace_id,
        record.span_id,
        record.time_ns,
        record.event_name,
        record.severity_number,
        record.severity_text,
        record.body,
        record.attributes,
    )
    return hashlib.sha1(_encode(body)).hexdigest()[:20]


def _entry(record: LogIn, order: int) -> dict[str, Any]:
    """A record as an update carries it (and as `metadata.logs` keeps a non-GenAI one)."""
    entry: dict[str, Any] = {
        "key": f"{record.time_ns:020d}:{order:06d}:{record_key(record)}",
        "time": record.time_ns // 1_000_000,
    }
    if record.event_name:
        entry["name"] = record.event_name
    if record.severity_text or record.severity_number:
        entry["severity"] = record.severity_text or record.severity_number
    if record.body is not None:
        entry["body"] = record.body
    if record.attributes:
        entry["attributes"] = record.attributes
    return entry


def logs_to_updates(records: list[LogIn], default_project: str) -> Converted:
    """One update per span event named by the records, grouped by project; records with no
    span context are refused one by one (OTLP `partial_success`)."""
    out = Converted()
    updates: dict[tuple[str, str], EventUpdate] = {}
    for index, record in enumerate(records):
        if not record.trace_id or not record.span_id:
            what = "trace_id" if not record.trace_id else "span_id"
            label = f" ({record.event_name!r})" if record.event_name else ""
            out.refuse(
                f"log record {index}{label}: no span context (missing or invalid {what}); "
                "hivelog stores a log record with the span it belongs to"
            )
            continue
        project = str(take(record.attributes, record.resource, PROJECT_KEYS) or default_project)
        event_id = span_event_id(record.trace_id, record.span_id)
        update = updates.get((project, event_id))
        if update is None:
            update = updates[(project, event_id)] = EventUpdate(event_id=event_id, logs=[])
            out.updates.setdefault(project, []).append(update)
        assert update.logs is not None
        update.logs.append(_entry(record, len(update.logs)))
    return out


# ---- folding records into an event (EventUpdate.logs, applied by apply_update) --------------


def _messages(entry: dict[str, Any]) -> tuple[list[Any], list[Any]] | None:
    """What a GenAI record says, read as the GenAI dialect reads a span event: its attributes,
    with its body as the event content (and, for a map body, its keys as attributes too)."""
    name = entry.get("name")
    if not isinstance(name, str) or not name.startswith("gen_ai."):
        return None
    attrs = dict(entry.get("attributes") or {})
    body = entry.get("body")
    if body is not None:
        if isinstance(body, dict):
            for key in ("gen_ai.input.messages", "gen_ai.output.messages", "message"):
                if key in body:
                    attrs.setdefault(key, body[key])
            if "finish_reason" in body:
                attrs.setdefault("finish_reason", body["finish_reason"])
            if "gen_ai.system_instructions" in body:
                attrs.setdefault("gen_ai.system_instructions", body["gen_ai.system_instructions"])
        attrs["gen_ai.event.content"] = body
    return event_messages(name, attrs)


def _insert(keys: list[str], items: list[Any], key: str, item: Any) -> None:
    at = bisect.bisect(keys, key)
    keys.insert(at, key)
    items.insert(at, item)


def _outputs_list(outputs: dict[str, Any]) -> list[Any]:
    choices = outputs.get("choices")
    if isinstance(choices, list):
        return list(choices)
    return [outputs] if outputs else []


def fold_logs(event: Event, entries: list[dict[str, Any]]) -> None:
    """Fold log records (as `logs_to_updates` made them) into `event`, in place; a record
    already folded in is skipped, whatever order the records come in."""
    otel = dict(event.metadata.get("otel") or {})
    found_order = otel.get("log_order")
    order: dict[str, Any] = found_order if isinstance(found_order, dict) else {}
    hkeys: list[str] = list(order.get("history") or [])
    okeys: list[str] = list(order.get("outputs") or [])
    history = event.inputs.get("chat_history")
    history = list(history) if hkeys and isinstance(history, list) else []
    if len(history) != len(hkeys):  # changed since (or never from logs): logs start afresh
        history, hkeys = [], []
    outputs = _outputs_list(event.outputs) if okeys else []
    if len(outputs) != len(okeys):
        outputs, okeys = [], []
    # `metadata.logs`, unless an attribute of the span already took that name
    field = "logs" if isinstance(event.metadata.get("logs", []), list) else "otel_logs"
    kept = [e for e in event.metadata.get(field) or [] if isinstance(e, dict)]
    seen = {k.split(":")[2] for k in hkeys if k.count(":") == 3}
    seen.update(k.split(":")[3] for k in okeys if k.count(":") == 4)
    seen.update(str(e.get("key", "")).split(":")[-1] for e in kept)
    dropped = 0
    changed_history = changed_outputs = False
    for entry in entries:
        key = str(entry.get("key", ""))
        record = key.split(":")[-1]
        if record in seen:
            continue
        seen.add(record)
        found = _messages(entry)
        if found is None:
            if len(kept) >= MAX_KEPT:
                dropped += 1
                continue
            at = bisect.bisect([str(e.get("key", "")) for e in kept], key)
            kept.insert(at, entry)
            continue
        said, answered = found
        for i, message in enumerate(said):
            _insert(hkeys, history, f"{key}:{i:04d}", message)
            changed_history = True
        body = entry.get("body")
        index = body.get("index") if isinstance(body, dict) else None
        rank = index if isinstance(index, int) and not isinstance(index, bool) else 0
        for i, message in enumerate(answered):
            _insert(okeys, outputs, f"{rank:06d}:{key}:{i:04d}", message)
            changed_outputs = True
    if changed_history:
        event.inputs = {**event.inputs, "chat_history": history}
    if changed_outputs:
        event.outputs = output_fields(outputs)
    if changed_history or changed_outputs:
        otel["log_order"] = {"history": hkeys, "outputs": okeys}
        event.metadata = {**event.metadata, "otel": otel}
    if kept or dropped:
        metadata = dict(event.metadata)
        if kept:
            metadata[field] = kept
        if dropped:
            metadata["logs_dropped"] = int(metadata.get("logs_dropped") or 0) + dropped
        event.metadata = metadata
