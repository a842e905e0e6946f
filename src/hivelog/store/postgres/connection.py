"""The base every part of the PostgreSQL store builds on: connections and the shared helpers.

Why a module of its own: each concern of the store (writes, reads, UI views, API keys,
retention) is a mixin of `PostgresBase`, so all of them, and mypy, see one set of attributes —
the pools, the project cache, the known partitions — and one way to get a connection. What
they share besides lives here too: day numbers and partition names, the advisory-lock space,
and the U+0000 handling PostgreSQL needs for text and JSONB.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.types.string import StrBinaryDumper, StrDumperUnknown, TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from hivelog.errors import BadInput, Overloaded, QueryTimeout
from hivelog.store import migrations
from hivelog.store.base import Project
from hivelog.store.fairness import ProjectSlots
from hivelog.store.rows import EVENT_COLUMNS

log = logging.getLogger("hivelog.store.postgres")

DAY_MS = 86_400_000
_MAX_DAY = 2_932_896  # 9999-12-31: partition names are dates
_LOCK_SPACE = 0x6876  # first key of every hivelog advisory lock ("hv")
_PARTITION_LOCK = -1
_RETENTION_LOCK = -2
_MIGRATION_LOCK = -3
READ_TIMEOUT_MS = 30_000
_NO_LIMIT_S = 30.0  # longest wait for a read connection when reads have no time limit
_TIMEOUT_SLACK_MS = 50  # a wait shorter than this keeps the connection's statement timeout

_SELECT = ", ".join(EVENT_COLUMNS)

_encode = msgspec.json.Encoder().encode


def day_of(ms: int) -> int:
    """The UTC day number of an epoch-ms time, clamped to dates a partition name can carry."""
    return min(max(ms // DAY_MS, 0), _MAX_DAY)


def partition_name(day: int) -> str:
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
    return f"events_p{date:%Y%m%d}"


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


class PostgresBase:
    """Connections, lifecycle, migrations and partitions; the mixins add the rest."""

    dialect = "postgres"
    writers = 2  # write transactions at once (see writes.Writes)

    def __init__(self, url: str, *, readers: int = 8, read_timeout_ms: int = READ_TIMEOUT_MS):
        self.url = url
        self.readers = readers
        self.read_timeout_ms = read_timeout_ms
        self._wpool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._rpool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._projects: dict[str, Project] = {}
        self._days: set[int] = set()
        self._slots = ProjectSlots(per_project=readers // 2)

    # ---- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        self.migrate()
        self._wpool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.writers + 3,  # + partition upkeep, retention, API keys
            configure=_configure,
            open=True,
            name="hv-write",
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
    def _reader(self, project: Project | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A read connection, within the read time limit and the fairness rule.

        The whole read — waiting for a slot of `project` (at most half the pool per project,
        `fairness.ProjectSlots`), waiting for a connection, and its statements — fits in
        `read_timeout_ms`: a statement that starts after a wait gets only what is left, and
        whatever still runs at the deadline is cancelled. No slot or connection in time is a
        503 + Retry-After; a read stopped at the limit a 400 query_timeout.
        """
        if self._rpool is None:
            raise RuntimeError("store is not open")
        limit_s = self.read_timeout_ms / 1000 if self.read_timeout_ms > 0 else _NO_LIMIT_S
        deadline = time.monotonic() + limit_s
        try:
            with (
                self._slots.hold(project.key if project is not None else None, deadline),
                self._rpool.connection(timeout=max(deadline - time.monotonic(), 0.001)) as conn,
            ):
                lowered = self._fit_statements(conn, deadline)
                # A read of several statements ends at the deadline too: cancel what runs then.
                timer = threading.Timer(max(deadline - time.monotonic(), 0.0), conn.cancel)
                timer.daemon = True
                if self.read_timeout_ms > 0:
                    timer.start()
                try:
                    yield conn
                finally:
                    timer.cancel()
                    if lowered:
                        self._restore_statement_timeout(conn)
        except PoolTimeout:
            raise Overloaded(
                "every read connection is busy; retry in a moment", retry_after=1
            ) from None
        except pg_errors.NumericValueOutOfRange:
            raise BadInput(
                "the numbers this read adds up are too large for it (past 1.8e308); "
                "narrow it with filters or a date range",
                "query",
            ) from None
        except pg_errors.QueryCanceled:
            raise QueryTimeout(
                f"the query ran longer than {self.read_timeout_ms} ms and was stopped; "
                "narrow it with filters or a date range"
            ) from None

    def _fit_statements(self, conn: psycopg.Connection[Any], deadline: float) -> bool:
        """Lower the connection's statement timeout to the time left, if a wait used some of
        it (the connection's own default is the whole read limit); True if lowered."""
        if self.read_timeout_ms <= 0:
            return False
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms >= self.read_timeout_ms - _TIMEOUT_SLACK_MS:
            return False
        conn.execute(f"SET statement_timeout = {max(left_ms, 1)}")
        return True

    def _restore_statement_timeout(self, conn: psycopg.Connection[Any]) -> None:
        with contextlib.suppress(psycopg.Error):  # a broken connection is dropped by the pool
            conn.execute(f"SET statement_timeout = {self.read_timeout_ms}")

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

    def _project_for_write(
        self, conn: psycopg.Connection[Any], name: str, fresh: dict[str, Project]
    ) -> Project:
        """The project named `name`, created in this transaction if new.

        A project created here goes into `fresh`, not the shared cache: the caller caches it
        after COMMIT, so another writer never uses a key that may still be rolled back.
        """
        project = self._projects.get(name) or fresh.get(name)
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
            fresh[name] = project
        return project
