"""The SQLite writer process (ingest/writer_process): a write it never answered fails its
callers with 503 and the next write starts a new process; it lives and dies with its server;
a Ctrl-C does not stop it before the server has finished; --writer-thread does without it;
the workers of `serve --workers N` all write through one, which their parent replaces."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hivelog.event import Event, EventUpdate, TraceLink
from hivelog.ingest.frames import Frames, frame_job
from hivelog.ingest.writer_process import ROWS_HERE_FROM, ProcessWriter, WriterEnded
from hivelog.query.filters import compile_query
from hivelog.store.base import DeleteSession, WriteEvents
from hivelog.store.sqlite import SqliteStore
from tests.conftest import Server
from tests.helpers import get_event, run_alone

WAIT_S = 60.0  # bound of every wait below: generous, for a busy machine


def _event(eid: str) -> Event:
    return Event(
        event_id=eid, session_id="s", parent_id="s", event_type="tool", start_time=1, end_time=1
    )


def _alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped by whoever adopted it, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int, marker: bytes) -> list[int]:
    """`pid`'s running children whose command line holds `marker`."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if marker in cmdline and _alive(int(child)):
                found.append(int(child))
    return found


# Extension modules only the serving app loads (pricing's pydantic, OTLP's protobuf): the
# parent of `--workers` and the writer process serve nothing, so they load neither.
_APP_ONLY = (b"/pydantic_core/", b"/google/_upb/")


def _app_loaded(pid: int) -> list[bytes]:
    """Which of `_APP_ONLY` the process has mapped (its shared objects in /proc/PID/maps)."""
    maps = Path(f"/proc/{pid}/maps").read_bytes()
    return [name for name in _APP_ONLY if name in maps]


def _writer_pids(pid: int) -> list[int]:
    """The writer processes among `pid`'s children."""
    return _children(pid, b"hivelog.ingest.writer_process")


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes among `pid`'s children."""
    return _children(pid, b"spawn_main")


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.05)


def _writer_pid(srv: Server) -> int:
    assert srv.proc is not None
    pid = srv.proc.pid
    _wait_for(lambda: len(_writer_pids(pid)) == 1, "the server's one writer process")
    return _writer_pids(pid)[0]


def _post(srv: Server, event_id: str) -> httpx.Response:
    body = {"event": {"project": "wp", "event_id": event_id, "event_type": "tool"}}
    return httpx.post(srv.url + "/events", json=body, timeout=WAIT_S)


def _killed_writer_is_replaced(srv: Server) -> None:
    """Kill `srv`'s writer process; a write is refused with 503 `writer_ended` only until a
    new writer process stores it."""
    first = _writer_pid(srv)
    os.kill(first, signal.SIGKILL)
    event_id = str(uuid.uuid4())
    deadline = time.monotonic() + WAIT_S
    while (response := _post(srv, event_id)).status_code != 200:
        assert response.status_code == 503, response.text  # only while it is replaced
        assert response.json()["errorCode"] == "writer_ended"
        assert response.headers["Retry-After"] == "1"
        assert time.monotonic() < deadline
    with srv.client() as client:
        assert get_event(client, "wp", event_id)["event_id"] == event_id
    assert _writer_pid(srv) != first


def _stored(store: SqliteStore, name: str) -> dict[str, Event]:
    """Project `name`'s stored events (up to 100), by id."""
    project = store.find_project(name)
    assert project is not None
    events, _ = store.query_events(project, compile_query("sqlite", None, None, 100, 1))
    return {e.event_id: e for e in events}


def test_a_write_the_process_never_answered_fails_then_a_new_process_writes(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "w.db")
    store = SqliteStore(path)
    store.open()
    writer = ProcessWriter(path)
    writer.start()

    async def main() -> None:
        try:
            await writer.submit(WriteEvents("p", [_event("before")]))
            assert writer._process is not None
            pid = writer._process.pid
            os.kill(pid, signal.SIGSTOP)  # it cannot take the next job
            pending = asyncio.ensure_future(writer.submit(WriteEvents("p", [_event("lost")])))
            while writer.stats()["queued_events"] == 0:
                await asyncio.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(WriterEnded):
                await asyncio.wait_for(pending, WAIT_S)
            assert writer.stats()["queued_events"] == 0
            await writer.submit(WriteEvents("p", [_event("after")]))
            assert writer._process is not None and writer._process.pid != pid
        finally:
            await writer.aclose()

    try:
        run_alone(main())
        assert set(_stored(store, "p")) == {"before", "after", "s"}
    finally:
        store.close()


def test_every_kind_of_job_reaches_the_writer_process_whole(tmp_path: Path) -> None:
    """Jobs cross as msgpack (`frame_job`) unless only pickle holds them: a single event, a
    batch whose rows the server made, an update, a number past 64 bits (pickled), a delete."""
    path = str(tmp_path / "w.db")
    store = SqliteStore(path)
    store.open()
    writer = ProcessWriter(path)
    writer.start()
    big = _event("big")
    big.metadata["count"] = 2**70
    batch = [_event(f"b{i}") for i in range(ROWS_HERE_FROM)]
    single = _event("one")
    single.inputs = {"chat_history": [{"role": "user", "content": "héllo ✓"}]}

    async def main() -> None:
        try:
            await writer.submit(WriteEvents("p", [single]))
            await writer.submit(WriteEvents("p", batch))
            await writer.submit(WriteEvents("p", [big]))
            await writer.submit(
                WriteEvents("p", updates=[EventUpdate(event_id="one", metrics={"score": 0.5})])
            )
            gone = Event(event_id="gone", session_id="x", parent_id="x", event_type="tool")
            await writer.submit(WriteEvents("p", [gone]))
            await writer.submit(DeleteSession("p", "x"))
        finally:
            await writer.aclose()

    try:
        run_alone(main())
        by_id = _stored(store, "p")
        assert set(by_id) == {"s", "one", "big", *(e.event_id for e in batch)}
        assert by_id["one"].inputs == single.inputs
        assert by_id["one"].metrics == {"score": 0.5}
        assert by_id["big"].metadata["count"] == 2**70
    finally:
        store.close()


def test_a_write_job_crosses_as_msgpack_unless_only_pickle_holds_it() -> None:
    frames = Frames()
    plain = WriteEvents("p", [_event("a")], traces={"t": TraceLink(session_id="s", rank=1)})
    big = _event("big")
    big.metadata["n"] = 2**70
    for job, pickled in ((plain, False), (WriteEvents("p", [big]), True)):
        data = frame_job(job)
        assert (data[8] == 0x80) is pickled
        frames.feed(data)
        back = frames.next()
        assert isinstance(back, WriteEvents)
        assert back.project == "p" and back.events == job.events and back.traces == job.traces


@pytest.fixture()
def sqlite_server(tmp_path: Path) -> Server:
    return Server(str(tmp_path / "h.db"))


def test_a_killed_writer_process_is_replaced_and_says_503_meanwhile(
    sqlite_server: Server,
) -> None:
    srv = sqlite_server
    srv.start()
    try:
        assert _post(srv, str(uuid.uuid4())).status_code == 200
        _killed_writer_is_replaced(srv)
    finally:
        srv.stop()


def test_the_writer_process_ends_with_its_server_even_killed(sqlite_server: Server) -> None:
    srv = sqlite_server
    srv.start()
    assert _post(srv, str(uuid.uuid4())).status_code == 200
    child = _writer_pid(srv)
    srv.stop(signal.SIGKILL)
    _wait_for(lambda: not _alive(child), "the writer process to end after its server")


def test_ctrl_c_leaves_the_writer_process_to_the_server(sqlite_server: Server) -> None:
    """A Ctrl-C reaches the whole process group: the writer process must keep writing until
    the server, shutting down, has no more for it."""
    srv = sqlite_server
    srv.start()
    assert srv.proc is not None
    event_id = str(uuid.uuid4())
    assert _post(srv, str(uuid.uuid4())).status_code == 200
    child = _writer_pid(srv)
    os.kill(child, signal.SIGINT)
    os.kill(child, signal.SIGTERM)
    assert _post(srv, event_id).status_code == 200
    assert _writer_pid(srv) == child
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(timeout=WAIT_S) == 0
    _wait_for(lambda: not _alive(child), "the writer process to end with its server")
    srv.start()
    try:
        with srv.client() as client:
            assert get_event(client, "wp", event_id)["event_id"] == event_id
    finally:
        srv.stop()


def test_writer_thread_runs_without_a_writer_process(tmp_path: Path) -> None:
    srv = Server(str(tmp_path / "h.db"), ["--writer-thread"])
    srv.start()
    try:
        event_id = str(uuid.uuid4())
        assert _post(srv, event_id).status_code == 200
        assert srv.proc is not None and _writer_pids(srv.proc.pid) == []
        with srv.client() as client:
            assert get_event(client, "wp", event_id)["event_id"] == event_id
    finally:
        srv.stop()


def test_workers_write_through_one_writer_process_their_parent_replaces(tmp_path: Path) -> None:
    """`--workers 2` on SQLite: one writer process (the parent's child, none in the workers),
    each worker holding half the memory bounds, the parent and the writer without the app's
    libraries; every event posted over many connections stored; the writer killed, requests
    get 503 only while the parent starts another; a Ctrl-C ends every process and the
    socket's directory."""
    bounds = ["--queue-events", "1001", "--queue-bytes", "4000000", "--inflight-bytes", "6000000"]
    srv = Server(str(tmp_path / "h.db"), ["--workers", "2", *bounds])
    srv.start()
    assert srv.proc is not None
    parent = srv.proc.pid
    try:
        _writer_pid(srv)
        _wait_for(lambda: len(_workers(parent)) == 2, "two workers")
        assert all(_writer_pids(worker) == [] for worker in _workers(parent))
        for _ in range(8):  # a connection each: whichever worker answers holds half
            queue = httpx.get(srv.url + "/healthz", timeout=WAIT_S).json()["writer"]
            assert (queue["max_events"], queue["max_bytes"]) == (500, 2_000_000)
        for worker in _workers(parent):
            assert b"HIVELOG_INFLIGHT_BYTES=3000000" in Path(f"/proc/{worker}/environ").read_bytes()
            assert _app_loaded(worker) == list(_APP_ONLY)  # what serving takes
        # the parent and the writer process load only what they do (smaller peak RSS)
        assert _app_loaded(parent) == [] and _app_loaded(_writer_pid(srv)) == []
        ids = [str(uuid.uuid4()) for _ in range(200)]
        with ThreadPoolExecutor(16) as pool:  # a connection per request: both workers serve
            assert {r.status_code for r in pool.map(lambda i: _post(srv, i), ids)} == {200}
        with srv.client() as client:
            assert all(get_event(client, "wp", i)["event_id"] == i for i in ids)

        _killed_writer_is_replaced(srv)
        environ = Path(f"/proc/{_workers(parent)[0]}/environ").read_bytes().split(b"\0")
        (address,) = [
            v.split(b"=", 1)[1] for v in environ if v.startswith(b"HIVELOG_WRITER_SOCKET=")
        ]
        processes = [_writer_pid(srv), *_workers(parent)]
        srv.proc.send_signal(signal.SIGINT)
        assert srv.proc.wait(timeout=WAIT_S) == 0
    finally:
        srv.stop()
    _wait_for(lambda: not any(_alive(p) for p in processes), "every process to end")
    assert not Path(os.fsdecode(address)).parent.exists()
