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
Packing runs in the request's thread (`Store.encode_row`), beside the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import msgspec
import zstandard

PACKED = ("inputs", "outputs")  # the columns stored this way
PACK_FROM = 256  # bytes of JSON: shorter values stay text
_LEVEL = 1
FUNCTION = "unpack"
_encode = msgspec.json.Encoder().encode

# zstandard's (de)compressor objects are not safe to share between threads: one per thread.
_local = threading.local()


def pack(value: dict[str, Any] | None) -> str | bytes | None:
    """The stored form of an `inputs` or `outputs` object: NULL when empty, a Zstandard frame
    of its JSON when that is shorter by a tenth, else the JSON text. Straight from the encoded
    bytes: no round trip through a str of a long, often non-ASCII text."""
    if not value:
        return None
    data = _encode(value)
    if len(data) < PACK_FROM:
        return data.decode()
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=_LEVEL)
    packed: bytes = compressor.compress(data)
    return packed if len(packed) * 10 < len(data) * 9 else data.decode()


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
