"""The embedded SQLite backend: one writer connection, a read-only connection per reader thread.

WAL with `synchronous=FULL` makes every COMMIT durable; the group-commit writer amortises the
fsync over many requests. 16 KB pages hold several ~2 KB events (4 KB pages hold one).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from hivelog.errors import QueryTimeout
from hivelog.normalize.event import Event, EventUpdate, apply_update
from hivelog.store import migrations
from hivelog.store.base import (
    SORTABLE,
    ApiKey,
    ChartPoint,
    ChartSpec,
    DeleteSession,
    EventBrief,
    EventQuery,
    Job,
    JobResult,
    Project,
    SessionStats,
    WriteEvents,
)
from hivelog.store.rows import (
    EVENT_COLUMNS,
    INSERT_COLUMNS,
    event_values,
    merge_children,
    row_to_event,
    to_json,
)

_SELECT = ", ".join(EVENT_COLUMNS)
_INSERT_COLS = ", ".join(("project", *INSERT_COLUMNS))
_INSERT_MARKS = ", ".join("?" * (len(INSERT_COLUMNS) + 1))
_REPLACE_PLACEHOLDER = ", ".join(f"{c} = excluded.{c}" for c in INSERT_COLUMNS)
# A real event replaces a placeholder session; a resend of a real event changes nothing.
_INSERT_EVENT = (
    f"INSERT INTO events ({_INSERT_COLS}) VALUES ({_INSERT_MARKS}) "
    f"ON CONFLICT (project, event_id) DO UPDATE SET {_REPLACE_PLACEHOLDER} "
    "WHERE events.placeholder = 1"
)
# A session referenced by a stored event (the one named last), unless the session exists. An
# event whose resend was ignored must not leave behind the new session it was sent with.
_INSERT_PLACEHOLDER = (
    f"INSERT INTO events ({_INSERT_COLS}) SELECT {_INSERT_MARKS} WHERE EXISTS "
    "(SELECT 1 FROM events WHERE project = ? AND event_id = ? AND session_id = ?) "
    # A placeholder spans every event known to reference it, whatever order they came in.
    "ON CONFLICT (project, event_id) DO UPDATE SET "
    "start_time = min(events.start_time, excluded.start_time), "
    "end_time = max(events.end_time, excluded.end_time), "
    "duration = max(events.end_time, excluded.end_time) "
    "- min(events.start_time, excluded.start_time) "
    "WHERE events.placeholder = 1"
)
_WRITE_BACK = (
    "UPDATE events SET children_ids = ?, config = ?, inputs = ?, outputs = ?, metadata = ?, "
    "feedback = ?, metrics = ?, user_properties = ?, duration = ?, end_time = ?, error = ? "
    "WHERE seq = ?"
)
_CHUNK = 500  # ids per IN (...) list
_PROGRESS_STEPS = 10_000  # SQLite VM steps between read-deadline checks (~0.1 ms)
_encode_update = msgspec.json.Encoder().encode
_decode_update = msgspec.json.Decoder(EventUpdate).decode


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _JobFailed(Exception):
    """A job failed in a batch written without savepoints: replay the batch with them."""


def _merge_runs(jobs: Sequence[Job]) -> list[tuple[Job, int]]:
    """Runs of event jobs for the same project as one job each, with how many they cover.

    Storing a run's events first and then its updates converges to the same state as job by
    job (updates fold onto events whichever comes first), at a few statements per run instead
    of per request.
    """
    runs: list[tuple[Job, int]] = []
    for job in jobs:
        if runs and isinstance(job, WriteEvents):
            last, count = runs[-1]
            if isinstance(last, WriteEvents) and last.project == job.project:
                if count == 1:  # copy before extending: the caller's job stays as it was
                    last = WriteEvents(
                        last.project, list(last.events), list(last.updates), list(last.event_rows())
                    )
                last.events.extend(job.events)
                last.updates.extend(job.updates)
                assert last.rows is not None
                last.rows.extend(job.event_rows())
                runs[-1] = (last, count + 1)
                continue
        runs.append((job, 1))
    return runs


def _statements(script: str) -> Iterable[str]:
    """Split a script into statements; `;` inside triggers and strings is not an end."""
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                yield current
            current = ""
    if current.strip():
        yield current


def _widen(placeholder: Event, event: Event) -> None:
    """Stretch a placeholder session over `event` too (its times must not depend on order)."""
    placeholder.start_time = min(placeholder.start_time, event.start_time)
    placeholder.end_time = max(placeholder.end_time, event.end_time)
    placeholder.duration = float(placeholder.end_time - placeholder.start_time)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqliteStore:
    dialect = "sqlite"

    def __init__(self, path: str, read_timeout_ms: int = 0) -> None:
        self.path = path
        self.read_timeout_ms = read_timeout_ms
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._projects: dict[str, Project] = {}

    # ---- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            Path(self.path).expanduser(), isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA page_size = 16384")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA wal_autocheckpoint = 4000")
        conn.execute("PRAGMA busy_timeout = 10000")
        self._writer = conn
        self.migrate()

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; return the names applied now."""
        conn = self._conn_w()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for name, module in migrations.migrations():
            if name in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(migrations.sql_for(module, self.dialect)):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", (name, int(time.time()))
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _conn_w(self) -> sqlite3.Connection:
        if self._writer is None:
            raise RuntimeError("store is not open")
        return self._writer

    def _conn_r(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            uri = Path(self.path).expanduser().resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA cache_size = -16384")
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _past_deadline(self) -> int:
        """SQLite's progress handler: non-zero interrupts the running read."""
        deadline: float | None = getattr(self._local, "deadline", None)
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    @contextlib.contextmanager
    def _time_limit(self) -> Iterator[None]:
        """Stop the reads inside after `read_timeout_ms`; a stopped read is a QueryTimeout."""
        if self.read_timeout_ms <= 0:
            yield
            return
        self._local.deadline = time.monotonic() + self.read_timeout_ms / 1000
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            raise QueryTimeout(
                f"the query ran longer than the read time limit of {self.read_timeout_ms} ms "
                "(--read-timeout-ms) and was stopped; narrow the filters or the date range"
            ) from None
        finally:
            self._local.deadline = None

    # ---- writes (writer thread only) --------------------------------------------------------

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        """All jobs in one transaction. A savepoint per job costs two statements per request,
        so they are only paid when a job actually fails: then the transaction is rolled back
        and replayed with a savepoint around each job, and only the failing ones are lost.
        """
        try:
            return self._write(jobs, isolate=False)
        except _JobFailed:
            return self._write(jobs, isolate=True)

    def _write(self, jobs: Sequence[Job], *, isolate: bool) -> list[JobResult]:
        conn = self._conn_w()
        results: list[JobResult] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job, covers in _merge_runs(jobs) if not isolate else [(j, 1) for j in jobs]:
                project = self._project_for_write(conn, job.project)
                if not isolate:
                    try:
                        deleted = self._apply(conn, project, job)
                    except Exception as exc:
                        raise _JobFailed from exc
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

    def _project_for_write(self, conn: sqlite3.Connection, name: str) -> Project:
        project = self._projects.get(name)
        if project is None:
            conn.execute(
                "INSERT INTO projects (project_id, name, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (str(uuid.uuid4()), name, int(time.time() * 1000)),
            )
            key, project_id = conn.execute(
                "SELECT key, project_id FROM projects WHERE name = ?", (name,)
            ).fetchone()
            project = Project(key=key, project_id=project_id, name=name)
            self._projects[name] = project
        return project

    def _apply(self, conn: sqlite3.Connection, project: Project, job: Job) -> int:
        if isinstance(job, DeleteSession):
            return self._delete_session(conn, project, job.session_id)
        self._insert_events(conn, project, job)
        for update in job.updates:
            self._update(conn, project, update)
        return 0

    def _insert_events(self, conn: sqlite3.Connection, project: Project, job: WriteEvents) -> None:
        if not job.events:
            return
        key = project.key
        conn.executemany(_INSERT_EVENT, [(key, *row) for row in job.event_rows()])
        placeholders: dict[str, tuple[Event, str]] = {}
        for e in job.events:
            if e.event_type != "session" and e.session_id in placeholders:
                _widen(placeholders[e.session_id][0], e)
            elif e.event_type != "session":
                placeholders[e.session_id] = (
                    Event(
                        event_id=e.session_id,
                        session_id=e.session_id,
                        parent_id=None,
                        event_type="session",
                        source=e.source,
                        start_time=e.start_time,
                        end_time=e.end_time,
                        duration=e.duration,
                    ),
                    e.event_id,
                )
        if placeholders:
            conn.executemany(
                _INSERT_PLACEHOLDER,
                [
                    (key, *event_values(p, placeholder=1), key, child_id, p.session_id)
                    for p, child_id in placeholders.values()
                ],
            )
        ids = list({e.event_id for e in job.events} | placeholders.keys())
        self._fold_pending(conn, project, ids)

    def _fold_pending(self, conn: sqlite3.Connection, project: Project, ids: list[str]) -> None:
        """Apply updates that arrived before their event; drop them once the event is real."""
        pending: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for chunk in _chunks(ids):
            for seq, event_id, body in conn.execute(
                f"SELECT seq, event_id, body FROM pending_updates "
                f"WHERE project = ? AND event_id IN ({_marks(len(chunk))}) ORDER BY seq",
                (project.key, *chunk),
            ):
                pending[event_id].append((seq, body))
        for event_id, items in pending.items():
            found = self._load_for_update(conn, project, event_id)
            if found is None:
                continue
            seq, event, placeholder = found
            for _, body in items:
                apply_update(event, _decode_update(body))
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
            "INSERT INTO pending_updates (project, event_id, body) VALUES (?, ?, ?)",
            (project.key, update.event_id, _encode_update(update).decode()),
        )

    def _load_for_update(
        self, conn: sqlite3.Connection, project: Project, event_id: str
    ) -> tuple[int, Event, bool] | None:
        row = conn.execute(
            f"SELECT {_SELECT} FROM events WHERE project = ? AND event_id = ?",
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
                to_json(e.inputs),
                to_json(e.outputs),
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

    # ---- reads (any thread) -----------------------------------------------------------------

    def find_project(self, name: str) -> Project | None:
        project = self._projects.get(name)
        if project is not None:
            return project
        row = (
            self._conn_r()
            .execute("SELECT key, project_id FROM projects WHERE name = ?", (name,))
            .fetchone()
        )
        return Project(key=row[0], project_id=row[1], name=name) if row else None

    def project_of_event(self, event_id: str) -> Project | None:
        rows = (
            self._conn_r()
            .execute(
                "SELECT p.key, p.project_id, p.name FROM projects p WHERE EXISTS "
                "(SELECT 1 FROM events e WHERE e.project = p.key AND e.event_id = ?) LIMIT 2",
                (event_id,),
            )
            .fetchall()
        )
        return (
            Project(key=rows[0][0], project_id=rows[0][1], name=rows[0][2])
            if len(rows) == 1
            else None
        )

    def get_event(self, project: Project, event_id: str) -> Event | None:
        conn = self._conn_r()
        row = conn.execute(
            f"SELECT {_SELECT} FROM events WHERE project = ? AND event_id = ?",
            (project.key, event_id),
        ).fetchone()
        if row is None:
            return None
        event = row_to_event(row)
        self._add_children(conn, project, [event])
        return event

    def session_events(self, project: Project, session_id: str) -> list[Event]:
        with self._time_limit():
            return self._session_events(project, session_id)

    def _session_events(self, project: Project, session_id: str) -> list[Event]:
        rows = (
            self._conn_r()
            .execute(
                f"SELECT {_SELECT} FROM events WHERE project = ? AND session_id = ? "
                "ORDER BY +start_time, seq",  # `+`: by session, not the time index
                (project.key, session_id),
            )
            .fetchall()
        )
        events = [row_to_event(r) for r in rows]
        children: dict[str, list[str]] = defaultdict(list)
        for e in events:
            if e.parent_id is not None:
                children[e.parent_id].append(e.event_id)
        for e in events:
            merge_children(e, children.get(e.event_id, []))
        return events

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        with self._time_limit():
            return self._query_events(project, query)

    def _query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        conn = self._conn_r()
        where, params = self._where(project, query)
        column = query.order_by if query.order_by in SORTABLE else "start_time"
        order = f"{column} {'DESC' if query.newest_first else 'ASC'}"
        order += ", seq DESC" if query.newest_first else ", seq"
        rows = conn.execute(
            f"SELECT {_SELECT} FROM events WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        ).fetchall()
        total = conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]
        events = [row_to_event(r) for r in rows]
        self._add_children(conn, project, events)
        return events, total

    def _add_children(
        self, conn: sqlite3.Connection, project: Project, events: list[Event]
    ) -> None:
        by_session: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            by_session[e.session_id].append(e)
        for session_id, group in by_session.items():
            wanted = {e.event_id: e for e in group}
            found: dict[str, list[str]] = defaultdict(list)
            for chunk in _chunks(list(wanted)):
                for parent_id, event_id in conn.execute(
                    f"SELECT parent_id, event_id FROM events WHERE project = ? AND session_id = ? "
                    f"AND parent_id IN ({_marks(len(chunk))}) ORDER BY +start_time, seq",
                    (project.key, session_id, *chunk),
                ):
                    found[parent_id].append(event_id)
            for event_id, kids in found.items():
                merge_children(wanted[event_id], kids)

    # ---- API keys (hivelog.auth) --------------------------------------------------------------
    # Called by the CLI in its own process, beside a running server: each call is one short
    # IMMEDIATE transaction on the writer connection, which waits (busy_timeout) for the
    # server's writer instead of failing.

    _KEY_SELECT = (
        "SELECT k.key_id, p.key, p.project_id, p.name, k.name, k.prefix, k.key_hash, "
        "k.created_at, k.revoked_at FROM api_keys k JOIN projects p ON p.key = k.project"
    )

    def create_key(
        self, project: str, name: str | None, key_id: str, prefix: str, key_hash: str
    ) -> ApiKey:
        conn = self._conn_w()
        now = int(time.time() * 1000)
        conn.execute("BEGIN IMMEDIATE")
        try:
            p = self._project_for_write(conn, project)
            conn.execute(
                "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, p.key, name, prefix, key_hash, now),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._projects.clear()
            raise
        return ApiKey(key_id, p, name, prefix, key_hash, now)

    def list_keys(self) -> list[ApiKey]:
        rows = self._conn_w().execute(self._KEY_SELECT + " ORDER BY k.id").fetchall()
        return [_api_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        cur = self._conn_w().execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (int(time.time() * 1000), key_id),
        )
        return cur.rowcount == 1

    def active_keys(self) -> list[ApiKey]:
        rows = self._conn_r().execute(self._KEY_SELECT + " WHERE k.revoked_at IS NULL").fetchall()
        return [_api_key(r) for r in rows]

    # ---- search index upkeep and reads for the web UI and charts -----------------------------
    # (hivelog.ui, hivelog.query.aggregates). Contracts are in store/base.py.

    _index_slice = 64  # rows per slice of background indexing; adapts to the measured cost

    def _where(self, project: Project, query: EventQuery) -> tuple[str, list[Any]]:
        """`project = ? AND (query.where) AND (search)`, with its parameters."""
        clauses, params = ["project = ?"], [project.key]
        if query.where:
            clauses.append(f"({query.where})")
            params.extend(query.params)
        if query.search:
            sql, search_params = _search_sql(query.search)
            if sql:
                clauses.append(sql)
                params.extend(search_params)
        return " AND ".join(clauses), params

    def background_work(self) -> bool:
        """Index the next slice of new rows for search (writer thread, when no write waits).

        A slice aims at ~20 ms so a write arriving meanwhile waits little; its size adapts to
        the measured cost per row. Returns True while rows are left to index.
        """
        conn = self._conn_w()
        (mark,) = conn.execute("SELECT indexed_seq FROM search_state").fetchone()
        last = conn.execute(
            "SELECT max(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
            (mark, self._index_slice),
        ).fetchone()
        if last[0] is None:
            return False
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO events_fts (rowid, inputs, outputs) SELECT seq, inputs, outputs "
                "FROM events WHERE seq > ? AND seq <= ? "
                "AND (inputs IS NOT NULL OR outputs IS NOT NULL)",
                (mark, last[0]),
            )
            conn.execute("UPDATE search_state SET indexed_seq = ?", (last[0],))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        per_row = (time.perf_counter() - started) / max(1, last[0] - mark)
        self._index_slice = max(8, min(4000, int(_SLICE_SECONDS / max(per_row, 1e-6))))
        return True

    def list_projects(self) -> list[Project]:
        rows = self._conn_r().execute("SELECT key, project_id, name FROM projects ORDER BY name")
        return [Project(key=k, project_id=pid, name=name) for k, pid, name in rows]

    def list_sessions(
        self, project: Project, sessions: EventQuery, events: EventQuery | None = None
    ) -> tuple[list[Event], int]:
        with self._time_limit():
            conn = self._conn_r()
            # Session rows only, through the partial index: the planner left to itself counts
            # them on the (wider) time index, 1 M entries instead of 50 k.
            sessions_only = "events INDEXED BY events_sessions"
            where = "project = ? AND event_type = 'session'"
            params: list[Any] = [project.key]
            if sessions.where:
                where += f" AND ({sessions.where})"
                params.extend(sessions.params)
            if events is not None and (events.where or events.search):
                inner, inner_params = self._where(project, events)
                where += f" AND session_id IN (SELECT session_id FROM events WHERE {inner})"
                params.extend(inner_params)
            rows = conn.execute(
                f"SELECT {_SELECT} FROM {sessions_only} WHERE {where} "
                "ORDER BY start_time DESC, seq DESC LIMIT ? OFFSET ?",
                (*params, sessions.limit, sessions.offset),
            ).fetchall()
            count = f"SELECT count(*) FROM {sessions_only} WHERE {where}"
            total = conn.execute(count, params).fetchone()
            return [row_to_event(r) for r in rows], total[0]

    def session_stats(
        self, project: Project, session_ids: Sequence[str]
    ) -> dict[str, SessionStats]:
        out: dict[str, SessionStats] = {}
        with self._time_limit():
            conn = self._conn_r()
            for chunk in _chunks(list(dict.fromkeys(session_ids))):
                sql = _SESSION_STATS.format(marks=_marks(len(chunk)))
                for row in conn.execute(sql, (project.key, *chunk)):
                    out[row[0]] = SessionStats(
                        num_events=row[1],
                        num_model_events=row[2] or 0,
                        errors=row[3] or 0,
                        total_tokens=int(row[4] or 0),
                        cost=float(row[5] or 0),
                        first_start=row[6],
                        last_end=row[7],
                    )
        return out

    def session_outline(self, project: Project, session_id: str) -> list[EventBrief]:
        with self._time_limit():
            rows = self._conn_r().execute(
                "SELECT event_id, parent_id, event_type, event_name, start_time, end_time, "
                "duration, substr(error, 1, 200) FROM events WHERE project = ? AND session_id = ? "
                "ORDER BY +start_time, seq",
                (project.key, session_id),
            )
            return [EventBrief(*row) for row in rows]

    def chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        with self._time_limit():
            return self._chart(project, query, spec)

    def _chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        bucket = _BUCKET_SQL[spec.bucket]
        group = spec.group or "NULL"
        where, params = self._where(project, query)
        inner = f"SELECT {bucket} AS b, {group} AS g, {spec.value} AS v FROM events WHERE {where}"
        if spec.aggregation == "quantile":
            # Nearest rank from each bucket's histogram of distinct values: a grouped count is
            # a third of the cost of ranking every row with a window function.
            sql = (
                f"SELECT b, g, v, count(*) FROM ({inner}) WHERE v IS NOT NULL "
                "GROUP BY b, g, v ORDER BY b, g, v"
            )
            return _quantiles(self._conn_r().execute(sql, params).fetchall(), spec.quantile)
        if spec.aggregation == "count":
            sql = f"SELECT b, g, count(*), count(*) FROM ({inner}) GROUP BY b, g ORDER BY b, g"
        else:
            fn = {"sum": "sum", "avg": "avg", "min": "min", "max": "max"}[spec.aggregation]
            sql = f"SELECT b, g, {fn}(v), count(v) FROM ({inner}) GROUP BY b, g ORDER BY b, g"
        rows = self._conn_r().execute(sql, params).fetchall()
        return [
            ChartPoint(
                bucket=int(b),
                group=None if g is None else str(g),
                value=None if v is None else float(v),
                count=int(n),
            )
            for b, g, v, n in rows
            if b is not None
        ]


def _api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        key_id=row[0],
        project=Project(key=row[1], project_id=row[2], name=row[3]),
        name=row[4],
        prefix=row[5],
        key_hash=row[6],
        created_at=row[7],
        revoked_at=row[8],
    )


# ---- UI reads: SQL of the section above --------------------------------------------------------

_TOKENS = (
    "coalesce(json_extract(metadata, '$.total_tokens'), "
    "coalesce(json_extract(metadata, '$.prompt_tokens'), 0) "
    "+ coalesce(json_extract(metadata, '$.completion_tokens'), 0))"
)
_SESSION_STATS = (
    "SELECT session_id, sum(event_id != session_id), "
    "sum(event_id != session_id AND event_type = 'model'), sum(error IS NOT NULL), "
    f"sum(CASE WHEN event_id != session_id AND metadata IS NOT NULL THEN {_TOKENS} END), "
    "sum(CASE WHEN event_id != session_id THEN json_extract(metadata, '$.cost') END), "
    "min(start_time), max(end_time) "
    "FROM events WHERE project = ? AND session_id IN ({marks}) GROUP BY session_id"
)
_WEEK_MS, _MONDAY_MS = 7 * 86_400_000, 4 * 86_400_000  # 1970-01-05 was a Monday
_BUCKET_SQL = {
    "minute": "(start_time / 60000) * 60000",
    "hour": "(start_time / 3600000) * 3600000",
    "day": "(start_time / 86400000) * 86400000",
    "week": f"((start_time - {_MONDAY_MS}) / {_WEEK_MS}) * {_WEEK_MS} + {_MONDAY_MS}",
    "month": "CAST(strftime('%s', start_time / 1000, 'unixepoch', 'start of month') AS INTEGER)"
    " * 1000",
}
_TRIGRAM = 3  # the FTS5 trigram tokenizer indexes runs of 3 characters
_CONTAINS = "(instr(lower(inputs), lower(?)) > 0 OR instr(lower(outputs), lower(?)) > 0)"
_SLICE_SECONDS = 0.02  # one slice of background indexing


def _quantiles(rows: list[Any], q: float) -> list[ChartPoint]:
    """(bucket, group, value, count) rows ordered by bucket, group, value → the nearest-rank
    q-quantile of each (bucket, group): the value at position ceil(q * n) of the n sorted."""
    out: list[ChartPoint] = []
    start = 0
    while start < len(rows):
        b, g = rows[start][0], rows[start][1]
        end = start
        while end < len(rows) and rows[end][0] == b and rows[end][1] == g:
            end += 1
        n = sum(r[3] for r in rows[start:end])
        rank, seen = max(1, math.ceil(q * n)), 0
        for r in rows[start:end]:
            seen += r[3]
            if seen >= rank:
                out.append(ChartPoint(int(b), None if g is None else str(g), float(r[2]), n))
                break
        start = end
    return [p for p in out if p.bucket is not None]


def _search_sql(text: str) -> tuple[str, list[Any]]:
    """Every word must occur in inputs or outputs. Words of 3+ characters use the FTS index
    for the rows indexed so far and a direct test for the newer ones above the mark; shorter
    words (common in Chinese and Japanese) are tested directly on the rows the other clauses
    leave."""
    words = text.split()
    indexed = [w for w in words if len(w) >= _TRIGRAM]
    clauses: list[str] = []
    params: list[Any] = []
    if indexed:
        tail = " AND ".join(_CONTAINS for _ in indexed)
        clauses.append(
            "seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ? UNION ALL "
            "SELECT seq FROM events WHERE seq > (SELECT indexed_seq FROM search_state) "
            f"AND {tail})"
        )
        params.append(" AND ".join('"' + w.replace('"', '""') + '"' for w in indexed))
        for w in indexed:
            params.extend((w, w))
    for w in words:
        if len(w) < _TRIGRAM:
            clauses.append(_CONTAINS)
            params.extend((w, w))
    return " AND ".join(clauses), params
