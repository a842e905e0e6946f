"""Ingest benchmark: durable events/s through hivelog against raw SQLite, in the same run.

    .venv/bin/python bench/ingest.py [--events 30000] [--runs 3] [--prefill 0]

Scenarios (each on a fresh server and database, after an optional prefill):
  batch     POST /events/batch, 100 events of ~2 KB each, 8 connections
  raw       the same rows inserted by sqlite3 directly into the same schema, WAL +
            synchronous=FULL, one transaction per 100 rows: the ceiling batches are measured
            against
  single    POST /events, one ~2 KB event per request, 32 connections
  raw 32    the single run's rows by sqlite3, one INSERT each, 32 per durable commit: 32
            connections have at most 32 requests in flight, so this is the most one group
            commit per fsync allows them
  healthz   GET /healthz from 32 connections on the single run's server, before it: what the
            HTTP stack of that process answers with no work behind it
  disk      after the batch run: wait until the search index has caught up, stop the server,
            bytes of the database files against the events' JSON (--no-disk skips it)
Every line reports the server's CPU per event (all its processes), the part of it its SQLite
writer process used (`writer`; 0 with --writer-thread, whose writer is a thread of the server)
and its peak RSS (VmHWM) where it applies.
Events carry client UUIDv4 ids and mixed-language text (non-ASCII halves JSON parsers).
Each run takes its raw baselines and its server scenarios one after the other with new events,
and every side starts warm and idle: before its timed part each first writes WARM_EVENTS other
events untimed (a new server's first requests and a new database's first pages are slow), and
a server is then left until it has been idle for a second (its search index and checkpoints
must not run in the timed part). Figures are medians of --runs runs; a ratio is the median of
the runs' own ratios (scenario / baseline of the same run): on a shared machine one run's
figures move by ±30% with what else runs, and the two sides of one run share that moment.

    .venv/bin/python bench/ingest.py --db postgresql://postgres@127.0.0.1:5432/test

With --prefill N (SQLite) every run stores into one copy of a database already holding N
events (built once per size, see `prefilled_sqlite`), and the raw baselines insert into that
same database too, into the same project as the server (`bench`), under fresh random ids: the
same rows at the same random places of indexes of the same size. (Under a project of its own,
as before, the raw baseline appended at the end of every index, as on an empty database.)

With --db postgresql://… (an admin URL: every measured run gets a fresh database, dropped
after) the same scenarios run on PostgreSQL with 1 and with 2 uvicorn workers, and the baseline
is a raw COPY of the same rows into the same schema (hivelog's own partitioned, lz4 tables),
one transaction per 100 rows, from one connection.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import ServerProcess, median, request_bytes, run_load, wait_idle
from loadgen import batch_requests as loadgen_batches

WARM_EVENTS = 2_000  # written untimed by each side of a run before its timed part
TEXTS = [
    "The quick brown fox jumps over the lazy dog while the model thinks about tokens.",
    "東京の天気は晴れです。明日の予定を確認してください。",
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "¿Dónde está la biblioteca? Necesito encontrar un libro sobre modelos de lenguaje.",
    "模型返回了一个很长的答案，其中包含许多细节和引用。",
]


def make_event(rng: random.Random, session_id: str) -> dict[str, Any]:
    """One ~2 KB model event: chat history in several languages, config, tokens."""
    history = [
        {"role": "system", "content": "You are a helpful assistant. " + rng.choice(TEXTS)},
        *(
            {
                "role": rng.choice(["user", "assistant"]),
                "content": " ".join(rng.choices(TEXTS, k=2)),
            }
            for _ in range(5)
        ),
    ]
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "session_id": session_id,
        "event_type": rng.choice(["model", "tool", "chain"]),
        "event_name": rng.choice(["chat", "search", "rerank", "plan"]),
        "source": "bench",
        "config": {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "hyperparameters": {"temperature": 0.2},
        },
        "inputs": {"chat_history": history},
        "outputs": {"role": "assistant", "content": rng.choice(TEXTS)},
        "metadata": {
            "prompt_tokens": rng.randint(10, 2000),
            "completion_tokens": rng.randint(10, 500),
            "cost": 0.001,
        },
        "start_time": 1_790_000_000_000 + rng.randint(0, 10**9),
        "duration": rng.uniform(1, 3000),
    }


def make_events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(0, n, 10):
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.extend(make_event(rng, sid) for _ in range(min(10, n - i)))
    return out


def batch_requests(events: list[dict[str, Any]], size: int = 100) -> list[bytes]:
    return loadgen_batches(events, "bench", size)


def single_requests(events: list[dict[str, Any]]) -> list[bytes]:
    return [
        request_bytes("POST", "/events", json.dumps({"event": {"project": "bench", **e}}).encode())
        for e in events
    ]


def raw_values(e: dict[str, Any]) -> tuple[Any, ...]:
    """One event's columns after `project` (and `day`), as both raw baselines insert them."""
    return (
        e["event_id"],
        e["session_id"],
        e["session_id"],
        e["event_type"],
        e["event_name"],
        e["source"],
        e["start_time"],
        e["start_time"] + int(e["duration"]),
        e["duration"],
        json.dumps(e["config"]),
        json.dumps(e["inputs"]),
        json.dumps(e["outputs"]),
        json.dumps(e["metadata"]),
    )


_RAW_COLS = (
    "project, event_id, session_id, parent_id, event_type, event_name, source, start_time, "
    "end_time, duration, config, inputs, outputs, metadata"
)
_RAW_INSERT = f"INSERT INTO events ({_RAW_COLS}) VALUES ({', '.join('?' * 14)})"


def raw_connection(path: Path) -> sqlite3.Connection:
    """A new database with hivelog's tables, indexes and triggers and hivelog's pragmas (WAL,
    synchronous=FULL, its page size), and no hivelog: what the raw baselines write into."""
    from hivelog.store import migrations
    from hivelog.store.sqlite import statements
    from hivelog.store.sqlite.connection import PAGE_SIZE

    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        f"page_size = {PAGE_SIZE}",
        "journal_mode = WAL",
        "synchronous = FULL",
        "cache_size = -65536",
    ):
        conn.execute(f"PRAGMA {pragma}")
    for _, migration in migrations.migrations():  # the same tables, indexes and triggers
        for statement in statements(migrations.sql_for(migration, "sqlite")):
            conn.execute(statement)
    conn.execute("INSERT INTO projects VALUES (1, 'p', 'bench', 0)")
    return conn


def raw_sqlite(
    events: list[dict[str, Any]],
    size: int = 100,
    db: str | None = None,
    warm: Sequence[dict[str, Any]] = (),
) -> float:
    """Events/s of plain sqlite3 inserts into hivelog's schema: the same durable ceiling.

    Into a new database, or into `db` (a prefilled one: the same rows into tables of the same
    size, in the server's project). `warm`: events inserted the same way first, untimed."""

    def insert(conn: sqlite3.Connection, key: int, events: list[dict[str, Any]]) -> None:
        for i in range(0, len(events), size):
            rows = [(key, *raw_values(e)) for e in events[i : i + size]]
            conn.execute("BEGIN")
            conn.executemany(_RAW_INSERT, rows)
            conn.execute("COMMIT")

    return _timed_raw(insert, events, db, warm, "raw")


def _timed_raw(
    insert: Callable[[sqlite3.Connection, int, list[dict[str, Any]]], None],
    events: list[dict[str, Any]],
    db: str | None,
    warm: Sequence[dict[str, Any]],
    baseline: str,
) -> float:
    """Events/s of `insert(conn, key, events)` on a raw baseline's target (`raw_target`),
    after `insert` of `warm` untimed; into a prefilled `db`, both under new ids (`renamed`,
    new for each `baseline`: two baselines of a run share its `warm` events and its db)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn, key = raw_target(Path(tmp) / "raw.db", db)
        if db is not None:
            events, warm = renamed(events, baseline), renamed(warm, baseline)
        insert(conn, key, list(warm))
        start = time.perf_counter()
        insert(conn, key, events)
        elapsed = time.perf_counter() - start
        conn.close()
    return len(events) / elapsed


def raw_target(new: Path, db: str | None) -> tuple[sqlite3.Connection, int]:
    """A connection for a raw baseline and the project key its rows go under: a new database
    at `new`, or the existing (prefilled) database `db` with hivelog's pragmas and the
    project the server writes into, `bench`: every index leads with the project, so rows of
    a project of their own would go to the end of each index, not among the stored ones."""
    if db is None:
        return raw_connection(new), 1
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "cache_size = -65536"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(
        "INSERT INTO projects (project_id, name, created_at) VALUES (?, 'bench', 0) "
        "ON CONFLICT (name) DO NOTHING",
        (str(uuid.uuid4()),),
    )
    (key,) = conn.execute("SELECT key FROM projects WHERE name = 'bench'").fetchone()
    return conn, int(key)


def renamed(events: Sequence[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """The events under new random event and session ids (seeded by the events, so every run
    gets its own): what a raw baseline inserts into the server's project, so that the
    server's run of the same events stores them anew."""
    rng = random.Random(f"{baseline} " + (events[0]["event_id"] if events else ""))
    ids: dict[str, str] = {}

    def new(old: str) -> str:
        if old not in ids:
            ids[old] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return ids[old]

    return [
        {**e, "event_id": new(e["event_id"]), "session_id": new(e["session_id"])} for e in events
    ]


def raw_group(
    events: list[dict[str, Any]],
    group: int = 32,
    db: str | None = None,
    warm: Sequence[dict[str, Any]] = (),
) -> float:
    """Events/s of plain sqlite3 single-row INSERTs, `group` per durable commit.

    `POST /events` from 32 connections has at most 32 requests in flight, so one group commit
    can carry at most 32 events: this is the ceiling of that scenario on this disk, whatever
    the server does (one commit = one fsync of the WAL)."""

    def insert(conn: sqlite3.Connection, key: int, events: list[dict[str, Any]]) -> None:
        for i in range(0, len(events), group):
            conn.execute("BEGIN")
            for e in events[i : i + group]:
                conn.execute(_RAW_INSERT, (key, *raw_values(e)))
            conn.execute("COMMIT")

    return _timed_raw(insert, events, db, warm, "raw 32")


def pg_database(admin_url: str) -> tuple[str, Any]:
    """A fresh database next to `admin_url`: (its URL, a function that drops it)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = f"hivelog_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = conninfo_to_dict(admin_url)
    url = f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{name}"

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def raw_copy(
    events: list[dict[str, Any]],
    admin_url: str,
    size: int = 100,
    warm: Sequence[dict[str, Any]] = (),
) -> float:
    """Events/s of plain COPY into hivelog's PostgreSQL schema: the durable ceiling there
    (after a COPY of `warm`, untimed)."""
    import psycopg

    from hivelog.store.postgres import PostgresStore, day_of

    url, drop = pg_database(admin_url)
    try:
        store = PostgresStore(url)
        store.open()  # migrations and today's partitions
        store.ensure_partitions(sorted({day_of(e["start_time"]) for e in [*events, *warm]}))
        store.close()
        cols = (
            "project, day, event_id, session_id, parent_id, event_type, event_name, source, "
            "start_time, end_time, duration, config, inputs, outputs, metadata"
        )
        with psycopg.connect(url) as conn:
            conn.execute(
                "INSERT INTO projects (key, project_id, name, created_at) VALUES (1, 'p', 'bench', 0)"
            )
            conn.commit()

            def insert(events: list[dict[str, Any]]) -> None:
                for i in range(0, len(events), size):
                    with conn.cursor().copy(f"COPY events ({cols}) FROM STDIN") as copy:
                        for e in events[i : i + size]:
                            copy.write_row((1, day_of(e["start_time"]), *raw_values(e)))
                    conn.commit()

            insert(list(warm))
            start = time.perf_counter()
            insert(events)
            elapsed = time.perf_counter() - start
    finally:
        drop()
    return len(events) / elapsed


def prefill(server: ServerProcess, n: int) -> None:
    """Store `n` events through HTTP (PostgreSQL runs; SQLite uses `prefilled_sqlite`)."""
    for start in range(0, n, 20_000):
        reqs = batch_requests(make_events(min(20_000, n - start), seed=10_000 + start))
        result = run_load(server.port, reqs, 4)
        if result.errors:
            raise RuntimeError(f"prefill failed: {result.errors} errors")
        print(f"  prefilled {start + min(20_000, n - start):,} events", file=sys.stderr)


def prefilled_sqlite(n: int, cache: Path) -> Path:
    """A hivelog SQLite database holding `n` events of the benchmark's shape, built once per
    size (and schema) in `cache` and reused: sessions of 10 (a session event and 9 events)
    under project `bench`, the rows written straight into hivelog's tables by sqlite3
    (synchronous off, 20,000 rows per transaction) — about 30 times faster than through HTTP.

    The search index is marked caught up without holding these rows (indexing 5 M events
    would take hours here): the measured runs then index only their own events, as a server
    that had kept up would. Searches on such a database do not find the prefilled rows."""
    from hivelog.event import Event
    from hivelog.store import migrations
    from hivelog.store.rows import INSERT_COLUMNS
    from hivelog.store.sqlite import SqliteStore
    from hivelog.store.sqlite.connection import PAGE_SIZE
    from hivelog.store.sqlite.writes import sqlite_row, sqlite_rows

    schema = "-".join(name for name, _ in migrations.migrations()) + f"-page{PAGE_SIZE}"
    path = cache / f"prefill-{n}-{zlib.crc32(schema.encode()):08x}.db"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    store = SqliteStore(str(building))
    store.open()  # schema, pragmas (page size, WAL)
    store.close()
    conn = sqlite3.connect(building, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute(
        "INSERT INTO projects (project_id, name, created_at) VALUES (?, 'bench', 0)",
        (str(uuid.uuid4()),),
    )
    (key,) = conn.execute("SELECT key FROM projects WHERE name = 'bench'").fetchone()
    cols = ", ".join(("project", *INSERT_COLUMNS))
    sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' * (len(INSERT_COLUMNS) + 1))})"
    rng = random.Random(7)
    # Stored rows (packed as the store packs them) of 2,000 distinct events, each reused with
    # new ids and times.
    pool = sqlite_rows([Event(**_event_fields(e)) for e in make_events(2_000, seed=77)])
    t0 = time.perf_counter()
    done = 0
    while done < n:
        rows = []
        for _ in range(min(20_000, n - done) // 10 or 1):
            sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            start = 1_790_000_000_000 + rng.randint(0, 10**9)
            session = Event(
                event_id=sid,
                session_id=sid,
                parent_id=None,
                event_type="session",
                event_name="session",
                source="bench",
                start_time=start,
                end_time=start + 3000,
                duration=3000.0,
            )
            rows.append((key, *sqlite_row(session)))
            for _ in range(9):
                v = pool[rng.randrange(len(pool))]
                eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                rows.append((key, eid, sid, sid, *v[3:]))
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        done += len(rows)
        if done % 500_000 < len(rows):
            rate = done / (time.perf_counter() - t0)
            print(f"  prefill: {done:,} of {n:,} events ({rate:,.0f}/s)", file=sys.stderr)
    conn.execute("UPDATE search_state SET indexed_seq = (SELECT max(seq) FROM events)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    building.rename(path)
    return path


def _event_fields(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": e["event_id"],
        "session_id": e["session_id"],
        "parent_id": e["session_id"],
        "event_type": e["event_type"],
        "event_name": e["event_name"],
        "source": e["source"],
        "start_time": e["start_time"],
        "end_time": e["start_time"] + int(e["duration"]),
        "duration": e["duration"],
        **{k: e[k] for k in ("config", "inputs", "outputs", "metadata")},
    }


def wait_indexed(db: str, limit_s: float = 900) -> float:
    """Seconds until the server's search index has caught up with every stored event."""
    conn = sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True)
    start = time.monotonic()
    try:
        while time.monotonic() - start < limit_s:
            (mark,) = conn.execute("SELECT indexed_seq FROM search_state").fetchone()
            (top,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            if mark >= top:
                return time.monotonic() - start
            time.sleep(0.5)  # polling another process's progress
    finally:
        conn.close()
    raise RuntimeError(f"search index not caught up after {limit_s:.0f} s")


def disk_figures(db: str, events: list[dict[str, Any]]) -> dict[str, float]:
    """Bytes on disk per event of a stopped server's database, against the events' JSON: as
    compact UTF-8 (msgspec, what hivelog stores) and as the benchmark sent it (Python's
    json.dumps: ASCII escapes, spaces). Split into the events table, its indexes and the
    search index (SQLite's dbstat)."""
    import msgspec

    files = sum(p.stat().st_size for p in Path(db).parent.glob(Path(db).name + "*"))
    compact = sum(len(msgspec.json.encode(e)) for e in events)
    sent = sum(len(json.dumps(e)) for e in events)
    conn = sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True)
    parts = {"table": 0, "indexes": 0, "search": 0, "other": 0}
    for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        kind = (
            "table"
            if name == "events"
            else "indexes"
            if name.startswith(("events_by", "events_sessions", "sqlite_autoindex_events"))
            else "search"
            if name.startswith("events_fts")
            else "other"
        )
        parts[kind] += size
    conn.close()
    return {
        "bytes_per_event": files / len(events),
        "vs_compact_json": files / compact,
        "vs_sent_json": files / sent,
        **{f"{k}_vs_compact": v / compact for k, v in parts.items()},
    }


def measure(
    kind: str,
    events: list[dict[str, Any]],
    concurrency: int,
    prefill_n: int,
    pg: str | None = None,
    workers: int = 1,
    db: str | None = None,
    disk: bool = False,
    warm: Sequence[dict[str, Any]] = (),
    serve_args: Sequence[str] = (),
) -> dict[str, float]:
    """One scenario on a fresh server (on `db` if given, else a fresh database), after it has
    stored `warm` the same way, untimed, and gone idle. `single` then measures `GET /healthz`
    on the same server: the HTTP ceiling of this process."""
    encode = batch_requests if kind == "batch" else single_requests
    reqs = encode(events)
    url, drop = pg_database(pg) if pg else (db, None)
    if db is not None:
        # As on a fresh database, the run's server indexes only the run's own events: what
        # earlier runs and the raw baselines stored counts as indexed already.
        with sqlite3.connect(db, isolation_level=None) as conn:
            conn.execute("UPDATE search_state SET indexed_seq = (SELECT max(seq) FROM events)")
        conn.close()
    extra: dict[str, float] = {}
    try:
        workers_args = ["--workers", str(workers)] if workers > 1 else []
        server = ServerProcess(url, [*workers_args, *serve_args])
        try:
            if prefill_n and pg:
                prefill(server, prefill_n)
            cpu_now = server.cpu_seconds
            if warm:
                if run_load(server.port, encode(warm), concurrency).errors:
                    raise RuntimeError(f"{kind}: warm-up requests failed")
                wait_idle(cpu_now)
            if kind == "single":
                health = run_load(server.port, [HEALTHZ] * len(events), concurrency)
                extra["healthz_per_s"] = health.requests / health.seconds
                extra["healthz_p99_ms"] = health.pct(0.99)
            cpu, writer_cpu = cpu_now(), server.writer_cpu_seconds()
            result = run_load(server.port, reqs, concurrency)
            extra["cpu_us_per_event"] = (cpu_now() - cpu) / len(events) * 1e6
            writer_s = server.writer_cpu_seconds() - writer_cpu
            extra["writer_cpu_us_per_event"] = writer_s / len(events) * 1e6
            rss = server.rss_mb("VmHWM")
            if disk:
                extra["index_wait_s"] = wait_indexed(server.db)
                server.stop()
                extra.update(disk_figures(server.db, [*warm, *events]))
        finally:
            server.close()
    finally:
        if drop is not None:
            drop()
    if result.errors:
        raise RuntimeError(f"{kind}: {result.errors} requests failed")
    return {
        "events_per_s": len(events) / result.seconds,
        "requests_per_s": result.requests / result.seconds,
        "p50_ms": result.pct(0.50),
        "p99_ms": result.pct(0.99),
        "rss_mb": rss,
        **extra,
    }


HEALTHZ = request_bytes("GET", "/healthz", b"")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=30_000, help="events per batch run (single runs use a third)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        help="events stored before the measured runs (SQLite: built once per size in "
        "--prefill-cache, then one copy per invocation, shared by its runs)",
    )
    parser.add_argument(
        "--prefill-cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "hivelog-bench-prefill",
        help="where prefilled SQLite databases are kept between invocations",
    )
    parser.add_argument(
        "--no-disk", action="store_true", help="skip the disk figure (waits for the search index)"
    )
    parser.add_argument(
        "--db",
        default=None,
        help="postgresql://… admin URL: benchmark PostgreSQL instead of SQLite",
    )
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="an argument for every `hivelog serve` the runs start (repeat it), e.g. "
        "--serve-arg=--writer-thread",
    )
    args = parser.parse_args()
    if args.db:
        main_postgres(args)
        return
    serve = tuple(args.serve_arg)

    work = tempfile.TemporaryDirectory(prefix="hivelog-bench-work-")
    db: str | None = None
    if args.prefill:
        template = prefilled_sqlite(args.prefill, args.prefill_cache)
        db = str(Path(work.name) / "bench.db")
        shutil.copyfile(template, db)
    kinds = ("raw", "batch", "raw_group", "single")
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    try:
        for run in range(args.runs):  # interleaved: drift on a shared machine hits every one
            events = make_events(args.events, seed=run)
            singles = make_events(args.events // 3, seed=100 + run)
            warm = make_events(WARM_EVENTS, seed=1_000 + run)
            rows["raw"].append({"events_per_s": raw_sqlite(events, db=db, warm=warm)})
            disk = not args.prefill and not args.no_disk
            batch = measure(
                "batch", events, 8, args.prefill, db=db, disk=disk, warm=warm, serve_args=serve
            )
            rows["batch"].append(batch)
            rows["raw_group"].append({"events_per_s": raw_group(singles, db=db, warm=warm)})
            rows["single"].append(
                measure("single", singles, 32, args.prefill, db=db, warm=warm, serve_args=serve)
            )
            print(f"run {run + 1}/{args.runs} done ({load()})", file=sys.stderr)
    finally:
        work.cleanup()
    report_sqlite(rows, args)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def report_sqlite(rows: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    """Every target line with the baseline of the same runs; also bench/results/ingest.json."""

    def med(kind: str, key: str) -> float:
        values = [r[key] for r in rows[kind] if key in r]
        return median(values) if values else float("nan")

    raw, group = med("raw", "events_per_s"), med("raw_group", "events_per_s")
    healthz = med("single", "healthz_per_s")
    print(
        f"\nhivelog ingest, SQLite, {args.events:,} events/run (single: {args.events // 3:,}), "
        f"prefill {args.prefill:,}, median of {args.runs} runs, {load()}"
    )
    head = (
        f"{'scenario':<44}{'events/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'peak MB':>8}{'CPU µs/ev':>10}"
        f"{'writer':>8}  ratio"
    )
    print(head)
    print(f"{'raw sqlite3, 100 rows/commit':<44}{raw:>9,.0f}{'':>42}  1.00")
    line = lambda label, kind: (  # noqa: E731
        f"{label:<44}{med(kind, 'events_per_s'):>9,.0f}{med(kind, 'p50_ms'):>8.1f}"
        f"{med(kind, 'p99_ms'):>8.1f}{med(kind, 'rss_mb'):>8.0f}{med(kind, 'cpu_us_per_event'):>10.0f}"
        f"{med(kind, 'writer_cpu_us_per_event'):>8.0f}"
    )
    print(
        line("POST /events/batch ×100, 8 conns", "batch")
        + f"  {paired_ratio(rows, 'batch', 'raw'):.2f} of raw"
    )
    print(f"{'raw sqlite3, 1 row/INSERT, 32 rows/commit':<44}{group:>9,.0f}{'':>42}  1.00")
    print(f"{'GET /healthz, 32 conns (the single server)':<44}{healthz:>9,.0f}")
    of_healthz = median([r["events_per_s"] / r["healthz_per_s"] for r in rows["single"]])
    print(
        line("POST /events, 32 conns", "single")
        + f"  {paired_ratio(rows, 'single', 'raw_group'):.2f} of raw 32/commit, {of_healthz:.2f} of healthz"
    )
    if rows["batch"] and "bytes_per_event" in rows["batch"][0]:
        parts = ", ".join(
            f"{k} {med('batch', f'{k}_vs_compact'):.2f}" for k in ("table", "indexes", "search")
        )
        print(
            f"disk, search index caught up: {med('batch', 'bytes_per_event'):,.0f} bytes/event = "
            f"{med('batch', 'vs_compact_json'):.2f}× compact JSON ({parts}), "
            f"{med('batch', 'vs_sent_json'):.2f}× the JSON as sent"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    name = f"ingest-prefill-{args.prefill}.json" if args.prefill else "ingest.json"
    (out / name).write_text(json.dumps({"args": vars(args), "runs": rows}, indent=1, default=str))


def paired_ratio(rows: dict[str, list[dict[str, float]]], kind: str, base: str) -> float:
    """The median of the runs' own ratios of `kind` to `base` (the same run's baseline)."""
    pairs = zip(rows[kind], rows[base], strict=True)
    return median([r["events_per_s"] / b["events_per_s"] for r, b in pairs])


def report(
    backend: str,
    baseline: str,
    rows: dict[str, list[dict[str, float]]],
    labels: dict[str, str],
    out_name: str,
    args: argparse.Namespace,
) -> None:
    """Medians of every scenario, with the ratio to the baseline of the same runs; also saved
    as JSON under bench/results/."""

    def med(kind: str, key: str) -> float:
        return median([r[key] for r in rows[kind]])

    raw = med("raw", "events_per_s")
    print(
        f"\nhivelog ingest, {backend}, {args.events:,} events/run, prefill {args.prefill:,}, "
        f"median of {args.runs} runs, {load()}"
    )
    print(
        f"{'scenario':<40}{'events/s':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}{'CPU µs/ev':>10}{'vs raw':>8}"
    )
    print(f"{baseline:<40}{raw:>10,.0f}{'':>9}{'':>9}{'':>9}{'':>8}{'':>10}{1.0:>8.2f}")
    for kind, label in labels.items():
        eps = med(kind, "events_per_s")
        print(
            f"{label:<40}{eps:>10,.0f}{med(kind, 'requests_per_s'):>9,.0f}{med(kind, 'p50_ms'):>9.1f}"
            f"{med(kind, 'p99_ms'):>9.1f}{med(kind, 'rss_mb'):>8.0f}{med(kind, 'cpu_us_per_event'):>10.0f}"
            f"{paired_ratio(rows, kind, 'raw'):>8.2f}"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / out_name).write_text(
        json.dumps({"args": vars(args), "runs": rows}, indent=1, default=str)
    )


def main_postgres(args: argparse.Namespace) -> None:
    """The same scenarios on PostgreSQL, with 1 and 2 workers, against a raw COPY baseline."""
    kinds = ("raw", "batch-1", "batch-2", "single-1", "single-2")
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for run in range(args.runs):
        events = make_events(args.events, seed=run)
        singles = make_events(args.events // 3, seed=100 + run)
        warm = make_events(WARM_EVENTS, seed=1_000 + run)
        rows["raw"].append({"events_per_s": raw_copy(events, args.db, warm=warm)})
        for workers in (1, 2):
            rows[f"batch-{workers}"].append(
                measure("batch", events, 8, args.prefill, args.db, workers, warm=warm)
            )
            rows[f"single-{workers}"].append(
                measure("single", singles, 32, args.prefill, args.db, workers, warm=warm)
            )
        print(f"run {run + 1}/{args.runs} done ({load()})", file=sys.stderr)

    labels = {}
    for kind in kinds[1:]:
        scenario, workers = kind.split("-")
        what = (
            "POST /events/batch ×100, 8 conns" if scenario == "batch" else "POST /events, 32 conns"
        )
        labels[kind] = f"{what}, {workers}w"
    report("PostgreSQL", "raw COPY, 100 rows/commit", rows, labels, "ingest-postgres.json", args)


if __name__ == "__main__":
    main()
