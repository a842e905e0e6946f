"""Session-tree benchmark: GET /v1/sessions/{id} of a 10,000-event session, against a
baseline of the same server answering an export of one event (the route's fixed cost).

    .venv/bin/python bench/tree.py [--events 10000] [--runs 15] [--prefill 0]

The session is a realistic shape: chains of model and tool calls three levels deep, ~2 KB per
event with mixed-language text. --prefill stores that many other events first (other sessions),
so the tree is read from a table that is not only this session. Target: ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import batch_requests, make_events, prefill
from loadgen import ServerProcess


def session_events(n: int, session_id: str) -> list[dict[str, object]]:
    """`n` events under one session: a chain per 10 events holding 3 models and 6 tools."""
    base = make_events(n, seed=7)
    out: list[dict[str, object]] = []
    chain = session_id
    for i, e in enumerate(base):
        e["session_id"] = session_id
        if i % 10 == 0:
            e["event_type"], chain = "chain", str(e["event_id"])
            e["parent_id"] = session_id
        else:
            e["parent_id"] = chain
        out.append(e)
    return out


def timed(client: httpx.Client, url: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--prefill", type=int, default=0)
    args = parser.parse_args()

    server = ServerProcess()
    try:
        if args.prefill:
            prefill(server, args.prefill)
        sid = str(uuid.uuid4())
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120) as c:
            c.post("/session/start", json={"session": {"project": "bench", "session_id": sid}})
            for req in batch_requests(session_events(args.events, sid)):
                body = req.split(b"\r\n\r\n", 1)[1]
                c.post("/events/batch", content=body).raise_for_status()
            tree = c.get(f"/v1/sessions/{sid}?project=bench").json()
            assert tree["metadata"]["num_events"] == args.events, tree["metadata"]
            one = json.dumps([{"field": "session_id", "operator": "is", "value": sid}])
            base = timed(c, f"/events?project=bench&limit=1&filters={one}", args.runs)
            full = timed(c, f"/v1/sessions/{sid}?project=bench", args.runs)
    finally:
        server.close()

    def row(label: str, times: list[float]) -> str:
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return f"{label:<46}{statistics.median(times):>10.1f}{p95:>10.1f}"

    print(
        f"\nhivelog session tree, SQLite, {args.events:,}-event session, prefill {args.prefill:,}, "
        f"{args.runs} runs"
    )
    print(f"{'request':<46}{'median ms':>10}{'p95 ms':>10}")
    print(row("baseline: GET /events, one event of it", base))
    print(row(f"GET /v1/sessions/{{id}}: {args.events:,} events nested", full))
    print(
        f"ratio to baseline: {statistics.median(full) / statistics.median(base):.1f}×; "
        "target ≤ 300 ms"
    )


if __name__ == "__main__":
    main()
