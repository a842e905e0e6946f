"""The SQLite store's base: its connections, schema migrations, read time limits, and the
helpers every part of the store shares.

One writer connection (used only by the group-commit writer thread, and briefly by the CLI in
its own process); a read-only connection per reader thread, so reads never wait for writes in
WAL mode. WAL with `synchronous=FULL` makes every COMMIT durable; pages are 4 KB
(`PAGE_SIZE`: why, below).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hivelog.errors import QueryTimeout
from hivelog.query.filters import scoped_where
from hivelog.store import migrations, packing
from hivelog.store.base import EventQuery, Project
from hivelog.store.fairness import ProjectSlots
from hivelog.store.rows import EVENT_COLUMNS
from hivelog.store.sqlite import search
from hivelog.store.sqlite.search import search_sql

# Every SELECT of whole events: packed columns read back as JSON text (store/packing.py).
SELECT = ", ".join(packing.sql_text(c) for c in EVENT_COLUMNS)
_CHUNK = 500  # ids per IN (...) list
# New databases' page size. Every event dirties a leaf page at a random place in the indexes
# keyed by client UUIDs (`events_by_id`, and per session `events_by_session`), and each dirty
# page is written whole to the WAL at COMMIT and again by the checkpoint: once the indexes
# outgrow a commit's share of them (a few hundred thousand events) that is most of the write
# cost, and it is proportional to the page size. Measured in process (`Store.write`, 4 × 100
# bench events per commit, 1 M stored): 16 KB pages ~135 µs CPU and ~100 KB written per event,
# 8 KB ~115 µs, 4 KB ~100 µs and ~35 KB; on an empty database all alike (~45 µs). Rows are
# packed (~0.8 KB an event), so 4 KB pages cost ~4% more disk than 16 KB. An existing database
# keeps the page size it was made with.
PAGE_SIZE = 4096
_CHECKPOINT_SECONDS = 0.5  # how often the WAL is copied into the database
WAL_LIMIT = 64 * 1024 * 1024  # bytes: past this the checkpointer starts the WAL over
_RESTART_WAIT_MS = 200  # longest a RESTART checkpoint holds writers back waiting for readers
# Reads of one project at once (`fairness.ProjectSlots`): reads run on the server's threads.
READS_PER_PROJECT = 4
_NO_LIMIT_S = 30.0  # longest wait for a read slot when reads have no time limit
_PROGRESS_STEPS = 10_000  # SQLite VM steps between read-deadline checks (~0.1 ms)


def chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def statements(script: str) -> Iterable[str]:
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


def marks(n: int) -> str:
    return ", ".join("?" * n)


# Rows per multi-row INSERT, largest first: a batch of any size takes a few statements, and
# there are only as many distinct statement texts (each prepared once and cached) as sizes.
_ROW_CHUNKS = (256, 64, 16, 4, 1)


def insert_rows(
    conn: sqlite3.Connection,
    head: str,
    rows: Sequence[Sequence[Any]],
    tail: str = "",
    first: Sequence[Any] = (),
) -> None:
    """`head VALUES (…), (…), … tail` for every row of `rows` (each after the values `first`,
    e.g. the project's key), as a few multi-row statements.

    Why not `executemany`: the sqlite3 module lets go of the GIL around every statement step
    and must win it back after. While the event loop's thread is busy decoding the next
    requests, each win can wait a whole switch interval (5 ms), so a writer that steps once
    per row crawls exactly when traffic is high (measured: 38 µs per event alone, 808 µs
    beside one busy thread). One step per chunk of rows keeps the writer at its own pace.
    Rows are applied in order, as one statement per row would apply them (ON CONFLICT
    included)."""
    i = 0
    while i < len(rows):
        n = next(size for size in _ROW_CHUNKS if size <= len(rows) - i)
        params: list[Any] = []
        for row in rows[i : i + n]:
            params.extend(first)
            params.extend(row)
        conn.execute(_rows_sql(head, len(first) + len(rows[i]), n, tail), params)
        i += n


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@functools.lru_cache(maxsize=64)
def _rows_sql(head: str, width: int, n: int, tail: str) -> str:
    one = f"({marks(width)})"
    return f"{head} VALUES {', '.join([one] * n)} {tail}"


class SqliteBase:
    dialect = "sqlite"

    def __init__(self, path: str, read_timeout_ms: int = 0, *, checkpoints: bool = True) -> None:
        self.path = path
        self.read_timeout_ms = read_timeout_ms
        # False in the writer process (ingest/writer_process): the server's store checkpoints.
        self.checkpoints = checkpoints
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._projects: dict[str, Project] = {}
        self._slots = ProjectSlots(per_project=READS_PER_PROJECT)
        self.wal_limit = WAL_LIMIT

    # ---- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            Path(self.path).expanduser(), isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it
        conn.execute(f"PRAGMA journal_size_limit = {self.wal_limit}")  # WAL shrinks when reset
        conn.execute("PRAGMA busy_timeout = 10000")
        packing.register(conn)
        search.register(conn)
        self._writer = conn
        self.migrate()
        if self.checkpoints:
            self._start_checkpointer()

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
                for statement in statements(migrations.sql_for(module, self.dialect)):
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

    def _start_checkpointer(self) -> None:
        """Copy the WAL into the database from a thread of its own.

        SQLite's automatic checkpoint runs inside a committing write, so the writer (and every
        request waiting on it) would stall for the checkpoint's copy and fsync. A PASSIVE
        checkpoint from another connection never blocks the writer. But SQLite starts the WAL
        over only when a write begins after a checkpoint that copied every frame, and under
        writes that never pause each pass ends behind the newest commits: the WAL would grow
        for as long as they keep coming (750 MB seen over a bulk load). So past `wal_limit`
        the PASSIVE pass (which has just copied nearly everything, without blocking) is
        followed by a RESTART, which waits for the transaction in flight, holds new writes
        back while readers finish (at most _RESTART_WAIT_MS, else it tries after the next
        pass), copies what came since and starts the WAL over (journal_size_limit then
        truncates it to the limit).
        """
        self._checkpoint_stop = threading.Event()
        path = Path(self.path).expanduser()
        wal = Path(f"{path}-wal")

        def run() -> None:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {_RESTART_WAIT_MS}")
            try:
                while not self._checkpoint_stop.wait(_CHECKPOINT_SECONDS):
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        if _size(wal) > self.wal_limit:
                            conn.execute("PRAGMA wal_checkpoint(RESTART)")
            finally:
                conn.close()

        self._checkpointer = threading.Thread(target=run, name="hivelog-checkpoint", daemon=True)
        self._checkpointer.start()

    def close(self) -> None:
        checkpointer: threading.Thread | None = getattr(self, "_checkpointer", None)
        if checkpointer is not None:
            self._checkpoint_stop.set()
            checkpointer.join()
            del self._checkpointer
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
            search.register(conn)
            packing.register(conn)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _past_deadline(self) -> int:
        """SQLite's progress handler: non-zero interrupts the running read."""
        deadline: float | None = getattr(self._local, "deadline", None)
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    @contextlib.contextmanager
    def _time_limit(self, project: Project | None = None) -> Iterator[None]:
        """Stop the reads inside after `read_timeout_ms`; a stopped read is a QueryTimeout.

        The read is one of `project`'s (`fairness.ProjectSlots`): reads run on server threads,
        and one project's slow reads must not take them all."""
        limit_s = self.read_timeout_ms / 1000 if self.read_timeout_ms > 0 else _NO_LIMIT_S
        with self._slots.hold(project.key if project is not None else None,
                              time.monotonic() + limit_s):  # fmt: skip
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

    def _where(self, project: Project, query: EventQuery) -> tuple[str, list[Any]]:
        return scoped_where(self.dialect, project.key, query, search_sql)
