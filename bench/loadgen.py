"""A small keep-alive HTTP/1.1 load generator for the benchmarks (127.0.0.1 only).

Requests are encoded before the clock starts, so the generator spends its time on sockets,
not on JSON: on a 2-core machine the client shares the CPU with the server under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def request_bytes(
    method: str, path: str, body: bytes, content_type: str = "application/json"
) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def batch_requests(events: list[dict[str, Any]], project: str, size: int) -> list[bytes]:
    """`events` as `POST /events/batch` requests of `size` events each."""
    return [
        request_bytes(
            "POST",
            "/events/batch",
            json.dumps({"project": project, "events": events[k : k + size]}).encode(),
        )
        for k in range(0, len(events), size)
    ]


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _run(port: int, requests: Sequence[bytes], concurrency: int) -> RunResult:
    queue = list(reversed(requests))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                req = queue.pop()
                t0 = time.perf_counter()
                writer.write(req)
                status = await _read_response(reader)
                latencies.append((time.perf_counter() - t0) * 1000)
                if status >= 300:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return RunResult(len(requests), errors, time.perf_counter() - start, latencies)


def run_load(port: int, requests: Sequence[bytes], concurrency: int) -> RunResult:
    return asyncio.run(_run(port, requests, concurrency))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`hivelog serve` on a fresh database, for one benchmark."""

    def __init__(self, db: str | None = None, extra: Sequence[str] = ()) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="hivelog-bench-")
        self.db = db or str(Path(self.tmp.name) / "bench.db")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hivelog",
                "serve",
                "--port",
                str(self.port),
                "--db",
                self.db,
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("hivelog did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory now (VmRSS), or its peak so far (`field="VmHWM"`), of the server
        and the processes it started (the SQLite writer, conversion workers): a sum of each
        process's own, so for peaks an upper bound."""
        total = 0.0
        for pid in process_tree(self.proc.pid):
            total += _status_kb(pid, field) / 1024
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU the server and the processes it started have used so far.

        CPU per event is steadier than events/s on a machine shared with other work: it does
        not count the time the server waited for a core."""
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.proc.pid))

    def writer_cpu_seconds(self) -> float:
        """The part of `cpu_seconds` the SQLite writer process used (0 without one)."""
        return sum(process_cpu_seconds(pid) for pid in writer_processes(self.proc.pid))

    def stop(self) -> None:
        """Stop the server (SIGTERM: it finishes what is queued), keeping its database."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def close(self) -> None:
        self.stop()
        self.tmp.cleanup()


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (children of any of their threads)."""
    found = [pid]
    for p in found:
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                found.extend(int(c) for c in task.read_text().split())
            except OSError:  # the thread or process ended meanwhile
                continue
    return found


def writer_processes(pid: int) -> list[int]:
    """The SQLite writer processes in `pid`'s tree (`hivelog.ingest.writer_process`)."""
    found = []
    for p in process_tree(pid):
        try:
            if b"hivelog.ingest.writer_process" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.append(p)
        except OSError:  # it ended meanwhile
            continue
    return found


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, with what its ended children used; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_idle(cpu_seconds: Callable[[], float], share: float = 0.05, limit_s: float = 120) -> None:
    """Wait (at most `limit_s`) until a server (`cpu_seconds`: the CPU it has used so far) has
    used under `share` of a core for a whole second: what it did after the last answer (the
    search index, checkpoints, merges) must not run under the next timed run."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        began = cpu_seconds()
        time.sleep(1.0)
        if cpu_seconds() - began < share:
            return


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
