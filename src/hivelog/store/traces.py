"""One trace, one session: the parts every backend shares (see "One trace, one session" in
`Store`, store/base.py).

Why here and not in the converter: spans of one trace come in many requests, in any order,
to any process, so only the store — inside its write transaction, beside the mapping of trace
sessions to named sessions it keeps — can tell where a span belongs. What does not touch the
database is written once, here: rewriting a job's events to the session their trace belongs
to, and the names sessions created from attributes get.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from hivelog.event import Event, TraceLink
from hivelog.normalize.ids import trace_session_id
from hivelog.store.base import WriteEvents


def trace_of(event: Event) -> str | None:
    """The trace session id of an OTLP event (from `metadata.otel.trace_id`), else None."""
    otel = event.metadata.get("otel")
    trace_id = otel.get("trace_id") if isinstance(otel, dict) else None
    if not isinstance(trace_id, str) or len(trace_id) != 32:
        return None
    return trace_session_id(trace_id)


def named_links(traces: dict[str, TraceLink]) -> list[tuple[str, str, int]]:
    """(trace session, session named, its rank) for every trace of a job that names a session."""
    return [
        (t, link.session_id, link.rank)
        for t, link in traces.items()
        if link.session_id is not None and link.session_id != t
    ]


# (trace session, session it was mapped to, session it maps to now)
Move = tuple[str, str, str]


def settle(
    stored: dict[str, tuple[str, int]], named: list[tuple[str, str, int]]
) -> tuple[dict[str, str], list[Move]]:
    """The mapping of a job's traces once its links are recorded, from what was stored
    (trace session → (session, rank)) and what the job names (`named_links`): a trace maps to
    the least (rank, session) either names (`TraceLink.prefers`, the rule the stores' upsert
    applies too). And the traces whose mapping changed: what is stored of them in the session
    they left moves to the new one (`Store` step 4)."""
    mapping = {t: session for t, (session, _) in stored.items()}
    moves: list[Move] = []
    for trace, session, rank in named:
        have = stored.get(trace)
        if have is None:
            mapping[trace] = session
        elif (rank, session) < (have[1], have[0]):
            mapping[trace] = session
            moves.append((trace, have[0], session))
    return mapping, moves


def move_traces(
    traces: dict[str, TraceLink],
    mapping: dict[str, str],
    moves: list[Move],
    move_trace: Callable[[str, str], None],
    move_out: Callable[[str, str, str], None],
) -> None:
    """`Store` step 4, after a job's events are in: what is stored of its traces in the wrong
    session moves to the mapped one — from the trace's own session (`move_trace(trace,
    session)`), from a session the job outranked (`move_out(trace, left, session)`)."""
    for trace, session, _ in named_links(traces):
        move_trace(trace, mapping.get(trace, session))
    for trace, left, session in moves:
        move_out(trace, left, session)


def trace_hex(trace_session: str) -> str:
    """The trace id (32 hex digits, as `metadata.otel.trace_id` holds it) of a trace session."""
    return trace_session.replace("-", "")


def relink(events: list[Event], mapping: dict[str, str]) -> tuple[list[Event], dict[str, str]]:
    """`events` with those of mapped traces moved to their trace's session (new objects; the
    caller's stay as they were), and the names of the trace-session events dropped on the way
    (mapped session → name), which name the session they were replaced by."""
    out: list[Event] = []
    names: dict[str, str] = {}
    for e in events:
        trace = trace_of(e) if mapping else None
        target = mapping.get(trace) if trace is not None else None
        if target is None or (e.session_id == target and e.event_id != trace):
            out.append(e)
        elif e.event_id == trace:  # the trace's own session event: the named one replaces it
            names.setdefault(target, e.event_name)
        elif e.event_type == "session" and e.event_id == e.session_id:
            out.append(e)  # a span that is a session itself (HoneyHive's) stays one
        else:
            parent = target if e.parent_id in (e.session_id, trace) else e.parent_id
            out.append(msgspec.structs.replace(e, session_id=target, parent_id=parent))
    return out, names


def relink_job(job: WriteEvents, mapping: dict[str, str]) -> dict[str, str]:
    """Move `job`'s events of mapped traces to their trace's session (`relink`; rows encoded
    before are stale then) and return the names their placeholders take (`session_names`).
    Every backend's insert starts here."""
    dropped: dict[str, str] = {}
    if mapping and job.events:
        job.events, dropped = relink(job.events, mapping)
        job.rows = None
    return session_names(job.traces, mapping, dropped) if job.traces else {}


def session_names(
    traces: dict[str, TraceLink], mapping: dict[str, str], dropped: dict[str, str]
) -> dict[str, str]:
    """session id → the name a placeholder for it takes: the trace's root span (or its name
    attribute), from this request's links or from a trace-session event just dropped."""
    names = dict(dropped)
    for trace, link in traces.items():
        target = mapping.get(trace) or link.session_id
        if target and link.name:
            names.setdefault(target, link.name)
    return names
