"""The SQLite write path, run only by the group-commit writer thread.

Events go in with one INSERT per row that a placeholder session may absorb; sessions named by
an event but not yet started get a placeholder; updates that arrive before their event wait in
`pending_updates` and are folded on when it arrives, so any arrival order converges.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from hivelog.event import Event, EventUpdate, apply_update
from hivelog.store.base import (
    UNRESOLVED,
    DeleteSession,
    Job,
    JobFailed,
    JobResult,
    Project,
    WriteEvents,
    merge_runs,
)
from hivelog.store.packing import json_bytes, pack, pack_rows
from hivelog.store.rows import (
    INSERT_COLUMNS,
    apply_parked,
    event_values,
    placeholder_sessions,
    row_to_event,
    to_json,
    with_parked,
)
from hivelog.store.sqlite.connection import SELECT, chunks, insert_rows, marks
from hivelog.store.sqlite.traces import SqliteTraces
from hivelog.store.traces import move_traces, relink_job

_INSERT_COLS = ", ".join(("project", *INSERT_COLUMNS))
_WIDTH = len(INSERT_COLUMNS) + 1  # values of an event row: project, then INSERT_COLUMNS
_REPLACE_PLACEHOLDER = ", ".join(f"{c} = excluded.{c}" for c in INSERT_COLUMNS)
# A real event replaces a placeholder session; a resend of a real event changes nothing.
_INSERT_EVENT_HEAD = f"INSERT INTO events ({_INSERT_COLS})"
_INSERT_EVENT_TAIL = (
    f"ON CONFLICT (project, event_id) DO UPDATE SET {_REPLACE_PLACEHOLDER} "
    "WHERE events.placeholder = 1"
)
# A session referenced by a stored event, unless the session exists: some real event of the
# project is stored in it (this write's, or an earlier one's). An event whose resend was ignored
# must not leave behind the new session it was sent with; later events of the same write that
# name that session still get it. Rows: the placeholder's event row, then (project, session).
# The session's own id is excluded: a session event is not a placeholder's reason.
_INSERT_PLACEHOLDER_HEAD = (
    f"INSERT INTO events ({_INSERT_COLS}) "
    f"SELECT {', '.join(f'v.column{i + 1}' for i in range(_WIDTH))} FROM ("
)
_INSERT_PLACEHOLDER_TAIL = (
    f") AS v WHERE EXISTS (SELECT 1 FROM events WHERE project = v.column{_WIDTH + 1} "
    f"AND session_id = v.column{_WIDTH + 2} AND placeholder = 0 "
    f"AND event_id <> v.column{_WIDTH + 2}) "
    # A placeholder spans every event known to reference it, whatever order they came in.
    "ON CONFLICT (project, event_id) DO UPDATE SET "
    "start_time = min(events.start_time, excluded.start_time), "
    "end_time = max(events.end_time, excluded.end_time), "
    "duration = max(events.end_time, excluded.end_time) "
    "- min(events.start_time, excluded.start_time), "
    "event_name = CASE events.event_name WHEN 'unknown' THEN excluded.event_name "
    "ELSE events.event_name END "
    "WHERE events.placeholder = 1"
)
_WRITE_BACK = (
    "UPDATE events SET children_ids = ?, config = ?, inputs = ?, outputs = ?, metadata = ?, "
    "feedback = ?, metrics = ?, user_properties = ?, duration = ?, end_time = ?, error = ? "
    "WHERE seq = ?"
)
# An update whose event is not stored yet; `received_at` lets retention expire it.
_PARK = "INSERT INTO pending_updates (project, event_id, body, received_at) VALUES (?, ?, ?, ?)"
_encode_update = msgspec.json.Encoder().encode


def sqlite_row(event: Event, placeholder: int = 0) -> tuple[Any, ...]:
    """The INSERT_COLUMNS values of one event as SQLite stores them, but for inputs and outputs
    long enough to pack: those are JSON bytes until `sqlite_rows` packs them."""
    return event_values(event, placeholder, json_bytes)


def sqlite_rows(events: list[Event]) -> list[tuple[Any, ...]]:
    """Events as SQLite stores them (`sqlite_row`), their long inputs and outputs packed all
    at once (`packing.pack_rows`): one compression call per job, in the request's thread or a
    conversion worker. Python-zstandard lets go of the GIL in every call, and the thread must
    win it back from the other: once per job, not once per event, and not in the writer, the
    pipeline's serial stage."""
    return pack_rows([sqlite_row(e) for e in events])


class SqliteWrites(SqliteTraces):
    encode_rows = staticmethod(sqlite_rows)  # bound as parameters of one INSERT
    writers = 1  # SQLite has one writer at a time

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        """All jobs in one transaction. A savepoint per job costs two statements per request,
        so they are only paid when a job actually fails: then the transaction is rolled back
        and replayed with a savepoint around each job, and only the failing ones are lost.
        """
        try:
            return self._write(jobs, isolate=False)
        except JobFailed:
            return self._write(jobs, isolate=True)

    def _write(self, jobs: Sequence[Job], *, isolate: bool) -> list[JobResult]:
        conn = self._conn_w()
        results: list[JobResult] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            runs = [(j, 1) for j in jobs] if isolate else merge_runs(jobs, sqlite_rows)
            for job, covers in runs:
                project = self._project_for_write(conn, job.project) if job.project else None
                if not isolate:
                    try:
                        deleted = self._apply(conn, project, job)
                    except Exception as exc:
                        raise JobFailed from exc
                    results.extend([JobResult(project=project, deleted=deleted)] * covers)
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    deleted = self._apply(conn, project, job)
                except Exception as exc:  # one bad job never fails its neighbours
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append(JobResult(project=project, error=exc))
                    continue
                conn.execute("RELEASE job")
                results.append(JobResult(project=project, deleted=deleted))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._projects.clear()
            raise
        return results

    def _apply(self, conn: sqlite3.Connection, project: Project | None, job: Job) -> int:
        if project is None:  # updates that named no project (WriteEvents)
            assert isinstance(job, WriteEvents) and not job.events
            for update in job.updates:
                self._update_anywhere(conn, update)
            return 0
        if isinstance(job, DeleteSession):
            return self._delete_session(conn, project, job.session_id)
        self._insert_events(conn, project, job)
        for update in job.updates:
            self._update(conn, project, update)
        return 0

    def _insert_events(self, conn: sqlite3.Connection, project: Project, job: WriteEvents) -> None:
        if not job.heads():
            return
        key = project.key
        mapping, moves = self._link_traces(conn, project, job)
        names = relink_job(job, mapping)
        heads = job.heads()  # after relinking, which may have rewritten the events
        placeholders = placeholder_sessions(heads, names)
        pending = self._pending(
            conn, project, list({e.event_id for e in heads} | placeholders.keys())
        )
        rows = job.event_rows(sqlite_rows)
        if pending:
            rows = self._fold_before_insert(conn, project, job.events, rows, pending)
        insert_rows(conn, _INSERT_EVENT_HEAD, rows, _INSERT_EVENT_TAIL, first=(key,))
        if placeholders:
            insert_rows(
                conn,
                _INSERT_PLACEHOLDER_HEAD,
                [
                    (key, *sqlite_row(p, placeholder=1), key, p.session_id)
                    for p in placeholders.values()
                ],
                _INSERT_PLACEHOLDER_TAIL,
            )
        if pending:
            self._fold_stored(conn, project, pending)
        move_traces(
            job.traces,
            mapping,
            moves,
            lambda trace, session: self._move_trace(conn, project, trace, session),
            lambda trace, left, session: self._move_out(conn, project, trace, left, session),
        )

    def _pending(
        self, conn: sqlite3.Connection, project: Project, ids: list[str]
    ) -> dict[str, list[tuple[int, str]]]:
        """Updates parked for `ids` (in this project or none), oldest first, by event id."""
        pending: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for chunk in chunks(ids):
            for seq, event_id, body in conn.execute(
                f"SELECT seq, event_id, body FROM pending_updates "
                f"WHERE project IN (?, {UNRESOLVED}) AND event_id IN ({marks(len(chunk))}) "
                "ORDER BY seq",
                (project.key, *chunk),
            ):
                pending[event_id].append((seq, body))
        return pending

    def _fold_before_insert(
        self,
        conn: sqlite3.Connection,
        project: Project,
        events: list[Event],
        rows: list[Any],
        pending: dict[str, list[tuple[int, str]]],
    ) -> list[Any]:
        """The rows to insert with the updates parked for them folded in, so each such event
        is written once instead of inserted, read back, folded and written again. Only for an
        event the INSERT will store: new, or replacing a placeholder (which keeps its parked
        updates for the real event), and only its first occurrence in the job (a repeat is an
        ignored resend). Their parked updates are dropped from `pending` and from the table;
        the caller folds the rest (placeholders, events stored before) into what is stored."""
        wanted = [e.event_id for e in events if e.event_id in pending]
        real: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(wanted))):
            real.update(
                event_id
                for (event_id,) in conn.execute(
                    f"SELECT event_id FROM events WHERE project = ? AND placeholder = 0 "
                    f"AND event_id IN ({marks(len(chunk))})",
                    (project.key, *chunk),
                )
            )
        out = list(rows)
        folded_seqs: list[tuple[int]] = []
        for i, e in enumerate(events):
            items = pending.get(e.event_id)
            if items is None or e.event_id in real:
                continue
            out[i] = sqlite_rows([with_parked(e, items)])[0]
            del pending[e.event_id]
            real.add(e.event_id)  # stored once this job is in; a repeat is a resend
            folded_seqs.extend((seq,) for seq, _ in items)
        conn.executemany("DELETE FROM pending_updates WHERE seq = ?", folded_seqs)
        return out

    def _fold_stored(
        self, conn: sqlite3.Connection, project: Project, pending: dict[str, list[tuple[int, str]]]
    ) -> None:
        """Apply updates that arrived before their event onto it as stored; drop them once
        the event is real (a placeholder keeps them for the real event)."""
        for event_id, items in pending.items():
            found = self._load_for_update(conn, project, event_id)
            if found is None:
                continue
            seq, event, placeholder = found
            apply_parked(event, items)
            self._write_back(conn, seq, event)
            if not placeholder:
                conn.executemany(
                    "DELETE FROM pending_updates WHERE seq = ?", [(s,) for s, _ in items]
                )

    def _update(self, conn: sqlite3.Connection, project: Project, update: EventUpdate) -> None:
        found = self._load_for_update(conn, project, update.event_id)
        if found is not None:
            seq, event, placeholder = found
            apply_update(event, update)
            self._write_back(conn, seq, event)
            if not placeholder:
                return
        conn.execute(
            _PARK,
            (
                project.key,
                update.event_id,
                _encode_update(update).decode(),
                int(time.time() * 1000),
            ),
        )

    def _update_anywhere(self, conn: sqlite3.Connection, update: EventUpdate) -> None:
        """An update that named no project: onto the event of its id in every project that
        holds it (one, unless ids were reused); parked under UNRESOLVED until a real event of
        that id is stored, in whichever project it comes."""
        real = False
        for (key,) in conn.execute(
            "SELECT key FROM projects p WHERE EXISTS "
            "(SELECT 1 FROM events e WHERE e.project = p.key AND e.event_id = ?)",
            (update.event_id,),
        ).fetchall():
            found = self._load_for_update(conn, Project(key, "", ""), update.event_id)
            if found is not None:
                seq, event, placeholder = found
                apply_update(event, update)
                self._write_back(conn, seq, event)
                real = real or not placeholder
        if not real:
            conn.execute(
                _PARK,
                (
                    UNRESOLVED,
                    update.event_id,
                    _encode_update(update).decode(),
                    int(time.time() * 1000),
                ),
            )

    def _load_for_update(
        self, conn: sqlite3.Connection, project: Project, event_id: str
    ) -> tuple[int, Event, bool] | None:
        row = conn.execute(
            f"SELECT {SELECT} FROM events WHERE project = ? AND event_id = ?",
            (project.key, event_id),
        ).fetchone()
        if row is None:
            return None
        return row[0], row_to_event(row), bool(row[11])

    def _write_back(self, conn: sqlite3.Connection, seq: int, e: Event) -> None:
        conn.execute(
            _WRITE_BACK,
            (
                to_json(e.children_ids),
                to_json(e.config),
                pack(e.inputs),
                pack(e.outputs),
                to_json(e.metadata),
                to_json(e.feedback),
                to_json(e.metrics),
                to_json(e.user_properties),
                e.duration,
                e.end_time,
                e.error,
                seq,
            ),
        )

    def _delete_session(self, conn: sqlite3.Connection, project: Project, session_id: str) -> int:
        cur = conn.execute(
            "DELETE FROM events WHERE project = ? AND session_id = ?", (project.key, session_id)
        )
        conn.execute(
            "DELETE FROM pending_updates WHERE project = ? AND event_id = ?",
            (project.key, session_id),
        )
        return cur.rowcount
