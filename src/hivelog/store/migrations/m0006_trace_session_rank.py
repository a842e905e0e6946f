"""Trace → session: how the session was named (`TraceLink.rank`), so that of several sessions
named in one trace every process keeps the same one, whatever order the spans come in.

0: a session attribute (`session.id`, `honeyhive.session_id`, …); 1: only a GenAI
conversation id (`gen_ai.conversation.id`). A trace maps to the least (rank, session id)
named by any of its spans (`TraceLink.prefers`); mappings recorded before this column were
all named by the first span seen, and keep rank 0.
"""

SQLITE = """
ALTER TABLE trace_sessions ADD COLUMN rank INTEGER NOT NULL DEFAULT 0;
"""

POSTGRES = """
ALTER TABLE trace_sessions ADD COLUMN rank INTEGER NOT NULL DEFAULT 0;
"""

# ClickHouse: no trace → session mapping yet (m0004); the column comes with it.
CLICKHOUSE = ""
