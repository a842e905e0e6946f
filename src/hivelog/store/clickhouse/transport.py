"""The one seam between the ClickHouse store and an engine: `execute(sql, params, data)`.

Two transports implement it:

- `HttpTransport` — a ClickHouse server over its HTTP interface (`clickhouse://` or
  `clickhouses://` URLs), through `clickhouse-connect`'s raw query and insert calls. We use
  the library rather than hand-written HTTP because it already does what a production client
  must: a pooled keep-alive connection per thread, TLS with certificate checks, compressed
  transfers, the server's error codes parsed out of the response, and the server's version
  checked at connect. The store never uses its typed row APIs: it sends SQL text and reads
  `JSONCompactEachRow`, so both transports return exactly the same bytes.
- `ChdbTransport` — the embedded engine (`chdb:PATH`, PyPI `chdb-core`): the same ClickHouse
  SQL engine in-process, for a single-process analytics box and for the tests, so every
  statement the store sends runs on the real engine in CI.

Parameters are bound here, on the client side, into SQL literals (`?` marks, as in the
other stores' SQL); ClickHouse's `{name:Type}` parameters would need a type for every mark,
which the shared filter compiler does not know.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from hivelog.errors import Overloaded, QueryTimeout

# Engine errors that mean "too busy now, retry later" (a 503 with Retry-After, not a 500).
RETRYABLE_CODES = frozenset({252, 202, 241, 209, 210})  # TOO_MANY_PARTS,
# TOO_MANY_SIMULTANEOUS_QUERIES, MEMORY_LIMIT_EXCEEDED, SOCKET_TIMEOUT, NETWORK_ERROR
TIMEOUT_EXCEEDED = 159


class EngineError(Exception):
    """An error reported by ClickHouse, with its numeric code (0 when unknown)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


_CODE = re.compile(r"Code: (\d+)")


def error_code(message: str) -> int:
    m = _CODE.search(message)
    return int(m.group(1)) if m else 0


def raise_engine_error(message: str) -> None:
    code = error_code(message)
    if code == TIMEOUT_EXCEEDED:
        raise QueryTimeout(
            "the query ran longer than the read time limit and was stopped; "
            "narrow it with filters or a date range"
        )
    if code in RETRYABLE_CODES:
        raise Overloaded(f"ClickHouse is busy ({message[:200]}); retry shortly")
    raise EngineError(message, code)


class Transport(Protocol):
    """Runs one statement; returns the engine's output (`JSONCompactEachRow` for reads)."""

    def execute(
        self,
        sql: str,
        params: Sequence[Any] = (),
        data: bytes | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> bytes: ...

    def close(self) -> None: ...


# ---- parameters as literals ------------------------------------------------------------------

_encode_json = msgspec.json.Encoder().encode
_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\x00": "\\0", "\n": "\\n", "\r": "\\r"})


def literal(value: Any) -> str:
    """A Python value as a ClickHouse SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "'" + str(value).translate(_ESCAPES) + "'"


# From this many values on, `string_set` sends one JSON text instead of a list of literals.
_JSON_SET_FROM = 500


def string_set(values: Sequence[str]) -> str:
    """The right side of `x IN …` for these strings. Past a few hundred values, a JSON array
    in one string literal, expanded by the engine: the query analyzer spends microseconds on
    every element of a literal list (~19 ms of CPU for the 3,000 ids of a writer batch,
    ~6 ms this way), and the set built from the subquery still narrows a primary-key read.
    Fewer values stay a literal list, which narrows a primary-key read best."""
    if len(values) < _JSON_SET_FROM:
        return literal(list(values))
    return f"(SELECT arrayJoin({_string_array(values)}))"


def hash_set(values: Sequence[str], function: str) -> str:
    """The right side of `column IN …` for `function(value)` of these strings, the engine
    hashing them (a key of hashes is read for a set of hashes)."""
    return f"(SELECT {function}(arrayJoin({_string_array(values)})))"


def _string_array(values: Sequence[str]) -> str:
    """An Array(String) expression: literal elements, or past a few hundred one JSON text."""
    if len(values) < _JSON_SET_FROM:
        return literal(list(values))
    text = literal(_encode_json(list(values)).decode())
    return f"JSONExtract({text}, 'Array(String)')"


_MARK_OR_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\?", re.DOTALL)


def bind(sql: str, params: Sequence[Any]) -> str:
    """`sql` with each `?` outside string literals replaced by the next parameter, as a
    literal (so literals already inlined may hold `?`)."""
    if not params:
        return sql
    values = iter(params)
    used = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal used
        if m.group(0) != "?":
            return m.group(0)
        used += 1
        try:
            return literal(next(values))
        except StopIteration:
            raise ValueError("more marks than parameters") from None

    out = _MARK_OR_STRING.sub(replace, sql)
    if used != len(params):
        raise ValueError(f"{used} marks for {len(params)} parameters")
    return out


def settings_clause(settings: Mapping[str, Any] | None) -> str:
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(f"{k} = {literal(v)}" for k, v in settings.items())


# ---- the embedded engine ---------------------------------------------------------------------


class ChdbTransport:
    """The embedded engine on a data directory; one process may open a directory at a time.

    INSERT rows go to the engine as a stream beside the statement (chDB's `send_insert`),
    as a server reads them from a request body, never inside the statement's text: rows in
    the text are lexed as SQL first (JSONCompactEachRow into a `Null` table: 12–13 µs of
    CPU per ~2 KB row inline, ~4 streamed), and chDB ends inline data at the first empty
    line (so binary formats could not go inline at all). A stream blocks other statements
    on its connection, so the streams have a session of their own on the same directory
    (the same engine), one stream at a time."""

    def __init__(self, path: str) -> None:
        from chdb import session  # the `clickhouse` extra

        self.path = path
        try:
            self._session: Any = session.Session(path)  # type: ignore[no-untyped-call]
        except RuntimeError as exc:
            raise EngineError(
                f"cannot open chdb:{path}: {exc}. The embedded engine opens a data directory "
                "in one process at a time: stop the process using it (e.g. `hivelog serve`), "
                "or serve the data from a ClickHouse server (clickhouse://)"
            ) from exc
        self._lock = threading.Lock()
        self._inserts: Any = None  # the session of INSERT streams, opened on the first
        self._insert_lock = threading.Lock()

    def execute(
        self,
        sql: str,
        params: Sequence[Any] = (),
        data: bytes | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> bytes:
        text = bind(sql, params)
        if data is not None:
            # INSERT … SETTINGS …, then the rows in format X (the settings precede FORMAT).
            head, _, fmt = text.rpartition(" FORMAT ")
            self._stream(head + settings_clause(settings), fmt, data)
            return b""
        try:
            result = self._session.query(text + settings_clause(settings), "JSONCompactEachRow")
        except Exception as exc:
            raise_engine_error(str(exc))
            raise
        return bytes(result.bytes())

    def _stream(self, statement: str, fmt: str, data: bytes) -> None:
        with self._insert_lock:
            if self._inserts is None:
                from chdb import session

                self._inserts = session.Session(self.path)  # type: ignore[no-untyped-call]
            try:
                inserter = self._inserts.send_insert(statement, fmt)
            except Exception as exc:
                raise_engine_error(str(exc))
                raise
            try:
                inserter.append(data)
                inserter.finish()
            except Exception as exc:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    inserter.cancel()  # no commit of a failed stream; a no-op after finish
                raise_engine_error(str(exc))
                raise

    def close(self) -> None:
        with self._lock, self._insert_lock:
            if self._inserts is not None:
                self._inserts.close()
                self._inserts = None
            self._session.close()


# ---- a server over HTTP ----------------------------------------------------------------------


class HttpTransport:
    """A ClickHouse server's HTTP interface, one `clickhouse-connect` client per thread."""

    def __init__(self, url: str) -> None:
        self.options = http_options(url)
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._settings: frozenset[str] | None = None  # the server's, read once

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            import clickhouse_connect  # the `clickhouse` extra

            client = clickhouse_connect.get_client(**self.options)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def execute(
        self,
        sql: str,
        params: Sequence[Any] = (),
        data: bytes | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> bytes:
        from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

        text = bind(sql, params)
        if settings:
            settings = self._known(settings)
        if data is not None:  # settings inside the statement, before FORMAT
            head, _, fmt = text.rpartition(" FORMAT ")
            text = f"{head}{settings_clause(settings)} FORMAT {fmt}"
        elif settings:
            text += settings_clause(settings)
        try:
            if data is not None:  # the statement in the URL, the rows as the body
                self._client().command(text, data=data)
                return b""
            if not text.lstrip().upper().startswith(("SELECT", "WITH")):  # DDL, DELETE, INSERT
                self._client().command(text)
                return b""
            return bytes(self._client().raw_query(text, fmt="JSONCompactEachRow"))
        except OperationalError as exc:  # unreachable or timed out: retryable
            if "code:" not in str(exc).lower():
                raise Overloaded(f"ClickHouse did not answer ({str(exc)[:200]})") from exc
            raise_engine_error(str(exc))
            raise
        except ClickHouseError as exc:
            raise_engine_error(str(exc))
            raise

    def _known(self, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        """`settings` less those this server does not know (an older server refuses a query
        naming a setting added since, e.g. `defer_partition_pruning_after_final`)."""
        if self._settings is None:
            rows = self._client().raw_query("SELECT name FROM system.settings FORMAT TabSeparated")
            self._settings = frozenset(bytes(rows).decode().split())
        return {k: v for k, v in settings.items() if k in self._settings}

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()


def http_options(url: str) -> dict[str, Any]:
    """`clickhouse[s]://[user:password@]host[:port]/database[?secure=1]` → client options."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    secure = parts.scheme == "clickhouses" or query.get("secure", "") in ("1", "true", "yes")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or (8443 if secure else 8123),
        "username": urllib.parse.unquote(parts.username or "default"),
        "password": urllib.parse.unquote(parts.password or ""),
        "database": parts.path.strip("/") or "default",
        "secure": secure,
        "compress": False,
        "autogenerate_session_id": False,
        "query_limit": 0,
    }


def open_transport(db: str) -> Transport:
    if db.startswith("chdb:"):
        from pathlib import Path

        path = Path(db.removeprefix("chdb:")).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return ChdbTransport(str(path))
    return HttpTransport(db)


def display(db: str) -> str:
    """The database without any password in it."""
    if db.startswith("chdb:"):
        return db
    parts = urllib.parse.urlsplit(db)
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{parts.hostname}:{parts.port or ''}{parts.path}"
