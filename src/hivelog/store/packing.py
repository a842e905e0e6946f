"""Inputs and outputs stored compressed on SQLite.

An event's `inputs` and `outputs` (chat histories, answers, documents) are most of its size:
about three quarters of a typical event's JSON. PostgreSQL compresses large values by itself
(TOAST, lz4) and ClickHouse compresses every column; SQLite stores text as it is given, which
left a database at 1.34× the JSON of its events once indexed. So the SQLite store keeps these
two fields, when they are long enough to gain, as zlib-compressed JSON in a BLOB, and as JSON
text otherwise: the storage type tells the two apart, so databases written before hold text
and read as before, row by row.

Every SQL read of the two columns goes through the `unpack` SQL function (`SQL_TEXT`), which
the store registers on each of its connections: the columns of whole events, filters on
`inputs.*` and `outputs.*`, search, the search index and its triggers, session previews.
Tools that open the database file without hivelog see BLOBs there, and a DELETE of indexed
rows fails in the search index's trigger ("no such function: unpack") rather than corrupt it.

Measured on `bench/ingest.py`'s events (chat history in five languages): zlib level 1 keeps
37% of the bytes of these fields at ~20 µs of CPU per event, done in the request's thread
(`Store.encode_row`) and with the GIL released; level 6 keeps 36.9% for little more.
"""

from __future__ import annotations

import sqlite3
import zlib

PACKED = ("inputs", "outputs")  # the columns stored this way
PACK_FROM = 256  # bytes of JSON: shorter values stay text (a zlib stream costs ~10 bytes)
_LEVEL = 1
FUNCTION = "unpack"


def pack(text: str | None) -> str | bytes | None:
    """The stored form of a JSON text: compressed if that is shorter by a tenth, else as is."""
    if text is None or len(text) < PACK_FROM:
        return text
    data = text.encode()
    packed = zlib.compress(data, _LEVEL)
    return packed if len(packed) * 10 < len(data) * 9 else text


def unpack(value: str | bytes | None) -> str | None:
    """JSON text from a stored value of a PACKED column (the SQL function `unpack`)."""
    if isinstance(value, bytes):
        return zlib.decompress(value).decode()
    return value


def sql_text(column: str) -> str:
    """SQL reading `column` as JSON text: through `unpack` for a PACKED column."""
    return f"{FUNCTION}({column})" if column in PACKED else column


def register(conn: sqlite3.Connection) -> None:
    """Make `unpack` callable on `conn`: every connection of the store, and the retention
    pass's (its DELETEs run the search index's trigger)."""
    conn.create_function(FUNCTION, 1, unpack, deterministic=True)
