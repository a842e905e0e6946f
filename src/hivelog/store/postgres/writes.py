"""The PostgreSQL backend: many hivelog processes, on many hosts, writing one database.

Why it is shaped this way:

- One writer connection per process (the group-commit writer's thread) and a pool of
  read-only connections with a statement timeout. Every batch is one transaction with a
  savepoint per job, exactly like SQLite; a 2xx still means COMMITted.
- New events go in by COPY, straight into their partitions (bulk WAL records; measured at
  parity with a raw COPY of the same rows). When a key is already stored — a resend, or a real
  session replacing the placeholder created when one of its events came first — the COPY's
  savepoint is rolled back and the rows go through `INSERT … SELECT FROM unnest(arrays)
  ON CONFLICT`, which settles both atomically. Everything else a batch needs is sent as
  pipelines: a few round trips per batch, not per request.
- Events are partitioned by `day`, the day of their *session*, fixed in the `sessions` table the
  first time any process sees the session. A session therefore lives in one partition, a
  resend meets its own key, and retention drops whole days.
- Several processes must converge exactly like one. Unique keys with `ON CONFLICT` settle
  concurrent inserts. The one race keys cannot settle is an update arriving before its event
  (the update is parked in `pending_updates`, the event folds parked updates in when it is
  inserted): two transactions that each cannot see the other's uncommitted row. Each write
  transaction therefore first takes transaction-scoped advisory locks on hash buckets of the
  ids it touches, in sorted order: *shared* for inserted events (inserts never wait for each
  other), *exclusive* for updated ones — so a parked update and the insert of its event are
  always ordered, and whichever commits second sees the first. Deadlocks that remain possible
  between row locks are detected by PostgreSQL and the batch is retried.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.types.string import StrBinaryDumper, StrDumperUnknown, TextLoader
from psycopg_pool import ConnectionPool

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
)

log = logging.getLogger("hivelog.store.postgres")

DAY_MS = 86_400_000
_MAX_DAY = 2_932_896  # 9999-12-31: partition names are dates
BUCKETS = 64  # advisory locks per transaction at most (each costs); see the docstring
_LOCK_SPACE = 0x6876  # first key of every hivelog advisory lock ("hv")
_PARTITION_LOCK = -1
_RETENTION_LOCK = -2
_MIGRATION_LOCK = -3
_RETRIES = 8
READ_TIMEOUT_MS = 30_000

_SELECT = ", ".join(EVENT_COLUMNS)
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
    "- LEAST(events.start_time, excluded.start_time) "
    "WHERE events.placeholder = 1"
)
_PLACEHOLDER_FROM = _unnest([("child_id", "text"), ("day", "int4")])
# Placeholder sessions of events just COPYed: every one of those events is stored.
_INSERT_PLACEHOLDERS = (
    f"INSERT INTO events ({_COLS}) SELECT {_VALUES} FROM {_PLACEHOLDER_FROM} {_WIDEN}"
)
# After an INSERT … ON CONFLICT, only for sessions a stored event names: an event whose resend
# was ignored must not leave behind the new session it was sent with (as on SQLite).
_INSERT_PLACEHOLDERS_CHECKED = (
    f"INSERT INTO events ({_COLS}) SELECT {_VALUES} FROM {_PLACEHOLDER_FROM} "
    "WHERE EXISTS (SELECT 1 FROM events e WHERE e.project = %s AND e.day = t.day "
    f"AND e.event_id = t.child_id AND e.session_id = t.session_id) {_WIDEN}"
)
_PENDING = (
    "SELECT seq, event_id, body FROM pending_updates "
    "WHERE project = %s AND event_id = ANY(%s) ORDER BY seq"
)
_WRITE_BACK = (
    "UPDATE events SET children_ids = %s::jsonb, config = %s::jsonb, inputs = %s::jsonb, "
    "outputs = %s::jsonb, metadata = %s::jsonb, feedback = %s::jsonb, metrics = %s::jsonb, "
    "user_properties = %s::jsonb, duration = %s, end_time = %s, error = %s "
    "WHERE project = %s AND day = %s AND event_id = %s"
)
_KEY_SELECT = (
    "SELECT k.key_id, p.key, p.project_id, p.name, k.name, k.prefix, k.key_hash, "
    "k.created_at, k.revoked_at FROM api_keys k JOIN projects p ON p.key = k.project"
)
_SEARCHED = "(coalesce(inputs::text, '') || ' ' || coalesce(outputs::text, ''))"


def _number(path: str) -> str:
    """A JSON number at `metadata -> path` as float8, anything else NULL."""
    value = f"(metadata -> '{path}')"
    return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value} #>> '{{}}')::float8 END)"


_SESSION_STATS = (
    "SELECT session_id, count(*) FILTER (WHERE event_id <> session_id), "
    "count(*) FILTER (WHERE event_id <> session_id AND event_type = 'model'), "
    "count(*) FILTER (WHERE error IS NOT NULL), "
    "sum(CASE WHEN event_id <> session_id AND metadata IS NOT NULL THEN coalesce("
    f"{_number('total_tokens')}, coalesce({_number('prompt_tokens')}, 0) "
    f"+ coalesce({_number('completion_tokens')}, 0)) END), "
    f"sum(CASE WHEN event_id <> session_id THEN {_number('cost')} END), "
    "min(start_time), max(end_time) "
    "FROM events WHERE project = %s AND session_id = ANY(%s) GROUP BY session_id"
)
_WEEK_MS, _MONDAY_MS = 7 * 86_400_000, 4 * 86_400_000  # 1970-01-05 was a Monday
_BUCKET_SQL = {
    "minute": "(start_time / 60000) * 60000",
    "hour": "(start_time / 3600000) * 3600000",
    "day": "(start_time / 86400000) * 86400000",
    "week": f"((start_time - {_MONDAY_MS}) / {_WEEK_MS}) * {_WEEK_MS} + {_MONDAY_MS}",
    "month": "(extract(epoch FROM date_trunc('month', "
    "to_timestamp(start_time / 1000.0) AT TIME ZONE 'UTC')) * 1000)::int8",
}
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)

_encode = msgspec.json.Encoder().encode
_encode_update = msgspec.json.Encoder().encode
_decode_update = msgspec.json.Decoder(EventUpdate).decode


def day_of(ms: int) -> int:
    """The UTC day number of an epoch-ms time, clamped to dates a partition name can carry."""
    return min(max(ms // DAY_MS, 0), _MAX_DAY)


def partition_name(day: int) -> str:
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
    return f"events_p{date:%Y%m%d}"


def _bucket(project: str, key: str) -> int:
    """Stable across processes (Python's hash() is not)."""
    return zlib.crc32(f"{project}\x00{key}".encode()) % BUCKETS


def _no_nul(value: Any) -> Any:
    """PostgreSQL text and JSONB cannot hold U+0000; it becomes U+FFFD (documented)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _json(value: dict[str, Any] | list[str] | None) -> str | None:
    if not value:
        return None
    text = _encode(value).decode()
    if "\\u0000" in text:
        text = _encode(_no_nul(value)).decode()
    return text


def _text(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _columns(events: Sequence[Event], rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Column arrays for _unnest from rows in INSERT_COLUMNS order.

    Rows are encoded in the request (WriteEvents.encode), outside this serial writer thread;
    only text carrying U+0000, which PostgreSQL refuses, is re-encoded here.
    """
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


def _merge_runs(jobs: Sequence[Job]) -> list[tuple[Job, int]]:
    """Runs of event jobs for one project as one job each, with how many jobs each covers.

    Events first, then updates, converges to the same state as job by job (updates fold onto
    their event whichever comes first), at a few statements per run instead of per request.
    """
    runs: list[tuple[Job, int]] = []
    for job in jobs:
        if runs and isinstance(job, WriteEvents):
            last, count = runs[-1]
            if isinstance(last, WriteEvents) and last.project == job.project:
                if count == 1:  # a copy: the caller's job stays as it was
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


class _JobFailed(Exception):
    """A job failed in a transaction written without savepoints: replay it with them."""


def _search_sql(text: str) -> tuple[str, list[Any]]:
    """Every whitespace-separated word must occur in inputs or outputs, case-insensitively.

    A scan of the rows the other clauses leave (bounded by the read statement timeout); no
    trigram index, whose upkeep would cost every insert (see docs/scaling.md).
    """
    clauses, params = [], []
    for word in text.split():
        clauses.append(f"strpos(lower({_SEARCHED}), lower(%s)) > 0")
        params.append(word)
    return " AND ".join(clauses), params


def _where(project: Project, query: EventQuery) -> tuple[str, list[Any]]:
    """`project = %s AND (query.where) AND (search)`, with its parameters."""
    clauses, params = ["project = %s"], [project.key]
    if query.where:
        clauses.append(f"({query.where})")
        params.extend(query.params)
    if query.search:
        sql, search_params = _search_sql(query.search)
        if sql:
            clauses.append(sql)
            params.extend(search_params)
    return " AND ".join(clauses), params


class _NulSafeText(StrDumperUnknown):
    """Read parameters: U+0000 (which PostgreSQL cannot hold) as U+FFFD, as it was stored."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", "\ufffd"))


class _NulSafeBinary(StrBinaryDumper):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", "\ufffd"))


def _configure(conn: psycopg.Connection[Any]) -> None:
    # JSONB comes back as its text, decoded by msgspec in rows.row_to_event (several times
    # faster than psycopg's json.loads).
    conn.adapters.register_loader("jsonb", TextLoader)


def _configure_reader(conn: psycopg.Connection[Any]) -> None:
    _configure(conn)
    conn.adapters.register_dumper(str, _NulSafeText)
    conn.adapters.register_dumper(str, _NulSafeBinary)


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


@dataclasses.dataclass
class _Found:
    day: int
    event: Event
    placeholder: bool


class PostgresStore:
    dialect = "postgres"

    def __init__(self, url: str, *, readers: int = 8, read_timeout_ms: int = READ_TIMEOUT_MS):
        self.url = url
        self.readers = readers
        self.read_timeout_ms = read_timeout_ms
        self._wpool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._rpool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._projects: dict[str, Project] = {}
        self._days: set[int] = set()

    # ---- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        self.migrate()
        self._wpool = ConnectionPool(
            self.url, min_size=1, max_size=4, configure=_configure, open=True, name="hv-write"
        )
        self._rpool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.readers,
            configure=_configure_reader,
            kwargs={
                "autocommit": True,
                "options": f"-c statement_timeout={self.read_timeout_ms} "
                "-c default_transaction_read_only=on",
            },
            open=True,
            name="hv-read",
        )
        today = day_of(int(time.time() * 1000))
        self.ensure_partitions(range(today - 1, today + 3))

    def close(self) -> None:
        for pool in (self._rpool, self._wpool):
            if pool is not None:
                pool.close()
        self._rpool = self._wpool = None

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; return the names applied now.

        Serialised by an advisory lock, so N processes starting at once apply each migration
        exactly once.
        """
        applied: list[str] = []
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_SPACE, _MIGRATION_LOCK))
            try:
                lz4 = self._has_lz4(conn)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for name, module in migrations.migrations():
                    if name in done:
                        continue
                    script = migrations.sql_for(module, self.dialect)
                    if not lz4:
                        script = script.replace("COMPRESSION lz4", "")
                    with conn.transaction():
                        conn.execute(script.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations VALUES (%s, %s)",
                            (name, int(time.time())),
                        )
                    applied.append(name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_SPACE, _MIGRATION_LOCK))
        return applied

    @staticmethod
    def _has_lz4(conn: psycopg.Connection[Any]) -> bool:
        try:
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE hivelog_lz4_probe (x text COMPRESSION lz4)")
                conn.execute("DROP TABLE hivelog_lz4_probe")
            return True
        except psycopg.Error:
            return False

    def _write_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        if self._wpool is None:
            raise RuntimeError("store is not open")
        return self._wpool

    @contextlib.contextmanager
    def _reader(self) -> Iterator[psycopg.Connection[Any]]:
        if self._rpool is None:
            raise RuntimeError("store is not open")
        try:
            with self._rpool.connection() as conn:
                yield conn
        except pg_errors.QueryCanceled:
            raise QueryTimeout(
                f"the query ran longer than {self.read_timeout_ms} ms and was stopped; "
                "narrow it with filters or a date range"
            ) from None

    # ---- partitions -------------------------------------------------------------------------

    def ensure_partitions(self, days: Iterator[int] | Sequence[int] | range) -> None:
        """Create the day partitions missing among `days`, each in its own short transaction.

        Runs before the write transaction that needs them (creating a partition locks the
        parent table), under an advisory lock so processes never race to create one.
        """
        missing = sorted({d for d in days if d not in self._days})
        if not missing:
            return
        with self._write_pool().connection() as conn:
            existing = self._partition_days(conn)
            self._days |= existing
            for day in missing:
                if day in self._days:
                    continue
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '20s'")
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _PARTITION_LOCK)
                    )
                    name = partition_name(day)
                    row = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
                    if row is None or row[0] is None:
                        conn.execute(
                            sql.SQL(
                                "CREATE TABLE {} PARTITION OF events FOR VALUES FROM ({}) TO ({})"
                            ).format(sql.Identifier(name), sql.Literal(day), sql.Literal(day + 1))
                        )
                self._days.add(day)

    @staticmethod
    def _partition_days(conn: psycopg.Connection[Any]) -> set[int]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass"
        ).fetchall()
        days = set()
        for (name,) in rows:
            if name.startswith("events_p") and len(name) == 16:
                date = datetime.datetime.strptime(name[8:], "%Y%m%d").date()
                days.add((date - datetime.date(1970, 1, 1)).days)
        return days

    # ---- writes (writer thread) -------------------------------------------------------------

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        """All jobs in one transaction, with runs of one project's jobs merged and no
        savepoints; only if a job fails is it replayed with a savepoint around each job.
        Deadlocks and serialisation failures (possible between processes) replay it whole.
        """
        days = {
            day_of(e.start_time) for job in jobs if isinstance(job, WriteEvents) for e in job.events
        }
        isolate = False
        for attempt in range(_RETRIES):
            self.ensure_partitions(sorted(days))
            try:
                with self._write_pool().connection() as conn:
                    return self._write_once(conn, jobs, isolate)
            except _JobFailed:
                isolate = True
                self._projects.clear()
                continue
            except _RETRYABLE as exc:
                log.warning("write of %d jobs retried (%s)", len(jobs), type(exc).__name__)
            except pg_errors.CheckViolation as exc:
                if "no partition" not in str(exc):
                    raise
                # Retention in another process dropped a day this process had cached.
                log.warning("write of %d jobs retried: %s", len(jobs), exc)
                self._days.clear()
            except BaseException:
                self._projects.clear()
                raise
            self._projects.clear()
            time.sleep(0.01 * (attempt + 1))
        raise RuntimeError(f"write of {len(jobs)} jobs failed {_RETRIES} times")

    def _write_once(
        self, conn: psycopg.Connection[Any], jobs: Sequence[Job], isolate: bool
    ) -> list[JobResult]:
        results: list[JobResult] = []
        with conn.transaction():
            self._lock_buckets(conn, jobs)
            runs = [(j, 1) for j in jobs] if isolate else _merge_runs(jobs)
            for job, covers in runs:
                project = self._project_for_write(conn, job.project)
                if not isolate:
                    try:
                        deleted = self._apply(conn, project, job)
                    except _RETRYABLE:
                        raise
                    except pg_errors.CheckViolation as exc:
                        if "no partition" in str(exc):
                            raise
                        raise _JobFailed from exc
                    except Exception as exc:
                        raise _JobFailed from exc
                    results.extend([JobResult(project=project, deleted=deleted)] * covers)
                    continue
                try:
                    with conn.transaction():  # a savepoint: one bad job never fails its neighbours
                        deleted = self._apply(conn, project, job)
                except _RETRYABLE:
                    raise
                except pg_errors.CheckViolation as exc:
                    if "no partition" in str(exc):
                        raise
                    results.append(JobResult(project=project, error=exc))
                    continue
                except Exception as exc:
                    results.append(JobResult(project=project, error=exc))
                    continue
                results.append(JobResult(project=project, deleted=deleted))
        return results

    def _lock_buckets(self, conn: psycopg.Connection[Any], jobs: Sequence[Job]) -> None:
        """Advisory locks on the buckets this transaction touches, sorted (no lock cycles)."""
        exclusive: dict[int, bool] = {}
        for job in jobs:
            if isinstance(job, DeleteSession):
                exclusive[_bucket(job.project, job.session_id)] = True
                continue
            for e in job.events:
                for key in (e.event_id, e.session_id):
                    exclusive.setdefault(_bucket(job.project, key), False)
            for u in job.updates:
                exclusive[_bucket(job.project, u.event_id)] = True
        if not exclusive:
            return
        keys = sorted(exclusive)
        conn.execute(
            "SELECT CASE WHEN x THEN pg_advisory_xact_lock(%s, k) "
            "ELSE pg_advisory_xact_lock_shared(%s, k) END "
            "FROM unnest(%s::int4[], %s::bool[]) WITH ORDINALITY AS t(k, x, n) ORDER BY n",
            (_LOCK_SPACE, _LOCK_SPACE, keys, [exclusive[k] for k in keys]),
        )

    def _project_for_write(self, conn: psycopg.Connection[Any], name: str) -> Project:
        project = self._projects.get(name)
        if project is None:
            conn.execute(
                "INSERT INTO projects (project_id, name, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                (str(uuid.uuid4()), _text(name), int(time.time() * 1000)),
            )
            row = conn.execute(
                "SELECT key, project_id FROM projects WHERE name = %s", (_text(name),)
            ).fetchone()
            assert row is not None
            project = Project(key=row[0], project_id=row[1], name=name)
            self._projects[name] = project
        return project

    def _apply(self, conn: psycopg.Connection[Any], project: Project, job: Job) -> int:
        if isinstance(job, DeleteSession):
            return self._delete_session(conn, project, job.session_id)
        self._insert_events(conn, project, job)
        for update in job.updates:
            self._update(conn, project, update)
        return 0

    def _insert_events(
        self, conn: psycopg.Connection[Any], project: Project, job: WriteEvents
    ) -> None:
        """Sessions recorded, events inserted, placeholders added, parked updates looked up:
        four statements sent as one pipeline (one round trip), then folding if any."""
        if not job.events:
            return
        pairs = list(zip(job.events, job.event_rows(), strict=True))
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
            pairs = list(zip(clean, [event_values(e) for e in clean], strict=True))
        events: dict[str, tuple[Event, tuple[Any, ...]]] = {}
        for e, row in pairs:
            events.setdefault(e.event_id, (e, row))  # the first of repeated ids wins
        wanted: dict[str, int] = {}
        for e, _ in events.values():
            if e.event_type == "session" and e.event_id == e.session_id:
                wanted[e.session_id] = day_of(e.start_time)
        for e, _ in events.values():
            wanted.setdefault(e.session_id, day_of(e.start_time))
        placeholders: dict[str, tuple[Event, str]] = {}
        for e, _ in pairs:  # every event sent, as on SQLite, ignored resends included
            if e.event_type != "session" and e.session_id in placeholders:
                stub = placeholders[e.session_id][0]  # spans all its events, in any order
                stub.start_time = min(stub.start_time, e.start_time)
                stub.end_time = max(stub.end_time, e.end_time)
                stub.duration = float(stub.end_time - stub.start_time)
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
        sessions = sorted(wanted)
        ordered = [events[k] for k in sorted(events)]  # one lock order in every process
        ids = {k: e.session_id for k, (e, _) in events.items()}
        for sid in placeholders:
            ids.setdefault(sid, sid)
        with conn.pipeline():
            conn.execute(_INSERT_SESSIONS, (project.key, sessions, [wanted[s] for s in sessions]))
            # A statement of its own: sees sessions another process committed while we waited.
            found = conn.execute(_SESSION_DAYS, (project.key, sessions))
        days = dict(found.fetchall())
        row_days = [days[e.session_id] for e, _ in ordered]
        rows = [r for _, r in ordered]
        try:
            copied = self._copy_events(conn, project, rows, row_days)
            columns = None
        except psycopg.DataError:  # text PostgreSQL refuses (U+0000): cleaned, then again
            columns = _columns([e for e, _ in ordered], rows)
            copied = self._copy_events(conn, project, list(zip(*columns, strict=True)), row_days)
        with conn.pipeline():
            if not copied:
                if columns is None:
                    columns = _columns([e for e, _ in ordered], rows)
                conn.execute(_INSERT_EVENTS, [project.key, *columns, row_days])
            if placeholders:
                ph = sorted(placeholders.values(), key=lambda p: p[0].event_id)
                stubs = [p for p, _ in ph]
                params = [
                    project.key,
                    *_columns(stubs, [event_values(p, placeholder=1) for p in stubs]),
                    [child for _, child in ph],
                    [days[p.session_id] for p in stubs],
                ]
                if copied:
                    conn.execute(_INSERT_PLACEHOLDERS, params)
                else:
                    conn.execute(_INSERT_PLACEHOLDERS_CHECKED, [*params, project.key])
            pending = conn.execute(_PENDING, (project.key, list(ids)))
        parked = pending.fetchall()
        if parked:
            self._fold_pending(conn, project, ids, parked)

    @staticmethod
    def _copy_events(
        conn: psycopg.Connection[Any],
        project: Project,
        rows: Sequence[tuple[Any, ...]],
        days: Sequence[int],
    ) -> bool:
        """COPY new events straight into their partitions; False if one was already stored.

        COPY inserts in bulk (multi-row WAL records, measured at about twice the rate of an
        INSERT … ON CONFLICT of the same rows here). Resends and real sessions replacing their
        placeholder collide with a stored key: the savepoint is rolled back and the caller
        inserts with ON CONFLICT instead. A concurrent insert of the same key in another
        process makes COPY wait for it and then fail the same way, so the outcome is the same.
        """
        try:
            with conn.transaction(), conn.cursor().copy(_COPY_EVENTS) as copy:
                key = project.key
                for day, row in zip(days, rows, strict=True):
                    copy.write_row((key, day, *row))
        except pg_errors.UniqueViolation:
            return False
        return True

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
            for _, body in items:
                apply_update(found.event, _decode_update(body))
            self._write_back(conn, project, found)
            if not found.placeholder:
                conn.execute(
                    "DELETE FROM pending_updates WHERE project = %s AND seq = ANY(%s)",
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
        conn.execute(
            "INSERT INTO pending_updates (project, event_id, body, received_at) "
            "VALUES (%s, %s, %s, %s)",
            (
                project.key,
                update.event_id,
                _encode_update(update).decode(),
                int(time.time() * 1000),
            ),
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

    def _delete_session(
        self, conn: psycopg.Connection[Any], project: Project, session_id: str
    ) -> int:
        session_id = _no_nul(session_id)
        row = conn.execute(
            "DELETE FROM sessions WHERE project = %s AND session_id = %s RETURNING day",
            (project.key, session_id),
        ).fetchone()
        day_clause, params = ("AND day = %s", [row[0]]) if row else ("", [])
        cur = conn.execute(
            f"DELETE FROM events WHERE project = %s AND session_id = %s {day_clause}",
            [project.key, session_id, *params],
        )
        conn.execute(
            "DELETE FROM pending_updates WHERE project = %s AND event_id = %s",
            (project.key, session_id),
        )
        return cur.rowcount

    # ---- reads (any thread) -----------------------------------------------------------------

    def find_project(self, name: str) -> Project | None:
        project = self._projects.get(name)
        if project is not None:
            return project
        with self._reader() as conn:
            row = conn.execute(
                "SELECT key, project_id FROM projects WHERE name = %s", (name,)
            ).fetchone()
        return Project(key=row[0], project_id=row[1], name=name) if row else None

    def project_of_event(self, event_id: str) -> Project | None:
        with self._reader() as conn:
            rows = conn.execute(
                "SELECT p.key, p.project_id, p.name FROM projects p WHERE EXISTS "
                "(SELECT 1 FROM events e WHERE e.project = p.key AND e.event_id = %s) LIMIT 2",
                (event_id,),
            ).fetchall()
        if len(rows) != 1:
            return None
        return Project(key=rows[0][0], project_id=rows[0][1], name=rows[0][2])

    def get_event(self, project: Project, event_id: str) -> Event | None:
        with self._reader() as conn:
            row = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE project = %s AND event_id = %s "
                "ORDER BY placeholder, seq LIMIT 1",
                (project.key, event_id),
            ).fetchone()
            if row is None:
                return None
            event = row_to_event(row)
            self._add_children(conn, project, [event])
        return event

    def session_events(self, project: Project, session_id: str) -> list[Event]:
        with self._reader() as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE project = %s AND session_id = %s "
                "AND day = (SELECT day FROM sessions WHERE project = %s AND session_id = %s) "
                "ORDER BY start_time, seq",
                (project.key, session_id, project.key, session_id),
            ).fetchall()
        events = [row_to_event(r) for r in rows]
        children: dict[str, list[str]] = defaultdict(list)
        for e in events:
            if e.parent_id is not None:
                children[e.parent_id].append(e.event_id)
        for e in events:
            merge_children(e, children.get(e.event_id, []))
        return events

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]:
        where, params = _where(project, query)
        column = query.order_by if query.order_by in SORTABLE else "start_time"
        order = f"{column} {'DESC' if query.newest_first else 'ASC'}"
        order += ", seq DESC" if query.newest_first else ", seq"
        with self._reader() as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
                [*params, query.limit, query.offset],
            ).fetchall()
            count = conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()
            events = [row_to_event(r) for r in rows]
            self._add_children(conn, project, events)
        return events, int(count[0]) if count else 0

    def _add_children(
        self, conn: psycopg.Connection[Any], project: Project, events: list[Event]
    ) -> None:
        by_session: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            by_session[e.session_id].append(e)
        for session_id, group in by_session.items():
            wanted = {e.event_id: e for e in group}
            found: dict[str, list[str]] = defaultdict(list)
            for parent_id, event_id in conn.execute(
                "SELECT parent_id, event_id FROM events WHERE project = %s AND session_id = %s "
                "AND parent_id = ANY(%s) ORDER BY start_time, seq",
                (project.key, session_id, list(wanted)),
            ):
                found[parent_id].append(event_id)
            for event_id, kids in found.items():
                merge_children(wanted[event_id], kids)

    # ---- reads for the web UI and charts ------------------------------------------------------

    def background_work(self) -> bool:
        """Nothing is deferred on PostgreSQL: search reads the rows themselves."""
        return False

    def list_projects(self) -> list[Project]:
        with self._reader() as conn:
            rows = conn.execute("SELECT key, project_id, name FROM projects ORDER BY name")
            return [Project(key=k, project_id=pid, name=name) for k, pid, name in rows]

    def list_sessions(
        self, project: Project, sessions: EventQuery, events: EventQuery | None = None
    ) -> tuple[list[Event], int]:
        # `event_type = 'session'` spelled out so the partial index events_sessions serves.
        where = "project = %s AND event_type = 'session'"
        params: list[Any] = [project.key]
        if sessions.where:
            where += f" AND ({sessions.where})"
            params.extend(sessions.params)
        if events is not None and (events.where or events.search):
            inner, inner_params = _where(project, events)
            where += f" AND session_id IN (SELECT session_id FROM events WHERE {inner})"
            params.extend(inner_params)
        with self._reader() as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM events WHERE {where} "
                "ORDER BY start_time DESC, seq DESC LIMIT %s OFFSET %s",
                [*params, sessions.limit, sessions.offset],
            ).fetchall()
            total = conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()
        return [row_to_event(r) for r in rows], int(total[0]) if total else 0

    def session_stats(
        self, project: Project, session_ids: Sequence[str]
    ) -> dict[str, SessionStats]:
        out: dict[str, SessionStats] = {}
        with self._reader() as conn:
            rows = conn.execute(
                _SESSION_STATS, (project.key, list(dict.fromkeys(session_ids)))
            ).fetchall()
        for row in rows:
            out[row[0]] = SessionStats(
                num_events=int(row[1] or 0),
                num_model_events=int(row[2] or 0),
                errors=int(row[3] or 0),
                total_tokens=int(row[4] or 0),
                cost=float(row[5] or 0),
                first_start=row[6],
                last_end=row[7],
            )
        return out

    def session_outline(self, project: Project, session_id: str) -> list[EventBrief]:
        with self._reader() as conn:
            rows = conn.execute(
                "SELECT event_id, parent_id, event_type, event_name, start_time, end_time, "
                "duration, substr(error, 1, 200) FROM events WHERE project = %s "
                "AND session_id = %s "
                "AND day = (SELECT day FROM sessions WHERE project = %s AND session_id = %s) "
                "ORDER BY start_time, seq",
                (project.key, session_id, project.key, session_id),
            ).fetchall()
        return [EventBrief(*row) for row in rows]

    def chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        bucket = _BUCKET_SQL[spec.bucket]
        group = spec.group or "NULL"
        where, params = _where(project, query)
        inner = f"SELECT {bucket} AS b, {group} AS g, {spec.value} AS v FROM events WHERE {where}"
        if spec.aggregation == "quantile":
            # Nearest rank: the value at position ceil(q * n) of the sorted values.
            sql = (
                "SELECT b, g, v, n FROM (SELECT b, g, v, "
                "row_number() OVER (PARTITION BY b, g ORDER BY v) AS rn, "
                "count(*) OVER (PARTITION BY b, g) AS n "
                f"FROM ({inner}) AS x WHERE v IS NOT NULL) AS y "
                "WHERE rn = greatest(1, ceil(%s * n)::int8) ORDER BY b, g"
            )
            params = [*params, spec.quantile]
        elif spec.aggregation == "count":
            sql = f"SELECT b, g, count(*), count(*) FROM ({inner}) AS x GROUP BY b, g ORDER BY b, g"
        else:
            fn = {"sum": "sum", "avg": "avg", "min": "min", "max": "max"}[spec.aggregation]
            sql = f"SELECT b, g, {fn}(v), count(v) FROM ({inner}) AS x GROUP BY b, g ORDER BY b, g"
        with self._reader() as conn:
            rows = conn.execute(sql, params).fetchall()
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

    # ---- retention ----------------------------------------------------------------------------

    def expire(self, before_ms: int, chunk: int = 500) -> int:
        """One bounded step of retention; returns how much it removed (0: nothing left).

        Whole day partitions older than the cutoff day go first (their `sessions` rows in
        chunks, then the partition is detached and dropped); then sessions that started before
        `before_ms` in younger partitions, `chunk` at a time; then parked updates older than
        the cutoff whose event never came. Only one process runs it at a time.
        """
        with self._write_pool().connection() as conn:
            with conn.transaction():
                got = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _RETENTION_LOCK)
                ).fetchone()
                if not got or not got[0]:
                    return 0
                projects = [r[0] for r in conn.execute("SELECT key FROM projects ORDER BY key")]
                old_days = sorted(d for d in self._partition_days(conn) if d < before_ms // DAY_MS)
                if old_days:
                    day = old_days[0]
                    for key in projects:
                        cur = conn.execute(
                            "DELETE FROM sessions WHERE project = %s AND day = %s AND session_id "
                            "IN (SELECT session_id FROM sessions WHERE project = %s AND day = %s "
                            "LIMIT %s)",
                            (key, day, key, day, chunk),
                        )
                        if cur.rowcount:
                            return cur.rowcount
                else:
                    for key in projects:
                        removed = self._expire_sessions(conn, key, before_ms, chunk)
                        if removed:
                            return removed
                    for key in projects:
                        cur = conn.execute(
                            "DELETE FROM pending_updates WHERE project = %s AND seq IN "
                            "(SELECT seq FROM pending_updates WHERE project = %s "
                            "AND received_at < %s LIMIT %s)",
                            (key, key, before_ms, chunk),
                        )
                        if cur.rowcount:
                            return cur.rowcount
                    return 0
            # Every session of `day` is gone from `sessions`: drop its events as one table.
            # DETACH … CONCURRENTLY runs outside a transaction and does not block writers.
            self._days.discard(day)
            conn.autocommit = True
            try:
                name = sql.Identifier(partition_name(day))
                conn.execute(
                    sql.SQL("ALTER TABLE events DETACH PARTITION {} CONCURRENTLY").format(name)
                )
                conn.execute(sql.SQL("DROP TABLE {}").format(name))
            finally:
                conn.autocommit = False
            log.info("retention dropped partition %s", partition_name(day))
            return 1

    def _expire_sessions(
        self, conn: psycopg.Connection[Any], project: int, before_ms: int, chunk: int
    ) -> int:
        rows = conn.execute(
            "SELECT event_id, day FROM events WHERE project = %s AND event_type = 'session' "
            "AND start_time < %s AND event_id = session_id LIMIT %s",
            (project, before_ms, chunk),
        ).fetchall()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        days = sorted({r[1] for r in rows})
        conn.execute(
            "DELETE FROM pending_updates WHERE project = %s AND event_id IN (SELECT event_id "
            "FROM events WHERE project = %s AND day = ANY(%s) AND session_id = ANY(%s))",
            (project, project, days, ids),
        )
        conn.execute(
            "DELETE FROM events WHERE project = %s AND day = ANY(%s) AND session_id = ANY(%s)",
            (project, days, ids),
        )
        conn.execute(
            "DELETE FROM sessions WHERE project = %s AND session_id = ANY(%s)", (project, ids)
        )
        return len(ids)

    # ---- API keys (hivelog.auth) --------------------------------------------------------------

    def create_key(
        self, project: str, name: str | None, key_id: str, prefix: str, key_hash: str
    ) -> ApiKey:
        now = int(time.time() * 1000)
        name = _text(name)
        with self._write_pool().connection() as conn, conn.transaction():
            p = self._project_for_write(conn, project)
            conn.execute(
                "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (key_id, p.key, name, prefix, key_hash, now),
            )
        return ApiKey(key_id, p, name, prefix, key_hash, now)

    def list_keys(self) -> list[ApiKey]:
        with self._reader() as conn:
            rows = conn.execute(_KEY_SELECT + " ORDER BY k.id").fetchall()
        return [_api_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self._write_pool().connection() as conn, conn.transaction():
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL",
                (int(time.time() * 1000), key_id),
            )
            return cur.rowcount == 1

    def active_keys(self) -> list[ApiKey]:
        with self._reader() as conn:
            rows = conn.execute(_KEY_SELECT + " WHERE k.revoked_at IS NULL").fetchall()
        return [_api_key(r) for r in rows]
