"""OTLP decoding and span conversion in worker processes, off the event loop.

Turning spans into events is pure Python (attribute dialects, un-flattening, message shapes)
and was the one serial stage of OTLP ingest: the event loop's thread spent most of its time
there, sharing the GIL with the writer. A worker process does it instead and hands back the
events msgpack-encoded, which the loop decodes in C at the speed of a REST batch. Small bodies
(a span or two, as tracers send with batching off) are converted in place: a round trip to a
worker would cost more than the work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from concurrent.futures.process import BrokenProcessPool

import msgspec

from hivelog.errors import BadInput
from hivelog.event import Event, TraceLink
from hivelog.normalize.cost import configure as configure_prices
from hivelog.normalize.logs import logs_to_updates
from hivelog.normalize.otlp import Converted, spans_to_events
from hivelog.wire.otlp import decode_json, decode_logs_json, decode_logs_protobuf, decode_protobuf

log = logging.getLogger("hivelog.converters")

IN_PLACE_BYTES = 16 * 1024  # bodies smaller than this are converted on the event loop
_encode = msgspec.msgpack.Encoder().encode
_Result = tuple[
    int, dict[str, list[Event]], dict[str, dict[str, TraceLink]], int, list[str], str, str | None
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
    server process (`server.tune_gc`). Converting a request allocates tens of thousands of
    containers (attribute maps, messages, events), nearly none in cycles; with the default
    threshold the collector ran every 700 of them and re-walked everything imported."""
    from hivelog.server import tune_gc  # the process imported it already (spawn's __main__)

    configure_prices(prices)
    tune_gc()


def _convert_encoded(raw: bytes, as_json: bool, default_project: str) -> bytes:
    """`convert` in a worker: the outcome as msgpack, a BadInput as its message and place."""
    try:
        c = convert(raw, as_json, default_project)
    except BadInput as error:
        return _encode((1, {}, {}, 0, [], error.message, error.where))
    try:
        return _encode((0, c.by_project, c.traces, c.rejected, c.reasons, "", None))
    except OverflowError:  # an integer past 64 bits that no earlier stage turned into a float
        return _encode((1, {}, {}, 0, [], "a number in the request is outside 64 bits", "$"))


class Converters:
    """A pool of `processes` worker processes (0: convert everything in place), started on
    first use and restarted if a worker dies."""

    def __init__(self, processes: int, prices: str | None = None) -> None:
        self.processes = processes
        self.prices = prices  # the prices file (--prices): workers price calls with it too
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.prices,),
            )
        return self._pool

    async def convert(self, raw: bytes, as_json: bool, default_project: str) -> Converted:
        if self.processes <= 0 or len(raw) < IN_PLACE_BYTES:
            return convert(raw, as_json, default_project)
        loop = asyncio.get_running_loop()
        try:
            encoded = await loop.run_in_executor(
                self._executor(), _convert_encoded, raw, as_json, default_project
            )
        except BrokenProcessPool:
            log.warning("a conversion worker died; converting in place and restarting the pool")
            self.close()
            return convert(raw, as_json, default_project)
        failed, by_project, traces, rejected, reasons, message, where = _decode(encoded)
        if failed:
            raise BadInput(message, where)
        return Converted(by_project=by_project, traces=traces, rejected=rejected, reasons=reasons)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
