"""The base every part of the ClickHouse store builds on: the transport, migrations, projects,
and the SQL every read shares (the events of a project as the other backends store them).

Why a module of its own: each concern (writes, reads, UI views, keys, retention) is a mixin of
`ClickHouseBase`, so they, and mypy, see one transport, one project cache and one `_rows`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from hivelog.event import JSON_FIELDS
from hivelog.store import migrations
from hivelog.store.base import Project
from hivelog.store.clickhouse import cluster
from hivelog.store.clickhouse.transport import Transport, literal, open_transport

T = TypeVar("T")
log = logging.getLogger("hivelog.store.clickhouse")

# Project ids derived from the name, so processes that create the same project at the same
# moment (ClickHouse has no unique constraint to settle it) write the same row.
_PROJECT_NAMESPACE = uuid.UUID("6b1f4c1e-4f0c-4d0a-9a57-68697665c06f")

# Columns of every SELECT of whole events: rows.EVENT_COLUMNS (arrival as `seq`), then version.
REAL_COLUMNS = (
    "arrival AS seq, event_id, session_id, parent_id, event_type, event_name, source, "
    "start_time, end_time, duration, error, 0 AS placeholder, children_ids, config, inputs, "
    "outputs, metadata, feedback, metrics, user_properties, version"
)
SELECT = (
    "seq, event_id, session_id, parent_id, event_type, event_name, source, start_time, "
    "end_time, duration, error, placeholder, children_ids, config, inputs, outputs, metadata, "
    "feedback, metrics, user_properties, version"
)
VERSION_AT = 20  # index of `version` in a row of SELECT

_RETRIES = 3
# Every query: infinities and NaN (a stored duration, a sum past any float) as "inf"/"-inf"/
# "nan", which float() reads, instead of JSON null. And FINAL per day partition, after
# pruning the days a query's start-time bounds exclude (ClickHouse 26 defaults to merging
# across partitions and pruning after FINAL): exact because every stored row of an event has
# the same start time (the writer never stores a resend: Writes._first_arrivals).
# And a statement may be longer than the engine's default 256 KiB: a page of up to
# filters.MAX_LIMIT events names their ids, and their sessions', in IN lists.
READ_SETTINGS = {
    "max_query_size": 32 << 20,
    "output_format_json_quote_denormals": 1,
    "do_not_merge_across_partitions_select_final": 1,
    "defer_partition_pruning_after_final": 0,
}
_NULL_TEXT = "CAST(NULL AS Nullable(String))"
# A session known only from its events: what the other backends store as a placeholder row,
# named by an OTLP trace's root span if one named it (store/clickhouse/traces.py).
# Its arrival sorts just after the first event that named it (arrivals step by 2).
_PLACEHOLDERS = (
    "SELECT toUInt64({key}) AS project, a + 1 AS seq, session_id AS event_id, session_id, "
    f"{_NULL_TEXT} AS parent_id, 'session' AS event_type, "
    "if(nm = '', 'unknown', nm) AS event_name, "
    "src AS source, s AS start_time, e AS end_time, toFloat64(e - s) AS duration, "
    f"{_NULL_TEXT} AS error, 1 AS placeholder, "
    + ", ".join(f"{_NULL_TEXT} AS {c}" for c in ("children_ids", *JSON_FIELDS))
    + ", toUInt64(0) AS version FROM (SELECT session_id, assumeNotNull(min(first_start)) AS s, "
    "assumeNotNull(max(last_end)) AS e, argMinMerge(source) AS src, "
    "assumeNotNull(min(first_arrival)) AS a, argMinMerge(name) AS nm "
    "FROM sessions_agg WHERE project = {key}{only} "
    "GROUP BY session_id HAVING max(has_start) = 0 AND min(first_start) IS NOT NULL)"
)


# An event's UTC day, spelled as `event_ids`' materialized view computes it (m0010): the same
# expression on both sides, so a bound by that day holds exactly whatever the start time.
_DAY = "toDate(toDateTime(intDiv(start_time, 1000), 'UTC'))"


def events_of(
    key: int,
    placeholders: bool = True,
    sessions: Sequence[str] | None = None,
    event: str | None = None,
) -> str:
    """A subquery: the events of project `key` as every backend answers them — one row per
    stored event (`FINAL`), plus placeholder sessions — in SELECT's columns and `project`
    (the filter compiler's WHERE names it). With `sessions`, only the events of those
    sessions: a primary-key range each, only the day partitions between their first and last
    start time, and the placeholders of those sessions only, not of the whole project.

    The sessions' span is a scalar subquery of `sessions_agg` in the same statement: the
    engine runs it before it picks parts, so it prunes days as a literal would, without a
    round trip of its own (none of the sessions stored: a span of 0 to 0, no part read).
    With `event`, only the days `event_ids` holds that id on, likewise (a read of one event
    by id, whose session is unknown, reads one day's parts, not the project's every day)."""
    only = f" AND session_id IN {literal(list(sessions))}" if sessions is not None else ""
    real = f"SELECT project, {REAL_COLUMNS} FROM events FINAL WHERE project = {int(key)}{only}"
    if sessions is not None:
        real = (
            "WITH (SELECT (min(span_start), max(span_end)) FROM sessions_agg "
            f"WHERE project = {int(key)}{only}) AS span {real} "
            "AND start_time BETWEEN span.1 AND span.2"
        )
    elif event is not None:
        real = (
            "WITH (SELECT (min(day), max(day)) FROM event_ids WHERE project = "
            f"{int(key)} AND id_hash = halfMD5({literal(event)}) AND event_id = {literal(event)}) "
            f"AS days {real} AND {_DAY} BETWEEN days.1 AND days.2"
        )
    if not placeholders:
        return f"({real})"
    return f"({real} UNION ALL {_PLACEHOLDERS.format(key=int(key), only=only)})"


def project_key(name: str) -> int:
    """A 63-bit key from the project name: the same in every process, without coordination."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


def project_id_for(name: str) -> str:
    return str(uuid.uuid5(_PROJECT_NAMESPACE, name))


# Ids per query where a statement lists them: well under the engine's 256 KiB query size.
CHUNK = 2000


def chunked(items: Sequence[T]) -> list[list[T]]:
    """`items` in lists of at most CHUNK (a batch may hold any number of ids)."""
    return [list(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]


_decode_rows = msgspec.json.Decoder(list[list[Any]]).decode


def parse_rows(out: bytes) -> list[list[Any]]:
    """`JSONCompactEachRow` output → rows (one JSON array per line; strings hold no newline)."""
    if not out.strip():
        return []
    return _decode_rows(b"[" + out.strip().replace(b"\n", b",") + b"]")


class ClickHouseBase:
    """Transport, lifecycle, migrations and projects; the mixins add the rest."""

    dialect = "clickhouse"
    writers = 1  # one INSERT stream per process; the engine parallelises each INSERT itself

    def __init__(
        self, url: str, *, read_timeout_ms: int = 30_000, cluster: str | None = None
    ) -> None:
        self.url = url
        self.read_timeout_ms = read_timeout_ms
        self.cluster = cluster
        self._transport: Transport | None = None
        self._projects: dict[str, Project] = {}
        self._lock = threading.Lock()
        # keys.Keys: each key answer with the key tables' parts it was read at
        self._key_answers: dict[str, tuple[Any, Any]] = {}

    # ---- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        self._transport = open_transport(self.url)
        self.migrate()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError("store is not open")
        return self._transport

    def _query(
        self, sql: str, params: Sequence[Any] = (), settings: dict[str, Any] | None = None
    ) -> list[list[Any]]:
        """Rows of a query of the store's own (writes, upkeep, keys): no time limit."""
        return parse_rows(
            self.transport.execute(sql, params, None, {**READ_SETTINGS, **(settings or {})})
        )

    def _read(
        self, sql: str, params: Sequence[Any] = (), settings: dict[str, Any] | None = None
    ) -> list[list[Any]]:
        """Rows of a read a request asked for, stopped at `--read-timeout-ms` (a 400
        query_timeout, see transport.raise_engine_error)."""
        limit = {"max_execution_time": self.read_timeout_ms / 1000} if self.read_timeout_ms else {}
        return parse_rows(
            self.transport.execute(
                sql, params, None, {**READ_SETTINGS, **limit, **(settings or {})}
            )
        )

    def _command(
        self, sql: str, params: Sequence[Any] = (), settings: dict[str, Any] | None = None
    ) -> None:
        self.transport.execute(sql, params, None, settings)

    def _insert(self, sql: str, lines: list[bytes], settings: dict[str, Any]) -> None:
        """One INSERT; retried with the same deduplication token if the answer was lost."""
        data = b"\n".join(lines) + b"\n"
        token = {
            "insert_deduplication_token": uuid.uuid4().hex,
            **settings,
            **self.insert_settings(),
        }
        for attempt in range(_RETRIES):
            try:
                self.transport.execute(sql, (), data, token)
                return
            except OSError as exc:  # the connection broke: the INSERT may or may not be in
                if attempt == _RETRIES - 1:
                    raise
                log.warning("INSERT retried after %s", exc)
                time.sleep(0.05 * (attempt + 1))

    def _local(self, table: str) -> str:
        """Where a mutation (DELETE, DROP PARTITION) of `table` goes: the table itself on one
        node, its `_local` tables on every node of a cluster (Distributed tables take no
        mutations)."""
        if self.cluster is None:
            return table
        return f"{cluster.local(table)} ON CLUSTER {literal(self.cluster)}"

    def insert_settings(self) -> dict[str, Any]:
        """On a cluster, an INSERT returns once a quorum of the shard's replicas has the part
        (the 2xx-means-durable rule across machines); on one node the tables' fsync settings
        do it."""
        if self.cluster is None:
            return {}
        return {"distributed_foreground_insert": 1, "insert_quorum": "auto"}

    def schema_statements(self) -> list[tuple[str, list[str]]]:
        """(migration name, its statements) in order, spelled for one node or the cluster."""
        out = []
        for name, module in migrations.migrations():
            found = statements(migrations.sql_for(module, self.dialect))
            if self.cluster is not None:
                found = [c for s in found for c in cluster.cluster_statements(s, self.cluster)]
            out.append((name, found))
        return out

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; return the names applied now.

        Every statement is `IF NOT EXISTS`, so processes starting at once may both run a
        migration without harm; `schema_migrations` records what was applied.
        """
        ledger = (
            "CREATE TABLE IF NOT EXISTS schema_migrations (name String, applied_at Int64) "
            "ENGINE = ReplacingMergeTree ORDER BY name"
        )
        for statement in (
            [ledger] if self.cluster is None else cluster.cluster_statements(ledger, self.cluster)
        ):
            self._command(statement)
        done = {r[0] for r in self._query("SELECT name FROM schema_migrations FINAL")}
        applied: list[str] = []
        for name, found in self.schema_statements():
            if name in done:
                continue
            for statement in found:
                self._command(statement)
            self._command(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, int(time.time())),
                self.insert_settings(),
            )
            applied.append(name)
        return applied

    # ---- projects ---------------------------------------------------------------------------

    def _project_row(self, name: str) -> Project | None:
        rows = self._query(
            "SELECT key, project_id FROM projects WHERE name = ? "
            "ORDER BY created_at, project_id LIMIT 1",
            (name,),
        )
        return Project(key=int(rows[0][0]), project_id=rows[0][1], name=name) if rows else None

    def ensure_project(self, name: str, project_id: str | None = None) -> Project:
        """The project named `name`, created if new (`project_id` kept when given, as by
        `hivelog copy`); the oldest row wins should two be written at once."""
        project = self._projects.get(name)
        if project is not None:
            return project
        with self._lock:
            project = self._project_row(name)
            if project is None:
                self._command(
                    "INSERT INTO projects (key, project_id, name, created_at) VALUES (?, ?, ?, ?)",
                    (
                        project_key(name),
                        project_id or project_id_for(name),
                        name,
                        int(time.time() * 1000),
                    ),
                    self.insert_settings(),
                )
                project = self._project_row(name)
                assert project is not None
            self._projects[name] = project
        return project


def statements(script: str) -> list[str]:
    """A migration's statements: separated by a line holding only `;`."""
    out: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if line.strip() == ";":
            out.append("\n".join(current))
            current = []
        else:
            current.append(line)
    out.append("\n".join(current))
    return [s for s in out if s.strip()]
