"""SQLite's group commit in a process of its own, fed and answered by the event loop.

Why: with the group commit in a thread of the server, the writer shares the GIL with the event
loop. The sqlite3 module lets go of the GIL for every statement, and winning it back from a
busy event loop costs up to a switch interval each time: a write of a dozen single-event
requests took 8.7 ms of wall time for 2.3 ms of CPU, so single events were bounded by those
hand-overs, not by the disk (docs/scaling.md, "Where the time goes"). A thread that only hands
groups to a process still has to win the GIL back for every answer (a 4.5 ms gap between
writes was measured). So no thread of the server waits for writes at all:

- `ProcessWriter.submit` (on the event loop) admits a job as `Writer.submit` does (the limits;
  a full queue, in events or bytes, refuses with `Overloaded`), encodes it (`frame_job`:
  msgpack, a pickle only for what msgpack cannot hold) and writes it to the writer process's
  socket, once per loop iteration for every job admitted in it, then waits
  for its answer. The loop reads the answers and resolves the callers, in order.
- The writer process (`serve`) takes every job waiting on its socket (up to `max_batch`
  events), makes the rows of those that came without (requests of a few events, whose long
  fields are then compressed together, off the event loop: `ROWS_HERE_FROM`), writes them in
  one transaction, and answers after COMMIT with one message for the group: a 2xx still means
  durable. Jobs that arrive during a write wait for the next one, which is what shares an
  fsync between requests. It runs the search index upkeep on the same schedule as the thread
  writer (`writer.Upkeep`).

Reads, API keys and the checkpointer stay in the server process (WAL lets them run beside the
writer process). The writer process ends when the server closes its end of the socket (or dies),
after the write in hand; it ignores SIGINT and SIGTERM, so a Ctrl-C or a stop signal sent to the
whole process group lets the server finish what it accepted. If it ends with jobs in it, their
callers get 503 `WriterEnded` (each may or may not be stored; resending is safe, an event is
stored once per event_id) and the next job starts a new process.

With `serve --workers N` the parent process runs one writer process for all workers
(`SharedWriter`): each worker's `ProcessWriter` connects to its Unix socket instead of starting
a process, the writer process takes jobs from every connection into the same groups and
answers each connection in its own order, and the parent replaces it if it dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hivelog.errors import HivelogError, Overloaded
from hivelog.event import Event
from hivelog.gc_tuning import tune_gc
from hivelog.ingest.frames import Frames, frame, frame_job, portable
from hivelog.ingest.limits import Limits
from hivelog.ingest.writer import Upkeep, WriteQueue, check_limits
from hivelog.store.base import Job, JobResult, Store, WriteEvents
from hivelog.store.sqlite.writes import sqlite_rows

log = logging.getLogger("hivelog.writer")

_STOP_WAIT_S = 60.0  # longest wait at shutdown for answers, then for the process to end
_RECV_BYTES = 1 << 20
_RESTART_PAUSE_S = 0.5  # between a shared writer process's end and its replacement
WRITER_SOCKET_ENV = "HIVELOG_WRITER_SOCKET"  # a worker's `SharedWriter` address
# A job of this many events has its rows made here, in the request (else in the writer
# process, with the other jobs of its group). Measured per ~2.6 KB event (`sqlite_rows`): 47 µs
# alone, 19 µs among 16 (their long fields compressed in one call); sending events for the
# writer process to decode again costs ~10 µs more than sending their rows. A single event is
# cheaper there, and off the event loop, which is what bounds single-event requests; a batch's
# rows are as cheap here, and cheaper in all.
ROWS_HERE_FROM = 16


class WriterEnded(HivelogError):
    """The writer process ended before it answered: the write's outcome is unknown."""

    status = 503
    code = "writer_ended"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "the writer process ended during this write, which may or may not be stored; "
            "send it again (an event is stored once per event_id)"
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


# ---- the server's side ----------------------------------------------------------------------

_Waiting = tuple[asyncio.Future[JobResult], int, int]  # the caller, its events, its bytes


class ProcessWriter:
    """The server's side: `Writer`'s interface (submit, stats, aclose) on the event loop that
    first submits, with the group commit in the writer process of the SQLite file `path`:
    one it starts itself, or with `address` the one a `SharedWriter` runs for every worker of
    `serve --workers N` (its queue bounds are then this worker's own)."""

    def __init__(
        self,
        path: str,
        *,
        max_events: int = 200_000,
        max_bytes: int = 256 * 1024 * 1024,
        max_batch: int = 5_000,
        limits: Limits | None = None,
        address: str | None = None,
    ) -> None:
        self.path = path
        self.address = address
        self.limits = limits
        self.max_batch = max_batch
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._counts = WriteQueue(max_events, max_bytes)
        self._outgoing: list[bytes] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._opening: asyncio.Future[asyncio.Transport] | None = None
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._drained: asyncio.Event | None = None

    def start(self) -> None:
        """Start the process now: it opens the database while the server goes on starting.
        (With `address`, the process is running already: the first job connects.)"""
        if self.address is not None:
            return
        ours, theirs = socket.socketpair()
        fd = theirs.fileno()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hivelog.ingest.writer_process",
                str(fd),
                self.path,
                str(self.max_batch),
            ],
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._sock = ours

    def stats(self) -> dict[str, int]:
        """What the writer accepted, refused and holds: for /healthz and operators."""
        return self._counts.stats()

    async def submit(self, job: Job, nbytes: int = 0) -> JobResult:
        """Store `job` durably; raises the job's own error, Overloaded if the queue is full,
        or WriterEnded if the writer process ended before it answered."""
        check_limits(job, nbytes, self.limits)
        if self._stopping:
            raise Overloaded("server is shutting down", retry_after=5)
        loop = asyncio.get_running_loop()
        transport = self._transport if loop is self._loop else None
        if transport is None:
            transport = await self._connected()
        size = job.size()
        self._counts.admit(size, nbytes)  # first: a refused job costs no rows and no pickle
        try:
            if (
                isinstance(job, WriteEvents)
                and job.rows is None
                and len(job.heads()) >= ROWS_HERE_FROM
            ):
                job.event_rows(sqlite_rows)
            data = frame_job(job)
        except BaseException:
            self._counts.leave(size, nbytes)
            raise
        future: asyncio.Future[JobResult] = loop.create_future()
        self._waiting.append((future, size, nbytes))
        if not self._outgoing:  # the first of this loop iteration: send them all after it
            loop.call_soon(self._flush, transport)
        self._outgoing.append(data)
        result = await future
        if result.error is not None:
            raise result.error
        return result

    def _flush(self, transport: asyncio.Transport) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if transport is self._transport:  # else it was lost, and these callers were told
            transport.writelines(outgoing)

    async def _connected(self) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("the writer serves one event loop")
        opening = self._opening
        if opening is None or (opening.done() and (opening.cancelled() or opening.exception())):
            opening = self._opening = asyncio.ensure_future(self._open())
        return await asyncio.shield(opening)  # one opening, whoever is cancelled

    async def _open(self) -> asyncio.Transport:
        if self.address is not None:
            return await self._connect(self.address)
        if self._sock is None:
            log.warning("starting a new writer process")
            self.start()
        assert self._sock is not None
        sock, self._sock = self._sock, None  # the transport owns it from here
        transport, _ = await asyncio.get_running_loop().create_connection(
            lambda: _Answers(self), sock=sock
        )
        self._transport = transport  # (uvloop's transports are not asyncio.Transport's kind)
        return transport

    async def _connect(self, address: str) -> asyncio.Transport:
        """A connection to the `SharedWriter`'s process (while it is being replaced, the
        connection waits in its socket's backlog for the new one)."""
        try:
            transport, _ = await asyncio.get_running_loop().create_unix_connection(
                lambda: _Answers(self), address
            )
        except OSError as exc:
            raise WriterEnded(
                f"the writer process cannot be reached ({exc.strerror or exc}); retry shortly"
            ) from None
        self._transport = transport
        return transport

    def answered(self, results: list[JobResult]) -> None:
        """One group's results, for the oldest waiting callers."""
        for result in results:
            future, size, nbytes = self._waiting.popleft()
            self._counts.leave(size, nbytes)
            if result.error is None:
                self._counts.committed_jobs += 1
            if not future.done():  # its caller may have gone meanwhile
                future.set_result(result)
        if not self._waiting and self._drained is not None:
            self._drained.set()

    def lost(self) -> None:
        """The connection ended: every waiting caller hears it; the next job starts anew."""
        self._transport = None
        self._opening = None
        self._outgoing = []
        process, self._process = self._process, None
        if not self._stopping and self.address is not None:
            log.error("the connection to the writer process ended")
        elif not self._stopping:
            code = process.poll() if process is not None else None
            log.error("the writer process ended (exit status %s)", code)
            if process is not None and code is None:
                process.kill()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)  # reap it (it has closed its end, so it is ending)
        error = WriterEnded()
        while self._waiting:
            future, size, nbytes = self._waiting.popleft()
            self._counts.leave(size, nbytes)
            if not future.done():
                future.set_result(JobResult(error=error))
        if self._drained is not None:
            self._drained.set()

    async def aclose(self) -> None:
        """Refuse new jobs, wait for the answers to those accepted, then let the process end
        (it does once its socket closes) and wait for it."""
        self._stopping = True
        if self._waiting:
            self._drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), _STOP_WAIT_S)
        if self._transport is not None:
            self._transport.close()
        if self._sock is not None:  # started, never connected
            self._sock.close()
            self._sock = None
        process, self._process = self._process, None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, _STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


class _Answers(asyncio.Protocol):
    """The event loop's end of the writer process's socket."""

    def __init__(self, writer: ProcessWriter) -> None:
        self.writer = writer
        self.frames = Frames()

    def data_received(self, data: bytes) -> None:
        self.frames.feed(data)
        while (results := self.frames.next()) is not None:
            self.writer.answered(results)

    def connection_lost(self, exc: Exception | None) -> None:
        self.writer.lost()


class SharedWriter:
    """The one writer process of `serve --workers N` on SQLite, run by the parent process.

    SQLite takes one writer at a time, so the workers (each parsing and checking its own
    requests on its own core) all send their jobs to one process that commits them in shared
    groups, as one server's requests are. The workers connect to a Unix socket in a directory
    only this user can enter (`address`, given to them as HIVELOG_WRITER_SOCKET). The socket
    belongs to this process, so a writer process that dies is replaced behind the same
    address: the workers' callers in flight get 503 `WriterEnded`, their next jobs wait in the
    socket's backlog for the new process. It ends when `stop` closes its control socket, or
    when this process dies."""

    def __init__(self, path: str, max_batch: int = 5_000) -> None:
        self.path = path
        self.max_batch = max_batch
        self._dir = tempfile.mkdtemp(prefix="hivelog-writer-")  # mode 0700
        self.address = os.path.join(self._dir, "writer.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.address)
        self._listener.listen(512)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._control: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="hivelog-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        """Run a writer process, and a new one each time one ends, until `stop`."""
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                ours, theirs = socket.socketpair()
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "hivelog.ingest.writer_process",
                        str(theirs.fileno()),
                        self.path,
                        str(self.max_batch),
                        str(self._listener.fileno()),
                    ],
                    pass_fds=(theirs.fileno(), self._listener.fileno()),
                    stdin=subprocess.DEVNULL,
                )
                theirs.close()
                self._control = ours
            code = process.wait()
            with self._lock:
                ours.close()
                self._control = None
                if self._stopping.is_set():
                    return
            log.error("the writer process ended (exit status %s); starting a new one", code)
            if self._stopping.wait(_RESTART_PAUSE_S):  # no tight loop if it cannot start at all
                return

    def stop(self) -> None:
        """Let the writer process end after the write in hand, wait for it, clean up."""
        with self._lock:
            self._stopping.set()
            if self._control is not None:
                with contextlib.suppress(OSError):  # (it may have ended already)
                    self._control.shutdown(socket.SHUT_RDWR)  # its end reads EOF
        self._thread.join(_STOP_WAIT_S)
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)


# ---- the writer process ---------------------------------------------------------------------


class _Inbox:
    """The jobs the servers have sent, read off their sockets as they come, each with the
    socket its answer goes back on.

    `control` is the socket of whoever started this process: its end closing (a clean stop, or
    a death) ends the process. A single server (`ProcessWriter`) sends its jobs on it too. The
    workers of `serve --workers N` (`SharedWriter`) connect to `listener` instead, one
    connection each; a worker that goes away only drops its connection."""

    def __init__(self, control: socket.socket, listener: socket.socket | None = None) -> None:
        self.control = control
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.peers: dict[socket.socket, Frames] = {}
        self.jobs: collections.deque[tuple[socket.socket, Job]] = collections.deque()
        self.ended = False
        self._add(control)
        if listener is not None:
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ)

    def take(self, max_batch: int, upkeep: Upkeep) -> list[tuple[socket.socket, Job]] | None:
        """The next group: every job waiting, up to `max_batch` events (at least one job);
        [] when the upkeep may run instead; None once `control` has closed."""
        while not self.jobs:
            if self.ended:
                return None
            wait = upkeep.idle_wait()
            if wait == 0:
                return []
            self._poll(wait)
        self._poll(0)  # and whatever else has come meanwhile
        group: list[tuple[socket.socket, Job]] = []
        events = 0
        while self.jobs and (not group or events + self.jobs[0][1].size() <= max_batch):
            group.append(self.jobs.popleft())
            events += group[-1][1].size()
        return group

    def answer(self, group: Sequence[tuple[socket.socket, Job]], results: list[JobResult]) -> None:
        """Each socket gets its jobs' results, in the order it sent them, in one message."""
        by_peer: dict[socket.socket, list[JobResult]] = {}
        for (peer, _), result in zip(group, results, strict=True):
            by_peer.setdefault(peer, []).append(result)
        for peer, answers in by_peer.items():
            if peer in self.peers:
                try:
                    peer.sendall(frame(answers))
                except OSError:  # it went away: its callers were told by their server
                    self._drop(peer)

    def _poll(self, timeout: float | None) -> None:
        for key, _ in self.selector.select(timeout):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if sock is self.listener:
                with contextlib.suppress(BlockingIOError):
                    self._add(sock.accept()[0])
                continue
            while sock in self.peers:  # all it has sent so far
                try:
                    data = sock.recv(_RECV_BYTES, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                self._read(sock, data)

    def _add(self, sock: socket.socket) -> None:
        sock.setblocking(True)  # answers are sent whole; reads never wait (MSG_DONTWAIT)
        self.peers[sock] = Frames()
        self.selector.register(sock, selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        del self.peers[sock]  # its jobs read whole are still written, answered to no one
        if sock is self.control:
            self.ended = True
        else:
            sock.close()

    def _read(self, sock: socket.socket, data: bytes) -> None:
        if not data:
            self._drop(sock)
            return
        frames = self.peers[sock]
        frames.feed(data)
        while (job := frames.next()) is not None:
            self.jobs.append((sock, job))


def make_rows(jobs: Sequence[Job], encode_rows: Callable[[list[Event]], list[Any]]) -> None:
    """Rows for the jobs that came without (the server leaves small jobs' to this process,
    `ROWS_HERE_FROM`): in one call, so their long fields are compressed together
    (`packing.pack_rows`), and none of it on the server's event loop, where it took a sixth of
    a single event's time.
    If that call fails, job by job: a job whose events cannot be encoded keeps no rows, and
    fails alone when the store encodes it again."""
    wanting = [j for j in jobs if isinstance(j, WriteEvents) and j.rows is None and j.events]
    if not wanting:
        return
    try:
        rows = encode_rows([e for job in wanting for e in job.events])
    except Exception:
        for job in wanting:
            with contextlib.suppress(Exception):
                job.rows, job.encoded_by = encode_rows(job.events), encode_rows
        return
    start = 0
    for job in wanting:
        end = start + len(job.events)
        job.rows, job.encoded_by = rows[start:end], encode_rows
        start = end


def write_group(store: Store, jobs: list[Job]) -> list[JobResult]:
    """`Store.write` of one group, every result fit to cross to the server."""
    make_rows(jobs, store.encode_rows)
    try:
        results = store.write(jobs)
    except Exception as exc:  # the whole transaction failed: every caller hears why
        log.exception("write of %d jobs failed", len(jobs))
        return [JobResult(error=portable(exc))] * len(jobs)
    return [
        r if r.error is None else JobResult(r.project, r.deleted, portable(r.error))
        for r in results
    ]


def serve(
    control: socket.socket, path: str, max_batch: int, listener: socket.socket | None = None
) -> None:
    """The writer process: open the store, then write group after group until `control`
    closes (`_Inbox`)."""
    from hivelog.store.sqlite import SqliteStore

    store = SqliteStore(path, checkpoints=False)  # the server process runs the checkpointer
    store.open()
    tune_gc()
    upkeep = Upkeep(store.background_work)
    inbox = _Inbox(control, listener)
    try:
        while (group := inbox.take(max_batch, upkeep)) is not None:
            if not group:
                upkeep.run()
                continue
            results = write_group(store, [job for _, job in group])
            upkeep.wrote()
            inbox.answer(group, results)
            if upkeep.due():
                upkeep.run()
    finally:
        store.close()


def main(argv: list[str]) -> None:
    """`python -m hivelog.ingest.writer_process CONTROL_FD PATH MAX_BATCH [LISTEN_FD]`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server says when: it closes the socket
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    fd, path, max_batch = int(argv[0]), argv[1], int(argv[2])
    listener = socket.socket(fileno=int(argv[3])) if len(argv) > 3 else None
    with socket.socket(fileno=fd) as sock:
        serve(sock, path, max_batch, listener)


if __name__ == "__main__":
    main(sys.argv[1:])
