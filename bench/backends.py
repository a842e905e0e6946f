"""Backends benchmark: SQLite, PostgreSQL and ClickHouse (embedded, `chdb:`) over the same
events, in one run.

    nice -n 10 .venv/bin/python bench/backends.py [--events 1000000] [--ingest-events 50000] \
        [--ingest-runs 3] [--runs 5] [--pg postgresql://postgres@127.0.0.1:5432/test] \
        [--only sqlite,postgres,chdb]

Every backend gets a fresh database and the same ~2 KB events (bench/ingest.py's shape: chat
history in five languages, client UUIDv4 ids, sessions of 10: a session start and 9 events):

  prefill   --events stored first over the last 30 days, in time order, through the store's
            own write path in process (`Store.write`, 10,000 events per call: the same rows,
            placeholders and indexes as served traffic, without HTTP), so every figure below
            is taken with that many events already stored
  ingest    then --ingest-events more (new sessions in the last hour, as live traffic) through
            `POST /events/batch`, 500 events per request, 8 connections; events/s, durable
            (every 2xx is committed). --ingest-runs pairs of (raw, ingest), each pair with new
            events, taken in turn: the report gives the medians and the median of the pairs'
            ratios. Both sides start warm and idle: the server ingests 5,000 other events
            untimed (its engine's first queries) and is timed once its CPU is idle. On SQLite
            and PostgreSQL one server takes every run; on chdb each run's server starts on a
            new copy of the prefilled database, as its raw baseline does
  raw       the same --ingest-events rows inserted straight into the same tables, no
            hivelog: SQLite executemany, 100 rows per transaction (synchronous=FULL), and
            PostgreSQL COPY, 100 rows per transaction, into a fresh database; ClickHouse
            `INSERT … FORMAT JSONCompactEachRow`, 1,000 rows per INSERT (the size the writer
            aims for), fsync on (the tables' own settings), into a copy of the prefilled
            database (the same parts to merge with), each run in a new process that first
            inserts the same 5,000 other rows untimed and waits for their merges, as the
            server; ratio = ingest / raw.
            CPU per event: the server process's during the ingest (every thread: HTTP,
            decoding, the writer, and on chdb the engine and its merges), and the raw
            process's during its INSERTs (on chdb the engine and its merges too)
  reads     through HTTP, median of --runs (ms): a session tree (GET /v1/sessions/{id}); an
            export page (model events with metadata.cost > 0.0005 in the last 7 days, 100);
            the UI's sessions page (newest 50 sessions with their numbers); a 30-day chart
            (GET /v1/events/chart, avg duration per day); search (the sessions page for a
            word of the inputs, last 7 days)
  disk      bytes on disk per stored event at the end: SQLite file + WAL; PostgreSQL
            pg_database_size; ClickHouse the active parts of hivelog's tables (on chdb the
            prefilled database: the runs ingest into copies)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import make_event, pg_database, raw_copy, raw_sqlite
from loadgen import ServerProcess, batch_requests, run_load, wait_idle

PROJECT = "bench"
DAY_MS = 86_400_000
CHUNK = 20_000
PREFILL_CHUNK = 10_000
WARM_EVENTS = 5_000  # written untimed before each timed run, by both sides (`warmed`)
NOW = int(time.time() * 1000)


def make_chunk(start: int, n: int, total: int, seed: int) -> list[dict[str, Any]]:
    """Events `start`…`start+n` of `total`: sessions of 10 in time order over 30 days."""
    rng = random.Random(seed + start)
    out: list[dict[str, Any]] = []
    first = NOW - 30 * DAY_MS
    step = 30 * DAY_MS / max(total // 10, 1)
    for i in range(start - start % 10, start + n, 10):
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t0 = int(first + (i // 10) * step)
        session = {"event_id": sid, "session_id": sid, "event_type": "session",
                   "event_name": "chat session", "source": "bench", "start_time": t0,
                   "duration": 60_000.0, "user_properties": {"user_id": f"u{i % 97}"}, "config": {}, "inputs": {}, "outputs": {}, "metadata": {}}  # fmt: skip
        items = [session]
        for k in range(9):
            e = make_event(rng, sid)
            e["start_time"] = t0 + 1000 * (k + 1)
            e["parent_id"] = sid
            items.append(e)
        out.extend(x for j, x in enumerate(items) if start <= i + j < start + n)
    return out


def prefill_events(start: int, total: int, seed: int, cache: Path) -> list[Any]:
    """Events `start`… of the prefill as the REST route makes them (`Event`s), generated once
    per run and kept in `cache` for the next backend (generating costs more than storing)."""
    from hivelog.event import Event
    from hivelog.normalize.rest import event_from_wire
    from hivelog.wire.rest import EventIn

    path = cache / f"{start}.msgpack"
    if path.exists():
        return msgspec.msgpack.decode(path.read_bytes(), type=list[Event])
    items = make_chunk(start, min(PREFILL_CHUNK, total - start), total, seed)
    events = [event_from_wire(msgspec.convert(e, EventIn), "$") for e in items]
    path.write_bytes(msgspec.msgpack.encode(events))
    return events


def prefill(db: str, total: int, seed: int, cache: Path, index_seconds: float) -> float:
    """Store `total` events through the store's write path in process; events/s."""
    from hivelog.settings import Settings
    from hivelog.store import open_store
    from hivelog.store.base import WriteEvents

    store = open_store(Settings(db=db))
    store.open()
    seconds = 0.0
    try:
        for start in range(0, total, PREFILL_CHUNK):
            events = prefill_events(start, total, seed, cache)
            began = time.perf_counter()
            job = WriteEvents(PROJECT, events).encode(store.encode_rows)
            (result,) = store.write([job])
            if result.error is not None:
                raise RuntimeError(f"prefill: {result.error}")
            seconds += time.perf_counter() - began
            if (start // PREFILL_CHUNK) % 10 == 9:
                print(f"  {start + len(events):,} events stored", file=sys.stderr)
        # SQLite's search index catches up behind the writes, as a server's would between
        # requests; given at most --index-seconds here (searches scan what is left).
        deadline = time.monotonic() + index_seconds
        while time.monotonic() < deadline and store.background_work():
            pass
        if time.monotonic() >= deadline:
            print("  search index still catching up", file=sys.stderr)
        if db.startswith("chdb:"):
            settle_merges(store)
    finally:
        store.close()
    return total / seconds


def settle_merges(store: Any, limit_s: float = 300) -> None:
    """Wait (at most `limit_s`) until the engine has no merge running, several checks in a
    row: the database at rest, so neither the raw INSERTs into its copy nor the server
    that opens it inherit the prefill's merges."""
    from hivelog.store.clickhouse.connection import parse_rows

    deadline = time.monotonic() + limit_s
    quiet = 0
    while quiet < 5 and time.monotonic() < deadline:
        running = parse_rows(store.transport.execute("SELECT count() FROM system.merges"))
        quiet = quiet + 1 if int(running[0][0]) == 0 else 0
        time.sleep(0.5)


def live_chunk(start: int, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` events of new sessions in the last hour (after every prefilled one)."""
    out = make_chunk(start, n, 10**9, seed + 7)
    shift = NOW - 3_600_000 - out[0]["start_time"] if out else 0
    for e in out:
        e["start_time"] += shift
    return out


def ingest(server: ServerProcess, total: int, seed: int) -> tuple[float, float]:
    """Events/s through hivelog, and the server's CPU µs per event; only the time spent
    sending counts."""
    seconds = cpu = 0.0
    for start in range(0, total, CHUNK):
        reqs = batch_requests(live_chunk(start, min(CHUNK, total - start), seed), PROJECT, 500)
        began = server.cpu_seconds()
        result = run_load(server.port, reqs, 8)
        cpu += server.cpu_seconds() - began
        if result.errors:
            raise RuntimeError(f"ingest: {result.errors} requests failed")
        seconds += result.seconds
    return total / seconds, cpu / total * 1e6


def copy_chdb(db: str, path: str) -> str:
    """A copy of the closed chdb database `db` at `path`, on disk before it is used (its
    writeback must not fall into the timed INSERTs' fsyncs); the copy's `chdb:` URL. A data
    directory's symlinks are relative: a copy opens as the same database."""
    shutil.copytree(db.removeprefix("chdb:"), path, symlinks=True)
    os.sync()
    return f"chdb:{path}"


def raw_clickhouse(
    db: str, count: int, seed: int, fsync: bool = True, size: int = 1000
) -> tuple[float, float]:
    """Rows/s and CPU µs per row of plain INSERTs of `live_chunk(0, count, seed)` into
    hivelog's ClickHouse tables on the embedded engine, in a copy of the database `db`
    (prefilled, closed); `fsync=False` measures what the durability settings cost.

    In a new process each time, as the server is: one process that opened copy after copy
    got slower with each (15,700 → 9,800 rows/s over nine runs, the same rows). Like the
    server, it first inserts WARM_EVENTS other rows untimed (the engine's first queries),
    then waits for the merges they started, as the server is idle before its runs."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_raw_clickhouse, (db, count, seed, fsync, size))


def _raw_clickhouse(db: str, count: int, seed: int, fsync: bool, size: int) -> tuple[float, float]:
    from hivelog.store.clickhouse import ClickHouseStore

    encode = msgspec.json.Encoder().encode
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseStore(copy_chdb(db, f"{tmp}/raw"))
        store.open()
        if not fsync:
            for table in ("events", "sessions_agg"):
                store.transport.execute(
                    f"ALTER TABLE {table} MODIFY SETTING fsync_after_insert = 0, "
                    "fsync_part_directory = 0"
                )
        cols = (
            "project, event_id, session_id, parent_id, event_type, event_name, source, "
            "start_time, end_time, duration, config, inputs, outputs, metadata, user_properties, "
            "arrival, version"
        )
        sql = f"INSERT INTO events ({cols}) FORMAT JSONCompactEachRow"
        settings = {"input_format_json_read_objects_as_strings": 1}

        def insert(events: list[dict[str, Any]], first: int) -> None:
            for i in range(0, len(events), size):
                lines = [
                    encode(
                        [
                            1,
                            e["event_id"],
                            e["session_id"],
                            e.get("parent_id"),
                            e["event_type"],
                            e["event_name"],
                            e["source"],
                            e["start_time"],
                            e["start_time"] + int(e["duration"]),
                            e["duration"],
                            e.get("config"),
                            e.get("inputs"),
                            e.get("outputs"),
                            e.get("metadata"),
                            e.get("user_properties"),
                            n,
                            (1 << 62) - n,
                        ]
                    )
                    for n, e in enumerate(events[i : i + size], start=first + i)
                ]
                store.transport.execute(sql, (), b"\n".join(lines) + b"\n", settings)

        insert(live_chunk(0, WARM_EVENTS, seed + 99), 10**9)
        settle_merges(store, 60)  # as the server is idle before its run (paired_ingest)
        events = live_chunk(0, count, seed)
        cpu = time.process_time()
        start = time.perf_counter()
        insert(events, 1)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        store.close()
    return len(events) / elapsed, cpu / len(events) * 1e6


def reads(port: int, runs: int, session_ids: list[str]) -> dict[str, float]:
    base = f"http://127.0.0.1:{port}"
    week = {"$gte": NOW - 7 * DAY_MS, "$lte": NOW}
    month = json.dumps({"$gte": NOW - 30 * DAY_MS, "$lte": NOW})
    export = {
        "project": PROJECT,
        "filters": [
            {"field": "event_type", "operator": "is", "value": "model"},
            {"field": "metadata.cost", "operator": "greater than", "value": 0.0005},
        ],
        "dateRange": week,
        "limit": 100,
    }
    chart = {"project": PROJECT, "metric": "duration", "aggregation": "avg", "bucket": "day",
             "dateRange": month}  # fmt: skip
    calls = {
        "tree": lambda c, i: c.get(f"/v1/sessions/{session_ids[i]}", params={"project": PROJECT}),
        "export": lambda c, i: c.post("/events/export", json=export),
        "sessions": lambda c, i: c.get("/", params={"project": PROJECT}),
        "chart": lambda c, i: c.get("/v1/events/chart", params=chart),
        "search": lambda c, i: c.get(
            "/", params={"project": PROJECT, "q": "biblioteca", "range": "7d"}
        ),
    }
    out: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=300) as c:
        for name, call in calls.items():
            call(c, 0)  # warm
            times = []
            for i in range(runs):
                t = time.perf_counter()
                r = call(c, i % len(session_ids))
                times.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
            out[name] = statistics.median(times)
    return out


def disk_bytes(backend: str, db: str) -> int:
    if backend == "sqlite":
        return sum(p.stat().st_size for p in Path(db).parent.glob(Path(db).name + "*"))
    if backend == "postgres":
        import psycopg

        with psycopg.connect(db) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0
    from hivelog.store.clickhouse.connection import parse_rows
    from hivelog.store.clickhouse.transport import ChdbTransport

    engine = ChdbTransport(db.removeprefix("chdb:"))
    try:
        out = engine.execute(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active "
            "AND database = currentDatabase()"
        )
    finally:
        engine.close()
    return int(parse_rows(out)[0][0])


class Started(ServerProcess):
    """A ServerProcess given up to 3 minutes to start (the embedded engine loads a large
    library; a busy machine takes its time), whose reads may run 2 minutes: a read slower
    than the default limit (10 s) is a figure to report, not a reason to stop the run."""

    def __init__(self, db: str) -> None:
        try:
            super().__init__(db, ["--read-timeout-ms", "120000"])
        except RuntimeError:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                        return
                except httpx.HTTPError:
                    time.sleep(0.2)
            raise


def raw_baseline(backend: str, args: argparse.Namespace, db: str, seed: int) -> tuple[float, float]:
    """Rows/s of the raw baseline (and its CPU µs per row on chdb; NaN where not measured)."""
    if backend == "chdb":
        return raw_clickhouse(db, args.ingest_events, seed)
    sample = live_chunk(0, args.ingest_events, seed)
    if backend == "sqlite":
        return raw_sqlite(sample), float("nan")
    return raw_copy(sample, args.pg), float("nan")


def paired_ingest(
    backend: str, args: argparse.Namespace, raw_db: str, serve: Callable[[], Any]
) -> dict[str, float]:
    """`--ingest-runs` pairs of (raw baseline, ingest through a server from `serve()`, a
    context manager) taken in turn, each pair with new events: the medians of each and of
    the pairs' ratios. On a shared machine one pair's figures move by ±30% with what else
    runs (and, on chdb, with the merges in flight); pairs taken seconds apart share that
    moment, so their ratio is steadier."""
    raws, rates, cpus, raw_cpus, ratios = [], [], [], [], []
    for run in range(args.ingest_runs):
        seed = args.seed + run
        raw, raw_cpu = raw_baseline(backend, args, raw_db, seed)
        with serve() as server:
            rate, cpu = ingest(server, args.ingest_events, seed)
        raws.append(raw)
        raw_cpus.append(raw_cpu)
        rates.append(rate)
        cpus.append(cpu)
        ratios.append(rate / raw)
        print(
            f"  run {run + 1}: ingest {rate:,.0f}/s ({cpu:.0f} µs CPU), raw {raw:,.0f}/s, "
            f"ratio {rate / raw:.2f}",
            file=sys.stderr,
        )
    median = statistics.median
    return {
        "ingest": median(rates),
        "ingest_cpu": median(cpus),
        "raw": median(raws),
        "raw_cpu": median(raw_cpus),
        "ratio": median(ratios),
    }


def warmed(server: ServerProcess, seed: int) -> ServerProcess:
    """`server` after WARM_EVENTS untimed (its engine's first queries) and their merges."""
    ingest(server, WARM_EVENTS, seed + 99)
    wait_idle(server.cpu_seconds)
    return server


@contextlib.contextmanager
def server_on_copy(base: str, seed: int) -> Iterator[ServerProcess]:
    """A warmed server on a new copy of the chdb database `base`: each run's server starts
    from the database its raw baseline copies, with the same parts to merge with (one
    server kept across runs would carry every earlier run's parts and merges)."""
    path = tempfile.mkdtemp(prefix="hivelog-serve-")
    server = Started(copy_chdb(base, f"{path}/ch"))
    try:
        yield warmed(server, seed)
    finally:
        server.close()
        shutil.rmtree(path)


@contextlib.contextmanager
def kept_server(server: ServerProcess) -> Iterator[ServerProcess]:
    """`server` for one more run, then idle again (SQLite's search index catches up after
    each run): its work must not run under the next raw baseline."""
    yield server
    wait_idle(server.cpu_seconds)


def run_backend(backend: str, args: argparse.Namespace, cache: Path) -> dict[str, float]:
    print(f"{backend}:", file=sys.stderr)
    extra: dict[str, float] = {}
    tmp = tempfile.TemporaryDirectory(prefix="hivelog-backends-")
    drop = None
    if backend == "sqlite":
        db = f"{tmp.name}/bench.db"
    elif backend == "postgres":
        db, drop = pg_database(args.pg)
    else:
        db = f"chdb:{tmp.name}/ch"
    try:
        began = time.perf_counter()
        extra["prefill"] = prefill(db, args.events, args.seed, cache, args.index_seconds)
        print(f"  prefilled in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        stored = args.events
        if backend == "chdb":
            # Each run's raw INSERTs and server start from a copy of the prefilled database.
            extra["raw_no_fsync"], _ = raw_clickhouse(db, args.ingest_events, args.seed, False)
            extra["raw_fsync"], _ = raw_clickhouse(db, args.ingest_events, args.seed)
            extra.update(paired_ingest(backend, args, db, lambda: server_on_copy(db, args.seed)))
        server = Started(db)
        try:
            if backend != "chdb":  # one server for every run, on the prefilled database
                warmed(server, args.seed)
                extra.update(paired_ingest(backend, args, db, lambda: kept_server(server)))
                stored += WARM_EVENTS + args.ingest_events * args.ingest_runs
            ids = [e["session_id"] for e in make_chunk(0, 10 * args.runs, args.events, args.seed)]
            timings = reads(server.port, args.runs, ids[::10])
        finally:
            server.close()
        disk = disk_bytes(backend, db)
    finally:
        if drop is not None:
            drop()
        tmp.cleanup()
    return {"disk_per_event": disk / stored, **timings, **extra}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--ingest-events", type=int, default=50_000)
    ap.add_argument("--index-seconds", type=float, default=300)
    ap.add_argument("--runs", type=int, default=5, help="runs of each read (median)")
    ap.add_argument(
        "--ingest-runs", type=int, default=3, help="pairs of raw baseline and ingest (median)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--only", default="sqlite,postgres,chdb")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hivelog-prefill-") as cache:
        results = {b: run_backend(b, args, Path(cache)) for b in args.only.split(",")}
    print(
        f"\n{args.events:,} events stored, then {args.ingest_events:,} ingested in each of "
        f"{args.ingest_runs} runs (after {WARM_EVENTS:,} untimed); reads median "
        f"of {args.runs} (ms); load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n"
    )
    names = list(results)
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    rows = [
        ("prefill (in process), events/s", "prefill", "{:,.0f}"),
        ("ingest, events/s", "ingest", "{:,.0f}"),
        ("ingest, server CPU µs/event", "ingest_cpu", "{:,.0f}"),
        ("raw INSERT/COPY, rows/s", "raw", "{:,.0f}"),
        ("session tree, ms", "tree", "{:.1f}"),
        ("export page (7 days, filtered), ms", "export", "{:.1f}"),
        ("sessions page, ms", "sessions", "{:.1f}"),
        ("30-day chart, ms", "chart", "{:.1f}"),
        ("search (7 days), ms", "search", "{:.1f}"),
        ("disk per event, bytes", "disk_per_event", "{:,.0f}"),
    ]
    for label, key, fmt in rows:
        print(f"| {label} | " + " | ".join(fmt.format(results[b][key]) for b in names) + " |")
    ratios = " | ".join(f"{results[b]['ratio']:.2f}" for b in names)
    print(f"| ingest / raw (median of the runs' ratios) | {ratios} |")
    if "chdb" in results and "postgres" in results:
        ch, pg = results["chdb"], results["postgres"]
        print(
            f"\nchdb vs PostgreSQL: 30-day chart {ch['chart'] / pg['chart']:.2f}x, "
            f"disk per event {ch['disk_per_event'] / pg['disk_per_event']:.2f}x"
        )
    if "chdb" in results:
        ch = results["chdb"]
        print(
            f"ClickHouse raw INSERT with fsync {ch['raw_fsync']:,.0f} rows/s, without "
            f"{ch['raw_no_fsync']:,.0f} ({ch['raw_fsync'] / ch['raw_no_fsync'] - 1:+.0%}); CPU per "
            f"event: ingest {ch['ingest_cpu']:.0f} µs (server), raw {ch['raw_cpu']:.0f} µs "
            f"(CPU ratio raw / ingest {ch['raw_cpu'] / ch['ingest_cpu']:.2f})"
        )


if __name__ == "__main__":
    main()
