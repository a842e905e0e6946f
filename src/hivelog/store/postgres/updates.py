"""Updates of stored events, and updates parked until their event arrives.

Why a module of its own: an update (`PUT /events`) may reach the store before the event it
changes, even in another process. It is then parked in `pending_updates`, and the insert of the
event folds parked updates in (see `inserts`). Both paths load an event row-locked, apply the
update and write the changed columns back; that shared machinery is here.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from typing import Any

import msgspec
import psycopg

from hivelog.event import Event, EventUpdate, apply_update
from hivelog.store.base import UNRESOLVED, Project
from hivelog.store.postgres.connection import _SELECT, PostgresBase, _json, _no_nul, _text
from hivelog.store.rows import apply_parked, row_to_event

_WRITE_BACK = (
    "UPDATE events SET children_ids = %s::jsonb, config = %s::jsonb, inputs = %s::jsonb, "
    "outputs = %s::jsonb, metadata = %s::jsonb, feedback = %s::jsonb, metrics = %s::jsonb, "
    "user_properties = %s::jsonb, duration = %s, end_time = %s, error = %s "
    "WHERE project = %s AND day = %s AND event_id = %s"
)

_encode_update = msgspec.json.Encoder().encode


@dataclasses.dataclass
class _Found:
    day: int
    event: Event
    placeholder: bool


class Updates(PostgresBase):
    """Apply an update now, or park it; fold parked updates into an event just inserted."""

    def _fold_pending(
        self,
        conn: psycopg.Connection[Any],
        project: Project,
        ids: dict[str, str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Apply updates that arrived before their event; drop them once the event is real."""
        pending: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for seq, event_id, body in rows:
            pending[event_id].append((seq, body))
        for event_id, items in pending.items():
            found = self._load_for_update(conn, project, event_id, ids[event_id])
            if found is None:
                continue
            apply_parked(found.event, items)
            self._write_back(conn, project, found)
            if not found.placeholder:
                conn.execute(
                    f"DELETE FROM pending_updates WHERE project IN (%s, {UNRESOLVED}) "
                    "AND seq = ANY(%s)",
                    (project.key, [s for s, _ in items]),
                )

    def _update(self, conn: psycopg.Connection[Any], project: Project, update: EventUpdate) -> None:
        if "\x00" in update.event_id:
            update = msgspec.structs.replace(update, event_id=_no_nul(update.event_id))
        found = self._load_for_update(conn, project, update.event_id, None)
        if found is not None:
            apply_update(found.event, update)
            self._write_back(conn, project, found)
            if not found.placeholder:
                return
        self._park(conn, project.key, update)

    def _update_anywhere(self, conn: psycopg.Connection[Any], update: EventUpdate) -> None:
        """An update that named no project: onto the event of its id in every project that
        holds it (one, unless ids were reused); parked under UNRESOLVED until a real event of
        that id is stored, in whichever project it comes. The writer's lock on the id's bucket
        (taken whatever the project) orders this against that event's insert in any process."""
        if "\x00" in update.event_id:
            update = msgspec.structs.replace(update, event_id=_no_nul(update.event_id))
        real = False
        keys = conn.execute(
            "SELECT key FROM projects p WHERE EXISTS "
            "(SELECT 1 FROM events e WHERE e.project = p.key AND e.event_id = %s)",
            (update.event_id,),
        ).fetchall()
        for (key,) in keys:
            project = Project(key=key, project_id="", name="")
            found = self._load_for_update(conn, project, update.event_id, None)
            if found is not None:
                apply_update(found.event, update)
                self._write_back(conn, project, found)
                real = real or not found.placeholder
        if not real:
            self._park(conn, UNRESOLVED, update)

    @staticmethod
    def _park(conn: psycopg.Connection[Any], key: int, update: EventUpdate) -> None:
        conn.execute(
            "INSERT INTO pending_updates (project, event_id, body, received_at) "
            "VALUES (%s, %s, %s, %s)",
            (key, update.event_id, _encode_update(update).decode(), int(time.time() * 1000)),
        )

    def _load_for_update(
        self, conn: psycopg.Connection[Any], project: Project, event_id: str, session: str | None
    ) -> _Found | None:
        """The event, row-locked; in its session's partition when the session is known."""
        where = "project = %s AND event_id = %s"
        params: list[Any] = [project.key, event_id]
        if session is not None:
            where += " AND day = (SELECT day FROM sessions WHERE project = %s AND session_id = %s)"
            params += [project.key, session]
        row = conn.execute(
            f"SELECT day, {_SELECT} FROM events WHERE {where} LIMIT 1 FOR UPDATE", params
        ).fetchone()
        if row is None:
            return None
        return _Found(day=row[0], event=row_to_event(row[1:]), placeholder=bool(row[12]))

    def _write_back(self, conn: psycopg.Connection[Any], project: Project, found: _Found) -> None:
        e = found.event
        conn.execute(
            _WRITE_BACK,
            (
                _json(e.children_ids),
                _json(e.config),
                _json(e.inputs),
                _json(e.outputs),
                _json(e.metadata),
                _json(e.feedback),
                _json(e.metrics),
                _json(e.user_properties),
                e.duration,
                e.end_time,
                _text(e.error),
                project.key,
                found.day,
                e.event_id,
            ),
        )
