"""OTLP decoding and span conversion in worker processes, off the event loop.

Turning spans into events is pure Python (attribute dialects, un-flattening, message shapes)
and was the one serial stage of OTLP ingest: the event loop's thread spent most of its time
there, sharing the GIL with the writer. A worker process does it instead and hands back the
events msgpack-encoded, with their rows: the loop decodes only what a store reads beside the
rows (`PackedEvents`), the rest only if a store rewrites an event. Bodies and answers go over
a socket the event loop reads itself (`_Worker`). Small bodies
(a span or two, as tracers send with batching off) are converted in place: a round trip to a
worker would cost more than the work.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import socket
import struct
from collections.abc import Callable
from typing import Any

import msgspec

from hivelog.errors import BadInput
from hivelog.event import Event, PackedEvents, TraceLink
from hivelog.gc_tuning import tune_gc
from hivelog.ingest.limits import Limits
from hivelog.normalize.cost import configure as configure_prices
from hivelog.normalize.logs import logs_to_updates
from hivelog.normalize.otlp import Converted, spans_to_events
from hivelog.wire.otlp import decode_json, decode_logs_json, decode_logs_protobuf, decode_protobuf

log = logging.getLogger("hivelog.converters")

IN_PLACE_BYTES = 16 * 1024  # bodies smaller than this are converted on the event loop
_encode = msgspec.msgpack.Encoder().encode
_Result = tuple[
    int,
    dict[str, msgspec.Raw],  # each project's events, left encoded (`PackedEvents`)
    dict[str, dict[str, TraceLink]],
    int,
    list[str],
    str,
    str | None,
    dict[str, list[Any]],
]
_decode = msgspec.msgpack.Decoder(_Result).decode


def convert(raw: bytes, as_json: bool, default_project: str) -> Converted:
    """Decode an ExportTraceServiceRequest and convert its spans (BadInput if undecodable)."""
    spans = decode_json(raw) if as_json else decode_protobuf(raw)
    return spans_to_events(spans, default_project)


def convert_logs(raw: bytes, as_json: bool, default_project: str) -> Converted:
    """Decode an ExportLogsServiceRequest and turn its records into updates of their spans'
    events. In place: grouping records by span is light next to converting spans."""
    records = decode_logs_json(raw) if as_json else decode_logs_protobuf(raw)
    return logs_to_updates(records, default_project)


def _start_worker(prices: str | None) -> None:
    """A worker's start: the prices file, and the same garbage collector settings as the
    server process (`gc_tuning.tune_gc`). Converting a request allocates tens of thousands of
    containers (attribute maps, messages, events), nearly none in cycles; with the default
    threshold the collector ran every 700 of them and re-walked everything imported."""
    configure_prices(prices)
    tune_gc()


def _convert_encoded(
    raw: bytes,
    as_json: bool,
    default_project: str,
    limits: Limits | None = None,
    encode_rows: Callable[[list[Event]], list[Any]] | None = None,
) -> bytes:
    """`convert` in a worker: the outcome as msgpack, a BadInput as its message and place.

    With the server's `limits` and its store's `encode_rows`, the events of each project the
    limits leave unchanged come with their rows too: the JSON encoding and the limits' walk
    of every field are then done here, beside the event loop, not on it."""
    try:
        c = convert(raw, as_json, default_project)
    except BadInput as error:
        return _encode((1, {}, {}, 0, [], error.message, error.where, {}))
    rows: dict[str, list[Any]] = {}
    try:
        if limits is not None and encode_rows is not None:
            for project, events in c.by_project.items():
                assert isinstance(events, list)  # converted here, not packed
                if limits.unchanged(events, len(raw)):
                    rows[project] = encode_rows(events)
        return _encode((0, c.by_project, c.traces, c.rejected, c.reasons, "", None, rows))
    except OverflowError:  # an integer past 64 bits that no earlier stage turned into a float
        return _encode((1, {}, {}, 0, [], "a number in the request is outside 64 bits", "$", {}))


class WorkerDied(Exception):
    """A conversion worker process ended with requests in it."""


_HEADER = struct.Struct("!Q")  # each frame: its length, then msgpack
_encode_request = msgspec.msgpack.Encoder().encode
_decode_request = msgspec.msgpack.Decoder(tuple[bytes, bool, str]).decode


def _serve(
    sock: socket.socket,
    prices: str | None,
    limits: Limits | None,
    encode_rows: Callable[[list[Event]], list[Any]] | None,
) -> None:
    """A worker process: read (body, as JSON?, default project) frames from `sock` and answer
    each with `_convert_encoded`'s, in order, until the server closes its end."""
    _start_worker(prices)
    incoming = sock.makefile("rb")
    while True:
        head = incoming.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        request = incoming.read(size)
        if len(request) < size:
            return
        answer = _convert_encoded(*_decode_request(request), limits, encode_rows)
        sock.sendall(_HEADER.pack(len(answer)))
        sock.sendall(answer)


class _Worker:
    """One worker process and the socket to it, driven by the event loop itself.

    Requests are written to the socket as they come (the worker takes them in order) and
    answers are read back by one task of the loop, each resolving the oldest waiting request.
    A process pool (`concurrent.futures`) did the same through a feeder and a manager thread
    and pickled every body: two more threads contending for the server's one GIL per request.
    """

    def __init__(
        self,
        prices: str | None,
        limits: Limits | None,
        encode_rows: Callable[[list[Event]], list[Any]] | None,
    ) -> None:
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=_serve,
            args=(theirs, prices, limits, encode_rows),
            name="hivelog-convert",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self._sock = ours
        self._waiting: collections.deque[asyncio.Future[bytes]] = collections.deque()
        self._opening: asyncio.Future[asyncio.StreamWriter] | None = None
        self._reading: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.alive = True

    def load(self) -> int:
        return len(self._waiting)

    async def call(self, raw: bytes, as_json: bool, default_project: str) -> bytes:
        """The worker's answer to one request (WorkerDied if it ends first)."""
        if self._opening is None:
            self.loop = asyncio.get_running_loop()
            self._opening = asyncio.ensure_future(self._open())
        writer = await asyncio.shield(self._opening)  # one opening, whoever is cancelled
        if not self.alive:
            raise WorkerDied
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        request = _encode_request((raw, as_json, default_project))
        self._waiting.append(future)
        writer.write(_HEADER.pack(len(request)))
        writer.write(request)
        await writer.drain()
        return await future

    async def _open(self) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(sock=self._sock)
        self._reading = asyncio.create_task(self._read(reader))
        return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                answer = await reader.readexactly(size)
                future = self._waiting.popleft()
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        self.alive = False
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(WorkerDied())

    def close(self) -> None:
        self._fail_waiting()
        if self._reading is not None:
            self._reading.cancel()
        opening = self._opening
        if opening is not None and opening.done() and not opening.cancelled():
            if opening.exception() is None:
                opening.result().close()
            else:
                self._sock.close()
        else:
            self._sock.close()
        self.process.join(timeout=1)  # it ends on end of input; one conversion at most
        if self.process.is_alive():
            self.process.terminate()


class Converters:
    """`processes` worker processes (0: convert everything in place), started on first use
    and restarted if one dies."""

    def __init__(
        self,
        processes: int,
        prices: str | None = None,
        limits: Limits | None = None,
        encode_rows: Callable[[list[Event]], list[Any]] | None = None,
    ) -> None:
        self.processes = processes
        self.prices = prices  # the prices file (--prices): workers price calls with it too
        # the writer's limits and the store's row encoder: workers encode rows with them
        self.limits = limits
        self.encode_rows = encode_rows
        self._workers: list[_Worker] = []

    def _worker(self) -> _Worker | None:
        """The least busy live worker of this loop, starting one if fewer are running; None
        when the workers serve another event loop (then the caller converts in place)."""
        loop = asyncio.get_running_loop()
        for worker in [w for w in self._workers if not w.alive]:
            log.warning("a conversion worker died; restarting it")
            worker.close()
            self._workers.remove(worker)
        if any(w.loop is not None and w.loop is not loop for w in self._workers):
            return None
        if len(self._workers) < self.processes and all(w.load() for w in self._workers):
            self._workers.append(_Worker(self.prices, self.limits, self.encode_rows))
        return min(self._workers, key=_Worker.load)

    async def convert(self, raw: bytes, as_json: bool, default_project: str) -> Converted:
        if self.processes <= 0 or len(raw) < IN_PLACE_BYTES:
            return convert(raw, as_json, default_project)
        worker = self._worker()
        if worker is None:
            return convert(raw, as_json, default_project)
        try:
            encoded = await worker.call(raw, as_json, default_project)
        except WorkerDied:
            log.warning("a conversion worker died; converting in place")
            return convert(raw, as_json, default_project)
        return self.answer(encoded)

    def answer(self, encoded: bytes) -> Converted:
        """A worker's answer (`_convert_encoded`) → what converting in place gives, but for
        the events, which stay packed (`PackedEvents`); BadInput as the worker found it."""
        failed, by_project, traces, rejected, reasons, message, where, rows = _decode(encoded)
        if failed:
            raise BadInput(message, where)
        for project, encoded_rows in rows.items():  # msgpack gives a tuple back as a list
            rows[project] = [tuple(r) if type(r) is list else r for r in encoded_rows]
        return Converted(
            by_project={p: PackedEvents.of(events) for p, events in by_project.items()},
            traces=traces,
            rejected=rejected,
            reasons=reasons,
            rows=rows,
            encoded_by=self.encode_rows if rows else None,
            checked_by=self.limits if rows else None,
        )

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers = []
