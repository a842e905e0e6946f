"""A load generator for failure tests: threads posting REST batches and OTLP protobuf spans as
fast as the server takes them, recording exactly which events got a 2xx.

A request that gets no answer (the server was killed) is kept and sent again later with the
same ids, as a real client's retry would: the ids then count as acknowledged when a resend is.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
import uuid
from typing import Any

import httpx

from tests.otlp.otlp_helpers import PROTOBUF, event_id, new_span, new_trace, pb_request, pb_span


@dataclasses.dataclass
class Request:
    path: str
    ids: list[str]
    json: dict[str, Any] | None = None
    content: bytes | None = None


@dataclasses.dataclass
class Tally:
    acked: set[str] = dataclasses.field(default_factory=set)
    requests_acked: int = 0
    refused_503: int = 0
    failed: int = 0  # no answer: connection refused, reset, or cut mid-request
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


def rest_batch(project: str, n: int, text: str = "") -> Request:
    session = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(n)]
    events = [
        {
            "event_id": i,
            "session_id": session,
            "event_type": random.choice(("model", "tool", "chain")),
            "event_name": "load",
            "inputs": {"q": text or f"question {k} — вопрос — 質問"},
            "outputs": {"a": "answer " * 20},
            "metadata": {"k": k},
        }
        for k, i in enumerate(ids)
    ]
    return Request(f"/events/batch?project={project}", ids, json={"events": events})


def otlp_batch(project: str, n: int) -> Request:
    trace = new_trace()
    spans = [new_span() for _ in range(n)]
    body = pb_request(
        [
            pb_span(trace, s, "span", {"gen_ai.system": "openai"}, parent=spans[0] if k else "")
            for k, s in enumerate(spans)
        ]
    )
    return Request(
        f"/opentelemetry/v1/traces?project={project}",
        [event_id(trace, s) for s in spans],
        content=body,
    )


class Load:
    """`threads` senders alternating REST batches and OTLP requests until `stop()`."""

    def __init__(self, url: str, project: str, threads: int = 3, per_request: int = 50) -> None:
        self.url = url
        self.project = project
        self.per_request = per_request
        self.tally = Tally()
        self._stop = threading.Event()
        self._retry: list[Request] = []
        self._threads = [
            threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(threads)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def drain(self, url: str, deadline_s: float = 60) -> None:
        """Resend every unanswered request until each is answered (the server is up)."""
        deadline = time.monotonic() + deadline_s
        with httpx.Client(base_url=url, timeout=30) as c:
            while self._retry and time.monotonic() < deadline:
                req = self._retry.pop()
                if not self._send(c, req):
                    self._retry.append(req)
                    time.sleep(0.05)
        assert not self._retry, f"{len(self._retry)} requests never answered"

    def _send(self, c: httpx.Client, req: Request) -> bool:
        """True once the request got an answer (2xx counted as acked; 503 retried)."""
        try:
            headers = PROTOBUF if req.content is not None else None
            r = c.post(req.path, json=req.json, content=req.content, headers=headers)
        except httpx.HTTPError:
            with self.tally.lock:
                self.tally.failed += 1
            return False
        if r.status_code == 503:
            with self.tally.lock:
                self.tally.refused_503 += 1
            return False
        assert 200 <= r.status_code < 300, (r.status_code, r.text[:300])
        with self.tally.lock:
            self.tally.acked.update(req.ids)
            self.tally.requests_acked += 1
        return True

    def _run(self, k: int) -> None:
        c = httpx.Client(base_url=self.url, timeout=30)
        n = 0
        try:
            while not self._stop.is_set():
                n += 1
                if (n + k) % 3 == 0:
                    req = otlp_batch(self.project, self.per_request)
                else:
                    req = rest_batch(self.project, self.per_request)
                if not self._send(c, req):
                    with self.tally.lock:
                        self._retry.append(req)
                    c.close()
                    c = httpx.Client(base_url=self.url, timeout=30)
                    time.sleep(0.02)
        finally:
            c.close()


def stored_ids(c: httpx.Client, project: str) -> list[str]:
    """Every event id of `project`, read back over the API (duplicates kept, to be counted)."""
    out: list[str] = []
    page = 1
    while True:
        r = c.post(
            "/events/export",
            json={"project": project, "projections": ["event_id"], "limit": 7500, "page": page},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(e["event_id"] for e in body["events"])
        if len(out) >= body["totalEvents"] or not body["events"]:
            return out
        page += 1


def kills() -> int:
    """Crashes per kill test: 10 in `make test`, more with HIVELOG_KILLS (make fuzz)."""
    return int(os.environ.get("HIVELOG_KILLS", "10"))
