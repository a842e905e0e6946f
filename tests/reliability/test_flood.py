"""A flood: more large bodies than the disk can commit. The server answers 503 + Retry-After
instead of buffering without limit, its memory stays under a bound, and it recovers by itself."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx

from tests.conftest import Server
from tests.reliability.load import rest_batch

QUEUE_BYTES = 2 * 1024 * 1024  # two 1 MB requests waiting: a small disk budget
FLOOD_S = (8, 30)  # the flood lasts at least this long, and until the queue has been full once
RSS_BOUND_MB = 300  # the design target for server memory under load


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_flood_of_large_bodies_is_refused_with_503_and_memory_stays_bounded(
    fresh_database: str,
) -> None:
    srv = Server(fresh_database, ["--queue-bytes", str(QUEUE_BYTES), "--queue-events", "20000"])
    srv.start()
    assert srv.proc is not None
    pid = srv.proc.pid
    project = f"flood-{uuid.uuid4().hex[:8]}"
    body = json.dumps(rest_batch(project, 100, "x" * 10_000).json).encode()  # ~1 MB
    stop = threading.Event()
    statuses: dict[int, int] = {}
    retry_after: set[str] = set()
    lock = threading.Lock()
    peak = [rss_mb(pid)]

    def sender() -> None:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            while not stop.is_set():
                r = c.post(f"/events/batch?project={project}", content=body)
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 503:
                        retry_after.add(r.headers.get("retry-after", ""))

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(12)]
    for t in threads:
        t.start()
    # A fast disk may keep up with twelve clients for a while: the flood goes on (bounded)
    # until the queue has been found full, whatever the machine.
    began = time.monotonic()
    while time.monotonic() - began < FLOOD_S[1]:
        peak.append(rss_mb(pid))
        with lock:
            refused = statuses.get(503, 0)
        if refused and time.monotonic() - began >= FLOOD_S[0]:
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    # recovers by itself: a normal request succeeds soon after the flood stops
    recovered_after = None
    began = time.monotonic()
    with srv.client() as c:
        while time.monotonic() - began < 10:
            r = c.post(f"/events/batch?project={project}", json=rest_batch(project, 5).json)
            if r.status_code == 200:
                recovered_after = time.monotonic() - began
                break
            time.sleep(0.1)
    srv.stop()
    print(
        f"\nflood: statuses {statuses}, Retry-After {retry_after}, peak RSS {max(peak):.0f} MB "
        f"(bound {RSS_BOUND_MB}), recovered after {recovered_after}"
    )
    assert statuses.get(503, 0) > 0, f"the flood never filled the queue: {statuses}"
    assert statuses.get(200, 0) > 0
    assert set(statuses) <= {200, 503}, statuses
    assert retry_after and all(v.isdigit() and int(v) >= 1 for v in retry_after)
    assert max(peak) < RSS_BOUND_MB
    assert recovered_after is not None
