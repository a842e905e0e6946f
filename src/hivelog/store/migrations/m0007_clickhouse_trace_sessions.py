"""One trace, one session on ClickHouse (store/clickhouse/traces.py).

SQLite and PostgreSQL keep the trace → session mapping in `trace_sessions` (m0004) and move
spans inside a transaction. ClickHouse has neither transactions nor unique keys, so:

- `trace_sessions` keeps every session any span of a trace named, one row per (trace,
  session), with how it was named (`rank`, m0006); the trace's session is the least (rank,
  session) of its rows (`TraceLink.prefers`), the same in every process whatever it has seen
  and whatever order the rows came in;
- `sessions_agg.name` is the name a placeholder session takes (the trace's root span name),
  the first given (argMin by arrival), as the other backends name their placeholder rows.
"""

SQLITE = ""

POSTGRES = ""

# Statements are separated by a line holding only `;`.
CLICKHOUSE = """
CREATE TABLE IF NOT EXISTS trace_sessions (
    project UInt64,
    trace_session String,
    session_id String,
    rank UInt8
) ENGINE = ReplacingMergeTree
ORDER BY (project, trace_session, session_id, rank)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1
;
ALTER TABLE sessions_agg ADD COLUMN IF NOT EXISTS name AggregateFunction(argMin, String, UInt64)
"""
