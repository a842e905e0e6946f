"""UI benchmark: first render of the sessions page over 1 M events and of a 10,000-event
session, server time and total browser load, with baselines measured in the same run.

    .venv/bin/python bench/ui.py [--events 1000000] [--runs 15] [--db /tmp/hivelog-bench-ui.db]
                                 [--download 100000] [--compare-src DIR]

The database is built once through `SqliteStore.write` (the writer's own path, without HTTP):
sessions of 20 events (a chain, model calls with chat history in several languages, tools,
some errors) over 30 days, plus one session of 10,000 events; it is kept and reused while it
holds the asked-for number of events. The search index is marked caught-up without being
filled, so the writer's background indexing does not compete with the measured reads (search
is not measured here).

Measured, medians (and p95) of --runs runs on a running `hivelog serve`:
  baseline  GET /healthz round trip; raw SQL (sqlite3, same file): newest 50 sessions, and a
            count of the project's events
  server    full HTML of: the sessions page; the sessions page filtered (source, a metadata
            field, 7 days); the 10,000-event session page; GET /v1/events/chart p95 latency
            per day over 30 days
  browser   Chromium (/usr/bin/chromium): navigation start until the page is usable: the
            sessions table drawn, or the session tree and timeline built and the first event's
            detail shown
  download  the events page's JSONL download of the newest --download events (100,000),
            streamed: time to the last byte, and the server's RSS before and at its peak
            during the download (memory stays flat); baseline: the same rows by raw SQL

With --compare-src DIR (the `src` directory of another checkout, e.g. `git archive main src`
unpacked), a second server runs that code on the same database and every server case is
timed on both, run by run in turn, so the ratio holds on a busy machine where absolute
figures do not. The load average (1, 5, 15 min) at the start and the end goes in the results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import ServerProcess  # noqa: E402

from hivelog.event import Event  # noqa: E402
from hivelog.store.base import WriteEvents  # noqa: E402
from hivelog.store.sqlite import SqliteStore  # noqa: E402

PROJECT = "bench"
DAY = 86_400_000
TEXTS = (
    "Where is my order? It was supposed to arrive yesterday.",
    "東京の天気は晴れです。明日の予定を確認してください。",
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "模型返回了一个很长的答案，其中包含许多细节和引用。",
    "¿Dónde está la biblioteca? Necesito un libro sobre modelos de lenguaje.",
)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _session(rng: random.Random, t0: int, n: int, name: str) -> list[Event]:
    """A session event and n - 1 events under chains of up to 10."""
    sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    events = [
        Event(
            event_id=sid, session_id=sid, parent_id=None, event_type="session", event_name=name,
            source=rng.choice(("production", "staging")), start_time=t0, end_time=t0 + n * 40,
            duration=float(n * 40), user_properties={"user_id": f"user-{rng.randrange(500)}"},
            metadata={"channel": rng.choice(("web", "app", "api"))},
            inputs={"question": rng.choice(TEXTS)},
        )
    ]  # fmt: skip
    chain = sid
    for k in range(n - 1):
        eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        start = t0 + 5 + k * 40
        if k % 10 == 0:
            chain = eid
            events.append(
                Event(
                    event_id=eid, session_id=sid, parent_id=sid, event_type="chain",
                    event_name="answer", start_time=start, end_time=start + 380, duration=380.0,
                )
            )  # fmt: skip
            continue
        model = k % 2 == 1
        text = rng.choice(TEXTS)
        events.append(
            Event(
                event_id=eid, session_id=sid, parent_id=chain,
                event_type="model" if model else "tool",
                event_name="chat" if model else "search", start_time=start,
                end_time=start + 30, duration=float(rng.randrange(5, 3000) if model else 30),
                error="upstream timed out" if rng.random() < 0.02 else None,
                config={"model": rng.choice(MODELS), "provider": "openai"} if model else {},
                inputs={"chat_history": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": text + " " + rng.choice(TEXTS)},
                ]} if model else {"query": text},
                outputs={"role": "assistant", "content": rng.choice(TEXTS)} if model
                else {"results": [text]},
                metadata={"prompt_tokens": rng.randrange(50, 900), "completion_tokens":
                          rng.randrange(10, 300), "cost": 0.0004} if model else {},
            )
        )  # fmt: skip
    return events


def build(db: str, total: int, big: int) -> str:
    """The benchmark database; returns the id of the big session."""
    path = Path(db)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("events") == total and info.get("big") == big:
            print(f"reusing {db} ({total:,} events)", flush=True)
            return str(info["big_session"])
    for suffix in ("", "-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)
    rng = random.Random(8)
    store = SqliteStore(db)
    store.open()
    now = int(time.time() * 1000)
    started = time.perf_counter()
    big_events = _session(rng, now - 3 * 3_600_000, big, f"big session ({big} events)")
    big_id = big_events[0].session_id
    written = 0
    batch: list[Event] = []
    for e in big_events:
        batch.append(e)
    sessions = (total - big) // 20
    for i in range(sessions):
        t0 = now - 30 * DAY + int(i * (30 * DAY) / sessions)
        batch.extend(_session(rng, t0, 20, f"support chat {i}"))
        if len(batch) >= 5000:
            store.write([WriteEvents(PROJECT, events=batch)])
            written += len(batch)
            batch = []
            if written % 100_000 < 5000:
                rate = written / (time.perf_counter() - started)
                print(f"  {written:,} events written ({rate:,.0f}/s)", flush=True)
    if batch:
        store.write([WriteEvents(PROJECT, events=batch)])
    conn = store._conn_w()
    # Search is not measured here: mark the index caught up so no background indexing runs.
    conn.execute("UPDATE search_state SET indexed_seq = (SELECT max(seq) FROM events)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    store.close()
    meta.write_text(json.dumps({"events": total, "big": big, "big_session": big_id}))
    print(f"built {db}: {count:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return big_id


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm-up: caches, connections, template compilation
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(values), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


def cpu_ms(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed_pair(
    a: Callable[[], Any], b: Callable[[], Any], pids: tuple[int, int], runs: int
) -> tuple[list[float], list[float], list[float]]:
    """`a` and `b` timed in turn, run by run, the first of the pair alternating (ABBA): both
    see the same moments of a noisy machine. Returns the times of each and, per server, its
    CPU ms per request over all runs (CPU time is what load inflates least)."""
    a()
    b()
    times: tuple[list[float], list[float]] = ([], [])
    cpu = [0.0, 0.0]
    for run in range(runs):
        order = (0, 1) if run % 2 == 0 else (1, 0)
        for k in order:
            fn = (a, b)[k]
            c0, t = cpu_ms(pids[k]), time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t) * 1000)
            cpu[k] += cpu_ms(pids[k]) - c0
    return times[0], times[1], [round(cpu[0] / runs, 1), round(cpu[1] / runs, 1)]


def serve(db: str, src: str | None = None) -> ServerProcess:
    """`hivelog serve` on `db`, running the code in `src` when given."""
    if src is None:
        return ServerProcess(db=db)
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(Path(src).resolve())
    try:
        return ServerProcess(db=db)
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def settle(pid: int, limit_s: float = 60.0) -> None:
    """Until the server is idle (under 10% of a core over half a second; at most `limit_s`):
    start-up work (migrations' upkeep, caches) must not land in the first measured case."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before, started = cpu_ms(pid), time.monotonic()
        time.sleep(0.5)
        if cpu_ms(pid) - before < 0.1 * (time.monotonic() - started) * 1000:
            return


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000, help="events in the big session")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--db", default="/tmp/hivelog-bench-ui.db")
    ap.add_argument("--download", type=int, default=100_000, help="events in the download")
    ap.add_argument("--compare-src", help="also time the server cases on this code (a src dir)")
    ap.add_argument("--server-only", action="store_true", help="skip the browser and download")
    args = ap.parse_args()
    big_id = build(args.db, args.events, args.big)
    load_start = load()
    print(f"load average at start: {load_start}", flush=True)
    server = serve(args.db)
    other = serve(args.db, args.compare_src) if args.compare_src else None
    for srv in (server, other):
        if srv is not None:
            settle(srv.pid)
    base = f"http://127.0.0.1:{server.port}"
    results: dict[str, dict[str, float]] = {}
    try:
        raw = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
        # the page of the sessions list that holds the big session (its row's numbers and
        # previews read all its 10,000 events)
        (newer,) = raw.execute(
            "SELECT count(*) FROM events WHERE project = 1 AND event_type = 'session' "
            "AND start_time > (SELECT start_time FROM events WHERE event_id = ?)",
            (big_id,),
        ).fetchone()
        big_page = newer // 50 + 1
        clients = [httpx.Client(base_url=base, timeout=60)]
        if other is not None:
            clients.append(httpx.Client(base_url=f"http://127.0.0.1:{other.port}", timeout=60))
        c = clients[0]

        def get(path: str, client: httpx.Client = c) -> Callable[[], None]:
            def go() -> None:
                r = client.get(path)
                r.raise_for_status()

            return go

        baselines: dict[str, Callable[[], Any]] = {
            "baseline: GET /healthz": get("/healthz"),
            "baseline: raw SQL newest 50 sessions": lambda: raw.execute(
                "SELECT * FROM events WHERE project = 1 AND event_type = 'session' "
                "ORDER BY start_time DESC LIMIT 50"
            ).fetchall(),
            "baseline: raw SQL count(*) of events": lambda: raw.execute(
                "SELECT count(*) FROM events WHERE project = 1"
            ).fetchall(),
        }
        pages: dict[str, str] = {
            "server: sessions page": f"/?project={PROJECT}",
            "server: sessions page, filtered": f"/?project={PROJECT}&range=7d&f=source&op=is"
            "&v=production&f=metadata.channel&op=is&v=web",
            "server: sessions page, filtered on any event": f"/?project={PROJECT}&range=24h"
            "&match=event&f=config.model&op=is&v=gpt-4o",
            "server: sessions page 100": f"/?project={PROJECT}&page=100",
            f"server: sessions page holding the {args.big:,}-event session": (
                f"/?project={PROJECT}&page={big_page}"
            ),
            f"server: {args.big:,}-event session page": f"/ui/sessions/{big_id}?project={PROJECT}",
            "server: chart p95 latency per day, 30 days": f"/v1/events/chart?project={PROJECT}"
            '&aggregation=p95&bucket=day&dateRange={"relative":"30d"}',
        }
        for name, fn in baselines.items():
            results[name] = summary(timed(fn, args.runs))
            print(f"{name:58s} {results[name]}", flush=True)
        for name, path in pages.items():
            if other is None:
                results[name] = summary(timed(get(path), args.runs))
                print(f"{name:58s} {results[name]}", flush=True)
                continue
            mine, theirs, cpu = timed_pair(
                get(path), get(path, clients[1]), (server.pid, other.pid), args.runs
            )
            results[name] = {**summary(mine), "cpu_ms": cpu[0]}
            results[f"{name} [{args.compare_src}]"] = {**summary(theirs), "cpu_ms": cpu[1]}
            ratio = statistics.median(mine) / statistics.median(theirs)
            results[name]["ratio_to_compared"] = round(ratio, 2)
            results[name]["cpu_ratio_to_compared"] = round(cpu[0] / max(cpu[1], 0.1), 2)
            print(f"{name:58s} {results[name]}", flush=True)
            print(
                f"{'  compared: ' + args.compare_src:58s} {results[f'{name} [{args.compare_src}]']}"
            )
        for client in clients:
            client.close()
        if other is not None:
            other.close()
            other = None
        if not args.server_only:
            results.update(browser(base, big_id, args.big, args.runs))
        if args.download and not args.server_only:
            results.update(download(server, base, raw, args.download))
    finally:
        server.close()
        if other is not None:
            other.close()
    load_end = load()
    print(f"load average at end: {load_end}", flush=True)
    results["load average (1, 5, 15 min)"] = {"start": load_start, "end": load_end}  # type: ignore[dict-item]
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ui.json").write_text(json.dumps({"events": args.events, "results": results}, indent=2))
    print(f"\nresults in {out / 'ui.json'}")


def download(
    server: ServerProcess, base: str, raw: sqlite3.Connection, n: int
) -> dict[str, dict[str, float]]:
    """The events page's JSONL download of the newest `n` events (a custom range starting at
    the n-th newest event), streamed: time to the last byte, and the server's RSS sampled
    every 20 ms during it against its RSS before (flat memory: the rise does not grow with n).
    Baseline: the same rows read by raw SQL."""
    row = raw.execute(
        "SELECT start_time FROM events WHERE project = 1 ORDER BY start_time DESC LIMIT 1 OFFSET ?",
        (n - 1,),
    ).fetchone()
    since = row[0] if row else 0
    expected = raw.execute(
        "SELECT count(*) FROM events WHERE project = 1 AND start_time >= ?", (since,)
    ).fetchone()[0]
    url = f"{base}/ui/export/events.jsonl?project={PROJECT}&range=custom&from={since}"
    started = time.perf_counter()
    raw.execute(
        "SELECT * FROM events WHERE project = 1 AND start_time >= ? ORDER BY start_time DESC",
        (since,),
    ).fetchall()
    baseline_ms = (time.perf_counter() - started) * 1000
    before = server.rss_mb()
    peak = before
    lines = size = 0
    started = time.perf_counter()
    with httpx.stream("GET", url, timeout=600) as r:
        r.raise_for_status()
        last_sample = 0.0
        for chunk in r.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
            if time.perf_counter() - last_sample > 0.02:
                peak, last_sample = max(peak, server.rss_mb()), time.perf_counter()
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert lines == expected, f"downloaded {lines} events, expected {expected}"
    out = {
        f"baseline: raw SQL of the {expected:,} events": {"ms": round(baseline_ms, 1)},
        f"server: download of {expected:,} events (JSONL)": {
            "ms": round(elapsed_ms, 1),
            "mb": round(size / 1e6, 1),
            "events_per_s": round(expected / (elapsed_ms / 1000)),
            "rss_before_mb": round(before, 1),
            "rss_peak_mb": round(peak, 1),
        },
    }
    for name, value in out.items():
        print(f"{name:58s} {value}", flush=True)
    return out


def browser(base: str, big_id: str, big: int, runs: int) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    pages = {
        "browser: sessions page usable": (f"{base}/?project={PROJECT}", "table.sessions tbody tr"),
        f"browser: {big:,}-event session page usable": (
            f"{base}/ui/sessions/{big_id}?project={PROJECT}",
            "body[data-ready='1'] #detail .event",
        ),
    }
    out: dict[str, dict[str, float]] = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = b.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        for name, (url, ready) in pages.items():

            def load(url: str = url, ready: str = ready) -> None:
                page.goto(url, wait_until="commit")
                page.wait_for_selector(ready, timeout=30_000)

            out[name] = summary(timed(load, runs))
            print(f"{name:58s} {out[name]}", flush=True)
        b.close()
    return out


if __name__ == "__main__":
    main()
