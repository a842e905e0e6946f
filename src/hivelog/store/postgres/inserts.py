"""New events into PostgreSQL: sessions fixed to a day, COPY, placeholders, the ON CONFLICT way.

Why a module of its own: inserting a batch of events is the hot path and the most intricate
part of the store — every session gets its day (and so its partition) once, new rows go in by
COPY, a collision with a stored key falls back to `INSERT … SELECT FROM unnest(arrays)
ON CONFLICT`, placeholder sessions stand in for sessions not yet seen, and parked updates are
folded in (see `updates`). The SQL it sends, built from the column list once, is here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg
from psycopg import errors as pg_errors

from hivelog.event import Event
from hivelog.store.base import UNRESOLVED, Project, WriteEvents
from hivelog.store.postgres.connection import _json, _no_nul, _text, day_of
from hivelog.store.postgres.traces import Traces
from hivelog.store.postgres.updates import Updates
from hivelog.store.rows import INSERT_COLUMNS, event_values, placeholder_sessions, with_parked
from hivelog.store.traces import move_traces, relink_job

_JSON_COLUMNS = ("children_ids", *INSERT_COLUMNS[-7:])
_TYPES = {
    "event_id": "text",
    "session_id": "text",
    "parent_id": "text",
    "event_type": "text",
    "event_name": "text",
    "source": "text",
    "start_time": "int8",
    "end_time": "int8",
    "duration": "float8",
    "error": "text",
    "placeholder": "int2",
    **{c: "text" for c in _JSON_COLUMNS},
}


def _select_expr(column: str) -> str:
    return f"t.{column}::jsonb" if column in _JSON_COLUMNS else f"t.{column}"


def _unnest(extra: Sequence[tuple[str, str]] = ()) -> str:
    """`unnest(arrays) AS t(INSERT_COLUMNS…, extra…)` with one %b per array."""
    columns = [*((c, _TYPES[c]) for c in INSERT_COLUMNS), *extra]
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in columns)  # binary: no array escaping
    return f"unnest({arrays}) AS t({', '.join(name for name, _ in columns)})"


_COLS = "project, day, " + ", ".join(INSERT_COLUMNS)
_VALUES = "%s, t.day, " + ", ".join(_select_expr(c) for c in INSERT_COLUMNS)
_REPLACE = ", ".join(f"{c} = excluded.{c}" for c in INSERT_COLUMNS)
_INSERT_SESSIONS = (
    "INSERT INTO sessions (project, session_id, day) "
    "SELECT %s, s, d FROM unnest(%b::text[], %b::int4[]) AS t(s, d) ORDER BY s "
    "ON CONFLICT (project, session_id) DO NOTHING"
)
# A new statement after _INSERT_SESSIONS: it sees the sessions another process committed
# while that statement waited for it, so every process puts a session in the same day.
_SESSION_DAYS = "SELECT session_id, day FROM sessions WHERE project = %s AND session_id = ANY(%s)"
# New events go in by COPY (see _copy_events); this is the way when one is already stored:
# a real event replaces a placeholder session, a resend of a real event changes nothing.
_COPY_EVENTS = f"COPY events ({_COLS}) FROM STDIN"
_INSERT_EVENTS = (
    f"INSERT INTO events ({_COLS}) SELECT {_VALUES} FROM {_unnest([('day', 'int4')])} "
    f"ON CONFLICT (project, event_id, day) DO UPDATE SET {_REPLACE} "
    "WHERE events.placeholder = 1"
)
_WIDEN = (
    # A placeholder spans every event known to reference it, whatever order they came in.
    "ON CONFLICT (project, event_id, day) DO UPDATE SET "
    "start_time = LEAST(events.start_time, excluded.start_time), "
    "end_time = GREATEST(events.end_time, excluded.end_time), "
    "duration = GREATEST(events.end_time, excluded.end_time) "
    "- LEAST(events.start_time, excluded.start_time), "
    "event_name = CASE events.event_name WHEN 'unknown' THEN excluded.event_name "
    "ELSE events.event_name END "
    "WHERE events.placeholder = 1"
)
_PLACEHOLDER_FROM = _unnest([("day", "int4")])
# Placeholder sessions of events just COPYed: every one of those events is stored.
_INSERT_PLACEHOLDERS = (
    f"INSERT INTO events ({_COLS}) SELECT {_VALUES} FROM {_PLACEHOLDER_FROM} {_WIDEN}"
)
# After an INSERT … ON CONFLICT, only for sessions some real event of the project is stored in
# (this write's or an earlier one's): an event whose resend was ignored must not leave behind
# the new session it was sent with, and later events that name that session still get it.
_INSERT_PLACEHOLDERS_CHECKED = (
    f"INSERT INTO events ({_COLS}) SELECT {_VALUES} FROM {_PLACEHOLDER_FROM} "
    "WHERE EXISTS (SELECT 1 FROM events e WHERE e.project = %s AND e.day = t.day "
    "AND e.session_id = t.session_id AND e.placeholder = 0 AND e.event_id <> t.session_id) "
    f"{_WIDEN}"
)
# Parked updates of a write's ids, and whether the event of each is stored for real already.
_PENDING = (
    "SELECT p.seq, p.event_id, p.body, EXISTS (SELECT 1 FROM events e WHERE e.project = %s "
    "AND e.event_id = p.event_id AND e.placeholder = 0) FROM pending_updates p "
    f"WHERE p.project IN (%s, {UNRESOLVED}) AND p.event_id = ANY(%s) ORDER BY p.seq"
)
_DROP_PARKED = f"DELETE FROM pending_updates WHERE project IN (%s, {UNRESOLVED}) AND seq = ANY(%s)"


def _fold_before_insert(
    events: dict[str, tuple[Event, bytes]], parked: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Fold parked updates into the events this write will store (new, or a real session
    replacing its placeholder, which keeps its parked updates for it), so each is written
    once instead of inserted, read back, folded and written again; `events` gets the folded
    events and their lines. Returns the parked updates left to fold into stored rows
    (placeholders, events stored before) and the seqs of those folded here."""
    mine: dict[str, list[tuple[int, str]]] = {}
    rest: list[tuple[Any, ...]] = []
    for seq, event_id, body, real in parked:
        if real or event_id not in events:
            rest.append((seq, event_id, body))
        else:
            mine.setdefault(event_id, []).append((seq, body))
    for event_id, items in mine.items():
        event = with_parked(events[event_id][0], items)
        events[event_id] = (event, copy_line(event))
    return rest, [seq for items in mine.values() for seq, _ in items]


_json_bytes = msgspec.json.Encoder().encode


def _copy_text(value: str) -> str:
    """A text field in COPY's text format (a tab, newline or backslash escaped)."""
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        value = value.replace("\t", "\\t")
    return value


def _copy_json(value: dict[str, Any] | list[str]) -> bytes:
    """JSON in COPY's text format: msgspec escapes every control character inside JSON
    strings, so only its backslashes need doubling. An empty object is stored as NULL."""
    return _json_bytes(value).replace(b"\\", b"\\\\") if value else b"\\N"


def copy_line(event: Event) -> bytes:
    """One event as a line of `COPY events FROM STDIN` after its `project` and `day`, in
    INSERT_COLUMNS order: encoded in the request's thread (Store.encode_rows), so the writer
    only prefixes the key and day and sends it. PostgreSQL refuses U+0000 in text; such a line
    fails the COPY, and the batch is sent again through `_columns`, which replaces it."""
    e = event
    head = "\t".join(
        (
            _copy_text(e.event_id),
            _copy_text(e.session_id),
            "\\N" if e.parent_id is None else _copy_text(e.parent_id),
            _copy_text(e.event_type),
            _copy_text(e.event_name),
            _copy_text(e.source),
            str(e.start_time),
            str(e.end_time),
            repr(float(e.duration)),  # repr round-trips; PostgreSQL reads inf and nan too
            "\\N" if e.error is None else _copy_text(e.error),
            "0",  # placeholder
        )
    )
    return b"\t".join(
        (
            head.encode(),
            _copy_json(e.children_ids),
            _copy_json(e.config),
            _copy_json(e.inputs),
            _copy_json(e.outputs),
            _copy_json(e.metadata),
            _copy_json(e.feedback),
            _copy_json(e.metrics),
            _copy_json(e.user_properties),
        )
    )


def copy_lines(events: list[Event]) -> list[bytes]:
    """A job's events as COPY lines (`copy_line`): the store's `encode_rows`."""
    return [copy_line(e) for e in events]


def _columns(events: Sequence[Event], placeholder: int = 0) -> list[list[Any]]:
    """Column arrays for _unnest, in INSERT_COLUMNS order, with text carrying U+0000 (which
    PostgreSQL refuses) re-encoded. The way of the few batches COPY cannot take."""
    rows = [event_values(e, placeholder) for e in events]
    columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
    for i, name in enumerate(INSERT_COLUMNS):
        kind = _TYPES[name]
        if kind != "text":
            if name == "duration":
                columns[i] = [float(v) for v in columns[i]]
            continue
        col = columns[i]
        if name in _JSON_COLUMNS:
            if any(v is not None and "\\u0000" in v for v in col):
                field = name
                columns[i] = [_json(getattr(e, field)) for e in events]
        elif any(v is not None and "\x00" in v for v in col):
            columns[i] = [_text(v) for v in col]
    return columns


class Inserts(Updates, Traces):
    """The events of one job: sessions, COPY or INSERT … ON CONFLICT, placeholders, folding."""

    def _insert_events(
        self, conn: psycopg.Connection[Any], project: Project, job: WriteEvents
    ) -> None:
        """Sessions recorded, events inserted, placeholders added, parked updates looked up:
        four statements sent as one pipeline (one round trip), then folding if any."""
        if not job.events:
            return
        mapping, moves = self._link_traces(conn, project, job)
        names = relink_job(job, mapping)
        pairs = list(zip(job.events, job.event_rows(copy_lines), strict=True))
        if any("\x00" in f"{e.event_id}{e.session_id}{e.parent_id}" for e in job.events):
            clean = [
                msgspec.structs.replace(
                    e,
                    event_id=_no_nul(e.event_id),
                    session_id=_no_nul(e.session_id),
                    parent_id=_no_nul(e.parent_id),
                )
                for e in job.events
            ]
            pairs = list(zip(clean, [copy_line(e) for e in clean], strict=True))
        events: dict[str, tuple[Event, bytes]] = {}
        for e, row in pairs:
            events.setdefault(e.event_id, (e, row))  # the first of repeated ids wins
        wanted: dict[str, int] = {}
        for e, _ in events.values():
            if e.event_type == "session" and e.event_id == e.session_id:
                wanted[e.session_id] = day_of(e.start_time)
        for e, _ in events.values():
            wanted.setdefault(e.session_id, day_of(e.start_time))
        # every event sent, as on SQLite, ignored resends included
        placeholders = placeholder_sessions((e for e, _ in pairs), names)
        sessions = sorted(wanted)
        ordered = [events[k] for k in sorted(events)]  # one lock order in every process
        ids = {k: e.session_id for k, (e, _) in events.items()}
        for sid in placeholders:
            ids.setdefault(sid, sid)
        with conn.pipeline():
            conn.execute(_INSERT_SESSIONS, (project.key, sessions, [wanted[s] for s in sessions]))
            # A statement of its own: sees sessions another process committed while we waited.
            found = conn.execute(_SESSION_DAYS, (project.key, sessions))
            # Updates parked for these ids: none can be parked meanwhile (an update takes its
            # id's bucket lock exclusively, and this write holds it shared until COMMIT).
            pending = conn.execute(_PENDING, (project.key, project.key, list(ids)))
        days = dict(found.fetchall())
        parked = pending.fetchall()
        folded: list[int] = []
        if parked:
            parked, folded = _fold_before_insert(events, parked)
            ordered = [events[k] for k in sorted(events)]
        row_days = [days[e.session_id] for e, _ in ordered]
        columns: list[list[Any]] | None = None
        try:
            copied = self._copy_lines(conn, project, [line for _, line in ordered], row_days)
        except psycopg.DataError:  # text PostgreSQL refuses (U+0000): cleaned, then again
            columns = _columns([e for e, _ in ordered])
            copied = self._copy_rows(conn, project, list(zip(*columns, strict=True)), row_days)
        with conn.pipeline():
            if not copied:
                if columns is None:
                    columns = _columns([e for e, _ in ordered])
                conn.execute(_INSERT_EVENTS, [project.key, *columns, row_days])
            if placeholders:
                stubs = sorted(placeholders.values(), key=lambda p: p.event_id)
                params = [
                    project.key,
                    *_columns(stubs, placeholder=1),
                    [days[p.session_id] for p in stubs],
                ]
                if copied:
                    conn.execute(_INSERT_PLACEHOLDERS, params)
                else:
                    conn.execute(_INSERT_PLACEHOLDERS_CHECKED, [*params, project.key])
            if folded:
                conn.execute(_DROP_PARKED, (project.key, folded))
        if parked:
            self._fold_pending(conn, project, ids, parked)
        move_traces(
            job.traces,
            mapping,
            moves,
            lambda trace, session: self._move_trace(conn, project, trace, session),
            lambda trace, left, session: self._move_out(
                conn, project, trace, _no_nul(left), _no_nul(session)
            ),
        )

    @staticmethod
    def _copy_lines(
        conn: psycopg.Connection[Any], project: Project, lines: Sequence[bytes], days: Sequence[int]
    ) -> bool:
        """COPY new events straight into their partitions; False if one was already stored.

        COPY inserts in bulk (multi-row WAL records, measured at about twice the rate of an
        INSERT … ON CONFLICT of the same rows here). Resends and real sessions replacing their
        placeholder collide with a stored key: the savepoint is rolled back and the caller
        inserts with ON CONFLICT instead. A concurrent insert of the same key in another
        process makes COPY wait for it and then fail the same way, so the outcome is the same.
        The lines were encoded in the requests (`copy_line`); here each only gets its key and day.
        """
        key = str(project.key).encode()
        data = b"".join(
            b"%s\t%d\t%s\n" % (key, day, line) for day, line in zip(days, lines, strict=True)
        )
        try:
            with conn.transaction(), conn.cursor().copy(_COPY_EVENTS) as copy:
                copy.write(data)
        except pg_errors.UniqueViolation:
            return False
        return True

    @staticmethod
    def _copy_rows(
        conn: psycopg.Connection[Any],
        project: Project,
        rows: Sequence[tuple[Any, ...]],
        days: Sequence[int],
    ) -> bool:
        """`_copy_lines` for rows of values (after U+0000 was replaced), formatted by psycopg."""
        try:
            with conn.transaction(), conn.cursor().copy(_COPY_EVENTS) as copy:
                key = project.key
                for day, row in zip(days, rows, strict=True):
                    copy.write_row((key, day, *row))
        except pg_errors.UniqueViolation:
            return False
        return True
