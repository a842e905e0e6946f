"""Ingest benchmark: durable events/s through hivelog against raw SQLite, in the same run.

    .venv/bin/python bench/ingest.py [--events 30000] [--runs 3] [--prefill 0]

Scenarios (each on a fresh server and database, after an optional prefill):
  batch   POST /events/batch, 100 events of ~2 KB each, 8 connections
  single  POST /events, one ~2 KB event per request, 32 connections
  raw     the same rows inserted by sqlite3 directly into the same schema, WAL + synchronous=FULL,
          one transaction per 100 rows: the ceiling hivelog is measured against.
Events carry client UUIDv4 ids and mixed-language text (non-ASCII halves JSON parsers).
Figures are medians of --runs runs; ratios are against the raw baseline of the same run.
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
from loadgen import ServerProcess, median, request_bytes, run_load  # noqa: E402

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
        *({"role": rng.choice(["user", "assistant"]), "content": " ".join(rng.choices(TEXTS, k=2))} for _ in range(5)),
    ]
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "session_id": session_id,
        "event_type": rng.choice(["model", "tool", "chain"]),
        "event_name": rng.choice(["chat", "search", "rerank", "plan"]),
        "source": "bench",
        "config": {"model": "gpt-4o-mini", "provider": "openai", "hyperparameters": {"temperature": 0.2}},
        "inputs": {"chat_history": history},
        "outputs": {"role": "assistant", "content": rng.choice(TEXTS)},
        "metadata": {"prompt_tokens": rng.randint(10, 2000), "completion_tokens": rng.randint(10, 500), "cost": 0.001},
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
        request_bytes("POST", "/events/batch", json.dumps({"project": "bench", "events": events[i : i + size]}).encode())
        for i in range(0, len(events), size)
    ]


def single_requests(events: list[dict[str, Any]]) -> list[bytes]:
    return [request_bytes("POST", "/events", json.dumps({"event": {"project": "bench", **e}}).encode()) for e in events]


def raw_sqlite(events: list[dict[str, Any]], size: int = 100) -> float:
    """Events/s of plain sqlite3 inserts into hivelog's schema: the same durable ceiling."""
    from hivelog.store import migrations
    from hivelog.store.sqlite import _statements

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        for pragma in ("page_size = 16384", "journal_mode = WAL", "synchronous = FULL", "cache_size = -65536"):
            conn.execute(f"PRAGMA {pragma}")
        _, first = migrations.migrations()[0]
        for statement in _statements(migrations.sql_for(first, "sqlite")):
            conn.execute(statement)
        conn.execute("INSERT INTO projects VALUES (1, 'p', 'bench', 0)")
        cols = "project, event_id, session_id, parent_id, event_type, event_name, source, start_time, end_time, duration, config, inputs, outputs, metadata"
        sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' * 14)})"
        start = time.perf_counter()
        for i in range(0, len(events), size):
            rows = [
                (1, e["event_id"], e["session_id"], e["session_id"], e["event_type"], e["event_name"], e["source"],
                 e["start_time"], e["start_time"] + int(e["duration"]), e["duration"],
                 json.dumps(e["config"]), json.dumps(e["inputs"]), json.dumps(e["outputs"]), json.dumps(e["metadata"]))
                for e in events[i : i + size]
            ]
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    return len(events) / elapsed


def prefill(server: ServerProcess, n: int) -> None:
    for start in range(0, n, 20_000):
        reqs = batch_requests(make_events(min(20_000, n - start), seed=10_000 + start))
        result = run_load(server.port, reqs, 4)
        if result.errors:
            raise RuntimeError(f"prefill failed: {result.errors} errors")
        print(f"  prefilled {start + min(20_000, n - start):,} events", file=sys.stderr)


def measure(kind: str, events: list[dict[str, Any]], concurrency: int, prefill_n: int) -> dict[str, float]:
    reqs = batch_requests(events) if kind == "batch" else single_requests(events)
    server = ServerProcess()
    try:
        if prefill_n:
            prefill(server, prefill_n)
        result = run_load(server.port, reqs, concurrency)
        rss = server.rss_mb()
    finally:
        server.close()
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000, help="events per batch run (single runs use a third)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prefill", type=int, default=0, help="events stored before each measured run")
    args = parser.parse_args()

    rows: dict[str, list[dict[str, float]]] = {"raw": [], "batch": [], "single": []}
    for run in range(args.runs):  # interleaved, so drift on a shared machine hits every scenario
        events = make_events(args.events, seed=run)
        rows["raw"].append({"events_per_s": raw_sqlite(events)})
        rows["batch"].append(measure("batch", events, 8, args.prefill))
        rows["single"].append(measure("single", make_events(args.events // 3, seed=100 + run), 32, args.prefill))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    def med(kind: str, key: str) -> float:
        return median([r[key] for r in rows[kind]])

    raw = med("raw", "events_per_s")
    print(f"\nhivelog ingest, SQLite, {args.events:,} events/run, prefill {args.prefill:,}, median of {args.runs} runs")
    print(f"{'scenario':<34}{'events/s':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}{'vs raw':>8}")
    print(f"{'raw sqlite3, 100 rows/commit':<34}{raw:>10,.0f}{'':>9}{'':>9}{'':>9}{'':>8}{1.0:>8.2f}")
    for kind, label in (("batch", "POST /events/batch ×100, 8 conns"), ("single", "POST /events, 32 conns")):
        eps = med(kind, "events_per_s")
        print(
            f"{label:<34}{eps:>10,.0f}{med(kind, 'requests_per_s'):>9,.0f}{med(kind, 'p50_ms'):>9.1f}"
            f"{med(kind, 'p99_ms'):>9.1f}{med(kind, 'rss_mb'):>8.0f}{eps / raw:>8.2f}"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps({"args": vars(args), "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
