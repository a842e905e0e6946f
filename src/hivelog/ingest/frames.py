"""The frames the server and the SQLite writer process exchange over their socket.

Each frame is its length, then either a `WriteEvents` job as msgpack (`frame_job`: what nearly
every frame is, so it is encoded once and cheaply) or a pickle (`frame`: the answers, other
jobs, and what msgpack cannot hold). The first byte tells which. Both sides read with `Frames`.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import msgspec

from hivelog.event import EventUpdate, PackedEvents, TraceLink
from hivelog.store.base import Job, WriteEvents
from hivelog.store.sqlite.writes import sqlite_rows

_HEADER = struct.Struct("!Q")  # each frame: its length, then a job (`frame_job`) or a pickle


def frame(message: Any) -> bytes:
    """`message` pickled, after its length."""
    return _framed(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _framed(data: bytes) -> bytes:
    return _HEADER.pack(len(data)) + data


# A `WriteEvents` job as msgpack: project, its events' packed parts (`PackedEvents`), updates,
# trace links, rows, and whether the rows are `sqlite_rows`'. Pickling the job cost the event
# loop 31 µs per single ~2.5 KB event and unpickling it the writer process 20, against 12 and
# 12 for this encoding (most jobs are single events, so this is per request).
_JobFields = tuple[
    str | None,
    list[msgspec.Raw],
    list[EventUpdate],
    dict[str, TraceLink],
    list[tuple[Any, ...]] | None,
    bool,
]
_encode_job = msgspec.msgpack.Encoder().encode
_decode_job = msgspec.msgpack.Decoder(_JobFields).decode
_PICKLED = 0x80  # a pickle (protocol 2 on) starts with this byte; a msgpack array never does


def frame_job(job: Job) -> bytes:
    """`frame(job)`; a `WriteEvents` goes as msgpack unless only pickle holds it (a number
    past 64 bits, rows made by another encoder)."""
    if type(job) is WriteEvents and job.encoded_by in (None, sqlite_rows):
        try:
            data = _encode_job(
                (
                    job.project,
                    [msgspec.Raw(part) for part in job.packed().parts],
                    job.updates,
                    job.traces,
                    job.rows,
                    job.encoded_by is not None,
                )
            )
        except (OverflowError, TypeError, msgspec.EncodeError):
            return frame(job)
        return _framed(data)
    return frame(job)


def _unframe_job(data: bytes) -> WriteEvents:
    project, parts, updates, traces, rows, encoded = _decode_job(data)
    return WriteEvents(
        project,
        PackedEvents.of_parts(tuple(parts)),
        updates,
        traces,
        rows,
        sqlite_rows if encoded else None,
    )


class Frames:
    """Whole frames out of a byte stream, as its chunks come."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0

    def feed(self, data: bytes) -> None:
        if self._start > len(self._buffer) // 2:  # drop what was read, now and then
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += data

    def next(self) -> Any:
        """The next whole message decoded (a job of `frame_job`'s or a pickle), or None if
        none is complete yet."""
        start = self._start
        if len(self._buffer) - start < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer, start)
        end = start + _HEADER.size + size
        if len(self._buffer) < end:
            return None
        self._start = end
        body = memoryview(self._buffer)[start + _HEADER.size : end]
        if body[0] == _PICKLED:
            return pickle.loads(body)
        return _unframe_job(bytes(body))  # a copy: the Raw parts outlive the buffer's bytes


def portable(error: BaseException) -> BaseException:
    """`error` as it can cross to the server: itself if it survives pickling, else its type
    and message in a RuntimeError."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
