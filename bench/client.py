"""Python client benchmark: the tracer's cost in the app's thread, and events/s end to end.

    .venv/bin/python bench/client.py [--calls 20000] [--events 50000] [--runs 3]

Scenarios, each against a real `hivelog serve` on a fresh SQLite database:
  overhead   one call of a small function, timed call by call in the app's thread:
             untraced (the baseline) and `@trace`d with a BatchLogger whose background
             thread is sending to the server meanwhile. Overhead = traced − untraced medians.
             Target: ≤ 20 µs.
  e2e        events/s from the first `log_tool` to `close()` returning (everything stored),
             against the baseline of the same events pre-encoded and POSTed by plain
             http.client in batches of 100 (the server's own ceiling on one connection).
Figures are medians of --runs runs, with the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from hivelog_client import BatchLogger, configure, trace

TEXT = "Where is my order? ¿Dónde está mi pedido? 注文はどこですか"


class Server:
    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="hivelog-bench-client-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        hivelog = str(Path(sys.executable).parent / "hivelog")
        db = str(Path(self.tmp.name) / "bench.db")
        self.proc = subprocess.Popen(
            [hivelog, "serve", "--port", str(self.port), "--db", db, "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hivelog did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, project: str) -> int:
        body = json.dumps({"project": project, "filters": [], "limit": 1}).encode()
        req = urllib.request.Request(
            self.url + "/events/export", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return int(json.load(r)["totalEvents"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.tmp.cleanup()


def per_call_ns(fn: Any, calls: int) -> float:
    """Median wall time of one call, each call timed on its own."""
    clock = time.perf_counter_ns
    samples = []
    for i in range(calls):
        t0 = clock()
        fn(i, TEXT)
        samples.append(clock() - t0)
    return float(statistics.median(samples))


def overhead_run(server: Server, calls: int) -> tuple[float, float]:
    def answer(i: int, question: str) -> dict[str, Any]:
        return {"i": i, "answer": question[:10]}

    traced = trace(event_type="tool")(answer)
    project = f"bench-{uuid.uuid4().hex[:8]}"
    logger = BatchLogger(server.url, project=project, max_buffer=calls * 2)
    configure(logger)
    with logger.session("overhead"):
        per_call_ns(answer, 2000)  # warm-up
        per_call_ns(traced, 2000)
        base = per_call_ns(answer, calls)
        with_trace = per_call_ns(traced, calls)
    logger.close(timeout=120)
    configure(None)
    stats = logger.stats()
    assert stats["dropped_full"] == stats["dropped_failed"] == 0, stats
    return base, with_trace


def e2e_run(server: Server, events: int) -> tuple[float, float]:
    # Baseline: the same events, pre-encoded, POSTed in batches of 100 on one connection.
    project = f"raw-{uuid.uuid4().hex[:8]}"
    sid = str(uuid.uuid4())
    items = [
        {"event_id": str(uuid.uuid4()), "session_id": sid, "event_type": "tool",
         "event_name": "search", "source": "bench", "inputs": {"q": TEXT, "i": i},
         "start_time": int(time.time() * 1000)}
        for i in range(events)
    ]  # fmt: skip
    bodies = [
        json.dumps(
            {"events": items[s : s + 100], "is_single_session": False, "project": project},
            ensure_ascii=False,
        ).encode()
        for s in range(0, events, 100)
    ]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    t0 = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/events/batch", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    raw = events / (time.perf_counter() - t0)
    conn.close()
    assert server.count(project) == events + 1  # and the session they name

    project = f"client-{uuid.uuid4().hex[:8]}"
    logger = BatchLogger(server.url, project=project, max_buffer=events + 10)
    t0 = time.perf_counter()
    with logger.session("e2e"):
        for i in range(events - 1):
            logger.log_tool("search", inputs={"q": TEXT, "i": i})
    logger.close(timeout=300)
    client = events / (time.perf_counter() - t0)
    assert logger.stats()["sent"] == events, logger.stats()
    assert server.count(project) == events
    return raw, client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    server = Server()
    try:
        overhead = [overhead_run(server, args.calls) for _ in range(args.runs)]
        e2e = [e2e_run(server, args.events) for _ in range(args.runs)]
    finally:
        server.close()

    base = statistics.median(b for b, _ in overhead) / 1000
    traced = statistics.median(t for _, t in overhead) / 1000
    cost = statistics.median((t - b) / 1000 for b, t in overhead)
    raw = statistics.median(r for r, _ in e2e)
    client = statistics.median(c for _, c in e2e)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "runs": args.runs,
        "overhead_us": {"untraced": base, "traced": traced, "overhead": cost, "target": 20.0},
        "e2e_events_per_s": {
            "raw_http_batches": raw,
            "batch_logger": client,
            "ratio": client / raw,
        },
        "per_run": {"overhead_ns": overhead, "e2e": e2e},
    }
    print(f"traced call, app thread: {traced:.2f} µs vs untraced {base:.2f} µs "
          f"→ overhead {cost:.2f} µs (target ≤ 20 µs), medians of {args.runs} runs")  # fmt: skip
    print(f"end to end: BatchLogger {client:,.0f} events/s vs raw HTTP batches "
          f"{raw:,.0f} events/s → ratio {client / raw:.2f}")  # fmt: skip
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "client.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
