"""Retention reaches everything a session leaves behind.

SQLite's `pending_updates` gets the `received_at` PostgreSQL's always had, so updates parked
for an event that never comes expire with `--retention-days` (rows parked before this
migration count as received when it ran). Both backends index `trace_sessions` by the session
it points to, so expiring a session removes its trace mappings without a scan.
"""

SQLITE = """
ALTER TABLE pending_updates ADD COLUMN received_at INTEGER NOT NULL DEFAULT 0;
UPDATE pending_updates SET received_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
CREATE INDEX pending_by_age ON pending_updates (project, received_at);
CREATE INDEX trace_sessions_by_session ON trace_sessions (project, session_id);
"""

POSTGRES = """
CREATE INDEX trace_sessions_by_session ON trace_sessions (project, session_id);
"""

# ClickHouse keeps patches, not parked rows, and drops whole day partitions: nothing to add.
CLICKHOUSE = ""
