"""The embedded SQLite backend (the default): one process, one writer, durable commits.

`SqliteStore` is assembled from one part per concern: writes, event reads, API keys, and the
web UI's reads with the search index upkeep, and what `hivelog copy` reads and writes.
"""

from __future__ import annotations

from hivelog.store.sqlite.connection import statements
from hivelog.store.sqlite.copying import SqliteCopying
from hivelog.store.sqlite.keys import SqliteKeys
from hivelog.store.sqlite.reads import SqliteReads
from hivelog.store.sqlite.views import SqliteViews
from hivelog.store.sqlite.writes import SqliteWrites


class SqliteStore(SqliteWrites, SqliteReads, SqliteKeys, SqliteViews, SqliteCopying):
    """The Store protocol (store/base.py) on SQLite."""


__all__ = ["SqliteStore", "statements"]
