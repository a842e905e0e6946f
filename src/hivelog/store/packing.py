"""Inputs and outputs stored compressed on SQLite.

An event's `inputs` and `outputs` (chat histories, answers, documents) are most of its size:
about three quarters of a typical event's JSON. PostgreSQL compresses large values by itself
(TOAST, lz4) and ClickHouse compresses every column; SQLite stores text as it is given, which
left a database at 1.34× the JSON of its events once indexed. So the SQLite store keeps these
two fields, when they are long enough to gain, as a Zstandard frame in a BLOB, and as JSON
text otherwise: the storage type tells the two apart, so databases written before hold text
and read as before, row by row.

Every SQL read of the two columns goes through the `unpack` SQL function (`sql_text`), which
the store registers on each of its connections: the columns of whole events, filters on
`inputs.*` and `outputs.*`, search, the search index and its triggers, session previews.
Tools that open the database file without hivelog see BLOBs there, and a DELETE of indexed
rows fails in the search index's trigger ("no such function: unpack") rather than corrupt it.

Measured on `bench/ingest.py`'s events (chat history in five languages, loaded machine):
Zstandard level 1 keeps 41% of these fields' bytes for ~17 µs of CPU per event to pack and
~10 to unpack; zlib level 1 keeps 40% for three times the CPU; lz4 keeps 47% for ~4 µs.
A job's rows are packed all at once (`pack_rows`, called by the store's `encode_rows`) in the
request's thread or a conversion worker: one compression call per job.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import msgspec
import zstandard

from hivelog.store.rows import INSERT_COLUMNS

PACKED = ("inputs", "outputs")  # the columns stored this way
PACKED_AT = tuple(INSERT_COLUMNS.index(c) for c in PACKED)  # where event rows hold them
PACK_FROM = 256  # bytes of JSON: shorter values stay text
_LEVEL = 1
FUNCTION = "unpack"
_encode = msgspec.json.Encoder().encode

# zstandard's (de)compressor objects are not safe to share between threads: one per thread.
_local = threading.local()


def json_bytes(value: dict[str, Any] | None) -> str | bytes | None:
    """An `inputs` or `outputs` object as a row holds it until `pack_rows`: NULL when empty,
    JSON text when too short to pack, else its JSON bytes, to be packed."""
    if not value:
        return None
    data = _encode(value)
    return data.decode() if len(data) < PACK_FROM else data


def pack(value: dict[str, Any] | None) -> str | bytes | None:
    """The stored form of an `inputs` or `outputs` object (`pack_rows` of one value)."""
    data = json_bytes(value)
    if not isinstance(data, bytes):
        return data
    return _stored(data, _compressor().compress(data))


def pack_rows(rows: list[Any]) -> list[Any]:
    """Event rows (INSERT_COLUMNS order) with their inputs' and outputs' JSON bytes
    (`json_bytes`) in their stored form.

    All the values are compressed in one call, which lets go of the GIL once: a call per
    value would have to win the GIL back from the other busy thread every time. Values that
    are not bytes (NULL, short JSON text) pass as they are."""
    todo = [(i, j) for i, row in enumerate(rows) for j in PACKED_AT if type(row[j]) is bytes]
    if not todo:
        return rows
    datas = [rows[i][j] for i, j in todo]
    collection = _compressor().multi_compress_to_buffer(datas, threads=0)
    frames = [collection[k].tobytes() for k in range(len(datas))]
    out = list(rows)
    for (i, j), data, frame in zip(todo, datas, frames, strict=True):
        row = list(out[i])
        row[j] = _stored(data, frame)
        out[i] = tuple(row)
    return out


def _stored(data: bytes, packed: bytes) -> str | bytes:
    """The frame if it is shorter than the text by a tenth, else the text."""
    return packed if len(packed) * 10 < len(data) * 9 else data.decode()


def _compressor() -> zstandard.ZstdCompressor:
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=_LEVEL)
    return compressor


def unpack(value: str | bytes | None) -> str | None:
    """JSON text from a stored value of a PACKED column (the SQL function `unpack`)."""
    if not isinstance(value, bytes):
        return value
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    text: bytes = decompressor.decompress(value)
    return text.decode()


def sql_text(column: str) -> str:
    """SQL reading `column` as JSON text: through `unpack` for a PACKED column."""
    return f"{FUNCTION}({column})" if column in PACKED else column


def register(conn: sqlite3.Connection) -> None:
    """Make `unpack` callable on `conn`: every connection of the store, and the retention
    pass's (its DELETEs run the search index's trigger)."""
    conn.create_function(FUNCTION, 1, unpack, deterministic=True)
