"""The group-commit writer: the only path by which anything is stored.

Requests put jobs on a bounded queue and await them. A writer thread takes whatever is
waiting (up to `max_batch` events), writes it in one transaction through `Store.write`, and
resolves every caller only after COMMIT: a 2xx always means durable. While it commits, the
next requests pile up, so the fsync cost is shared by many requests under load and a lone
request is not delayed. There are as many writer threads as the store can run transactions at
once (`Store.writers`): one on SQLite, which has one writer; on PostgreSQL a second thread
sends the next batch while the database works on the first. (On SQLite the server uses
`ingest.writer_process.ProcessWriter` instead, unless --writer-thread: the same group commit
in a process of its own.) A full queue (in events or in bytes) refuses with `Overloaded`:
memory stays bounded, and nothing is accepted that will not be stored.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from hivelog.errors import Overloaded
from hivelog.ingest.limits import Limits
from hivelog.store.base import Job, JobResult, Store, WriteEvents

log = logging.getLogger("hivelog.writer")

UPKEEP_AFTER_IDLE = 0.25  # seconds without a write before the store's upkeep may run freely
UPKEEP_SHARE = 0.1  # while writes keep coming, the upkeep's share of the writer's time
MIN_UPKEEP_COST = 0.005  # seconds: a slice that found nothing to do waits as if it took this

_Pending = tuple[Job, int, asyncio.Future[JobResult], asyncio.AbstractEventLoop]


class JobWriter(Protocol):
    """What requests store through: `Writer`, or on SQLite `writer_process.ProcessWriter`."""

    async def submit(self, job: Job, nbytes: int = 0) -> JobResult: ...

    def stats(self) -> dict[str, int]: ...

    async def aclose(self) -> None: ...


class WriteQueue:
    """A writer's queue bounds and what it holds, committed and refused (for /healthz): a full
    queue, in events or in bytes, refuses with `Overloaded`, so memory stays bounded and nothing
    is accepted that will not be stored; a job alone is always admitted. Not locked: the thread
    writer holds its lock around every call."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.jobs = 0
        self.events = 0
        self.bytes = 0
        self.committed_jobs = 0
        self.refused_jobs = 0

    def admit(self, size: int, nbytes: int) -> None:
        if self.jobs and (
            self.events + size > self.max_events or self.bytes + nbytes > self.max_bytes
        ):
            self.refused_jobs += 1
            raise Overloaded(
                f"write queue full ({self.events} events, {self.bytes} bytes waiting); "
                "retry shortly"
            )
        self.jobs += 1
        self.events += size
        self.bytes += nbytes

    def leave(self, size: int, nbytes: int) -> None:
        self.jobs -= 1
        self.events -= size
        self.bytes -= nbytes

    def stats(self) -> dict[str, int]:
        return {
            "committed_jobs": self.committed_jobs,
            "refused_jobs": self.refused_jobs,
            "queued_events": self.events,
            "queued_bytes": self.bytes,
            "max_events": self.max_events,
            "max_bytes": self.max_bytes,
        }


def check_limits(job: Job, nbytes: int, limits: Limits | None) -> None:
    """The per-request limits, which every transport's writes pass (`Limits.apply`); rows made
    before them (by a conversion worker with other limits) may be stale, and are dropped."""
    if limits is not None:
        limits.apply(job, nbytes)
    if isinstance(job, WriteEvents) and job.checked_by != limits:
        job.rows = None


class Upkeep:
    """When a writer runs the store's deferred work (`Store.background_work`: the search
    index): once writes have paused for a while, since a slice started in a momentary lull
    would delay the next write; and, while writes never pause, a bounded share of the
    writer's time, so they cannot starve it."""

    def __init__(self, work: Callable[[], bool]) -> None:
        self._work = work
        self.pending = True  # the store may have deferred work
        self._last_write = 0.0
        self._ended = 0.0
        self._cost = MIN_UPKEEP_COST

    def wrote(self) -> None:
        self.pending = True
        self._last_write = time.monotonic()

    def idle_wait(self) -> float | None:
        """Seconds to wait for writes before a slice may run (0: now); None: nothing to do."""
        if not self.pending:
            return None
        return max(UPKEEP_AFTER_IDLE - (time.monotonic() - self._last_write), 0.0)

    def due(self) -> bool:
        """Between writes: has the upkeep had less than its share lately?"""
        return time.monotonic() - self._ended >= self._cost / UPKEEP_SHARE

    def run(self) -> None:
        """One slice; its cost sets how long until the next is due."""
        started = time.monotonic()
        try:
            self.pending = bool(self._work())
        except Exception:  # upkeep must never stop the writer; it is retried after writes
            log.exception("background work of the store failed")
            self.pending = False
        self._ended = time.monotonic()
        self._cost = max(self._ended - started, MIN_UPKEEP_COST)


class Writer:
    def __init__(
        self,
        store: Store,
        *,
        max_events: int = 200_000,
        max_bytes: int = 256 * 1024 * 1024,
        max_batch: int = 5_000,
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self.max_batch = max_batch
        self._queue: collections.deque[_Pending] = collections.deque()
        self._cond = threading.Condition()
        self._counts = WriteQueue(max_events, max_bytes)
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._upkeep = Upkeep(self.store.background_work)

    def start(self) -> None:
        for n in range(max(self.store.writers, 1)):
            thread = threading.Thread(target=self._run, name=f"hivelog-writer-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Finish everything queued, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []

    async def aclose(self) -> None:
        self.stop()

    def stats(self) -> dict[str, int]:
        """What the writer accepted, refused and holds: for /healthz and operators."""
        with self._cond:
            return self._counts.stats()

    async def submit(self, job: Job, nbytes: int = 0) -> JobResult:
        """Store `job` durably; raises the job's own error, or Overloaded if the queue is full.

        Every transport's writes pass here, so the per-request limits are applied here first,
        and events are turned into rows here.
        """
        check_limits(job, nbytes, self.limits)
        if isinstance(job, WriteEvents):
            job.event_rows(self.store.encode_rows)  # after the limits; here, not in the writer
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JobResult] = loop.create_future()
        with self._cond:
            if self._stopping:
                raise Overloaded("server is shutting down", retry_after=5)
            self._counts.admit(job.size(), nbytes)
            self._queue.append((job, nbytes, future, loop))
            self._cond.notify()
        result = await future
        if result.error is not None:
            raise result.error
        return result

    def _take(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                wait = self._upkeep.idle_wait()
                if wait == 0:
                    return []
                self._cond.wait(wait)
            batch: list[_Pending] = []
            events = 0
            while self._queue and (
                not batch or events + self._queue[0][0].size() <= self.max_batch
            ):
                item = self._queue.popleft()
                batch.append(item)
                events += item[0].size()
                self._counts.leave(item[0].size(), item[1])
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if not batch:
                self._upkeep.run()
                continue
            try:
                results: list[Any] = list(self.store.write([item[0] for item in batch]))
                with self._cond:
                    self._counts.committed_jobs += len(batch)
                self._upkeep.wrote()
            except BaseException as exc:  # the whole transaction failed: every caller hears it
                log.exception("write of %d jobs failed", len(batch))
                results = [JobResult(error=exc)] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[JobResult], Any]]]
            by_loop = collections.defaultdict(list)
            for item, result in zip(batch, results, strict=True):
                by_loop[item[3]].append((item[2], result))
            for loop, pairs in by_loop.items():
                loop.call_soon_threadsafe(_resolve, pairs)
            if self._upkeep.due():
                self._upkeep.run()


def _resolve(pairs: list[tuple[asyncio.Future[JobResult], JobResult]]) -> None:
    for future, result in pairs:
        if not future.done():
            future.set_result(result)
