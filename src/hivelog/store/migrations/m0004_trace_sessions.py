"""Trace → session: one OTLP trace, one session (see "One trace, one session" in store/base.py).

`trace_session` is the session a trace's spans go to while none of them names one (the trace
id as a UUID); `session_id` the session a span of the trace named first. Consulted on every
insert of OTLP spans, so later spans of the trace go there too, and written (insert-if-absent)
inside the write transaction that moves the spans already stored.
"""

SQLITE = """
CREATE TABLE trace_sessions (
    project INTEGER NOT NULL,
    trace_session TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (project, trace_session)
) WITHOUT ROWID;
"""

POSTGRES = """
CREATE TABLE trace_sessions (
    project INTEGER NOT NULL,
    trace_session TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (project, trace_session)
);
"""

# ClickHouse: the trace → session mapping is not implemented on ClickHouse yet (spans of one
# trace are stored under the session each names; see docs/scaling.md). Nothing to create.
CLICKHOUSE = ""
