"""Ingest benchmark: durable events/s through hivelog against raw SQLite, in the same run.

    .venv/bin/python bench/ingest.py [--events 30000] [--runs 3] [--prefill 0]

Scenarios (each on a fresh server and database, after an optional prefill):
  batch   POST /events/batch, 100 events of ~2 KB each, 8 connections
  single  POST /events, one ~2 KB event per request, 32 connections
  raw     the same rows inserted by sqlite3 directly into the same schema, WAL + synchronous=FULL,
          one transaction per 100 rows: the ceiling hivelog is measured against.
Events carry client UUIDv4 ids and mixed-language text (non-ASCII halves JSON parsers).
Figures are medians of --runs runs; ratios are against the raw baseline of the same run.

    .venv/bin/python bench/ingest.py --db postgresql://postgres@127.0.0.1:5432/test

With --db postgresql://… (an admin URL: every measured run gets a fresh database, dropped
after) the same scenarios run on PostgreSQL with 1 and with 2 uvicorn workers, and the baseline
is a raw COPY of the same rows into the same schema (hivelog's own partitioned, lz4 tables),
one transaction per 100 rows, from one connection.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import ServerProcess, median, request_bytes, run_load

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
    return [
        request_bytes(
            "POST",
            "/events/batch",
            json.dumps({"project": "bench", "events": events[i : i + size]}).encode(),
        )
        for i in range(0, len(events), size)
    ]


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


def raw_sqlite(events: list[dict[str, Any]], size: int = 100) -> float:
    """Events/s of plain sqlite3 inserts into hivelog's schema: the same durable ceiling."""
    from hivelog.store import migrations
    from hivelog.store.sqlite import statements

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        for pragma in (
            "page_size = 16384",
            "journal_mode = WAL",
            "synchronous = FULL",
            "cache_size = -65536",
        ):
            conn.execute(f"PRAGMA {pragma}")
        for _, migration in migrations.migrations():  # the same tables, indexes and triggers
            for statement in statements(migrations.sql_for(migration, "sqlite")):
                conn.execute(statement)
        conn.execute("INSERT INTO projects VALUES (1, 'p', 'bench', 0)")
        cols = "project, event_id, session_id, parent_id, event_type, event_name, source, start_time, end_time, duration, config, inputs, outputs, metadata"
        sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' * 14)})"
        start = time.perf_counter()
        for i in range(0, len(events), size):
            rows = [(1, *raw_values(e)) for e in events[i : i + size]]
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    return len(events) / elapsed


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


def raw_copy(events: list[dict[str, Any]], admin_url: str, size: int = 100) -> float:
    """Events/s of plain COPY into hivelog's PostgreSQL schema: the durable ceiling there."""
    import psycopg

    from hivelog.store.postgres import PostgresStore, day_of

    url, drop = pg_database(admin_url)
    try:
        store = PostgresStore(url)
        store.open()  # migrations and today's partitions
        store.ensure_partitions(sorted({day_of(e["start_time"]) for e in events}))
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
            start = time.perf_counter()
            for i in range(0, len(events), size):
                with conn.cursor().copy(f"COPY events ({cols}) FROM STDIN") as copy:
                    for e in events[i : i + size]:
                        copy.write_row((1, day_of(e["start_time"]), *raw_values(e)))
                conn.commit()
            elapsed = time.perf_counter() - start
    finally:
        drop()
    return len(events) / elapsed


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children (uvicorn's supervisor and its workers)."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def prefill(server: ServerProcess, n: int) -> None:
    for start in range(0, n, 20_000):
        reqs = batch_requests(make_events(min(20_000, n - start), seed=10_000 + start))
        result = run_load(server.port, reqs, 4)
        if result.errors:
            raise RuntimeError(f"prefill failed: {result.errors} errors")
        print(f"  prefilled {start + min(20_000, n - start):,} events", file=sys.stderr)


def measure(
    kind: str,
    events: list[dict[str, Any]],
    concurrency: int,
    prefill_n: int,
    pg: str | None = None,
    workers: int = 1,
) -> dict[str, float]:
    reqs = batch_requests(events) if kind == "batch" else single_requests(events)
    url, drop = pg_database(pg) if pg else (None, None)
    try:
        server = ServerProcess(url, ["--workers", str(workers)] if workers > 1 else [])
        try:
            if prefill_n:
                prefill(server, prefill_n)
            result = run_load(server.port, reqs, concurrency)
            rss = server.rss_mb() if workers == 1 else tree_rss_mb(server.pid)
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=30_000, help="events per batch run (single runs use a third)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--prefill", type=int, default=0, help="events stored before each measured run"
    )
    parser.add_argument(
        "--db",
        default=None,
        help="postgresql://… admin URL: benchmark PostgreSQL instead of SQLite",
    )
    args = parser.parse_args()
    if args.db:
        main_postgres(args)
        return

    rows: dict[str, list[dict[str, float]]] = {"raw": [], "batch": [], "single": []}
    for run in range(args.runs):  # interleaved, so drift on a shared machine hits every scenario
        events = make_events(args.events, seed=run)
        rows["raw"].append({"events_per_s": raw_sqlite(events)})
        rows["batch"].append(measure("batch", events, 8, args.prefill))
        rows["single"].append(
            measure("single", make_events(args.events // 3, seed=100 + run), 32, args.prefill)
        )
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    labels = {"batch": "POST /events/batch ×100, 8 conns", "single": "POST /events, 32 conns"}
    report("SQLite", "raw sqlite3, 100 rows/commit", rows, labels, "ingest.json", args)


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
        f"median of {args.runs} runs"
    )
    print(
        f"{'scenario':<40}{'events/s':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}{'vs raw':>8}"
    )
    print(f"{baseline:<40}{raw:>10,.0f}{'':>9}{'':>9}{'':>9}{'':>8}{1.0:>8.2f}")
    for kind, label in labels.items():
        eps = med(kind, "events_per_s")
        print(
            f"{label:<40}{eps:>10,.0f}{med(kind, 'requests_per_s'):>9,.0f}{med(kind, 'p50_ms'):>9.1f}"
            f"{med(kind, 'p99_ms'):>9.1f}{med(kind, 'rss_mb'):>8.0f}{eps / raw:>8.2f}"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / out_name).write_text(json.dumps({"args": vars(args), "runs": rows}, indent=1))


def main_postgres(args: argparse.Namespace) -> None:
    """The same scenarios on PostgreSQL, with 1 and 2 workers, against a raw COPY baseline."""
    kinds = ("raw", "batch-1", "batch-2", "single-1", "single-2")
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for run in range(args.runs):
        events = make_events(args.events, seed=run)
        singles = make_events(args.events // 3, seed=100 + run)
        rows["raw"].append({"events_per_s": raw_copy(events, args.db)})
        for workers in (1, 2):
            rows[f"batch-{workers}"].append(
                measure("batch", events, 8, args.prefill, args.db, workers)
            )
            rows[f"single-{workers}"].append(
                measure("single", singles, 32, args.prefill, args.db, workers)
            )
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

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
