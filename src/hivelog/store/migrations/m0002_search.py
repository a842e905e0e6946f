"""Full-text search over inputs and outputs, and an index for the session list.

Search: an FTS5 table over the `inputs` and `outputs` JSON text of every event, with the
`trigram` tokenizer. A word tokenizer (`unicode61`) splits on spaces and so cannot find a word
inside Japanese or Chinese text, which has none; trigrams find any substring of three or more
characters in any script, case-insensitively. It is an external-content table: the text lives
only in `events`. It keeps no positions (`detail=none`): measured on 20,000 mixed-language
events, 7 MB against 47 MB with positions, and filled 1.9× faster; a search uses it to find
candidate rows and confirms each one with a substring test (store/sqlite/search.py).

The index is filled behind the writes, not inside them: measured here, indexing ~1.8 KB of
mixed-language text per event inside the write transaction (an insert trigger) took ingestion
from 25,400 to 1,900 events/s (trigram) or 7,300 (unicode61). So the writer thread indexes new
rows in short slices when no write is waiting (`SqliteStore.background_work`), and
`search_state.indexed_seq` says how far it got; a search also scans the rows above that mark
directly, so results are complete at once and fast once the index has caught up. Rows already
indexed are kept in sync by triggers when their inputs or outputs change or they are deleted
(rare). Deleting the newest rows lowers the mark, as SQLite may hand their `seq` out again.

Session list: a partial index of session rows only, by start time, so "newest sessions first,
filtered" reads a few thousand session rows instead of a million events, and costs writes of
ordinary events nothing.

Charts: the time index also holds `event_type` and `duration`, so counts and latency charts
over a time range read the index alone instead of every ~2 KB row (a month of 1 M events:
avg latency per day 960 → 370 ms). Same number of indexes; each entry is ~15 bytes longer.

Statements here hold `;` inside trigger bodies: the runner splits on complete statements.
"""

SQLITE = """
CREATE VIRTUAL TABLE events_fts USING fts5(
    inputs, outputs, content='events', content_rowid='seq', tokenize='trigram', detail=none
);
CREATE TABLE search_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_seq INTEGER NOT NULL
);
INSERT INTO search_state (id, indexed_seq) VALUES (1, 0);
CREATE TRIGGER events_fts_delete AFTER DELETE ON events
WHEN old.seq <= (SELECT indexed_seq FROM search_state)
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, old.inputs, old.outputs
    WHERE old.inputs IS NOT NULL OR old.outputs IS NOT NULL;
    UPDATE search_state SET indexed_seq = (SELECT coalesce(max(seq), 0) FROM events)
    WHERE indexed_seq > (SELECT coalesce(max(seq), 0) FROM events);
END;
CREATE TRIGGER events_fts_update AFTER UPDATE OF inputs, outputs ON events
WHEN old.seq <= (SELECT indexed_seq FROM search_state)
    AND (old.inputs IS NOT new.inputs OR old.outputs IS NOT new.outputs)
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, old.inputs, old.outputs
    WHERE old.inputs IS NOT NULL OR old.outputs IS NOT NULL;
    INSERT INTO events_fts (rowid, inputs, outputs)
    SELECT new.seq, new.inputs, new.outputs
    WHERE new.inputs IS NOT NULL OR new.outputs IS NOT NULL;
END;
CREATE INDEX events_sessions ON events (project, start_time) WHERE event_type = 'session';
DROP INDEX events_by_time;
CREATE INDEX events_by_time ON events (project, start_time, event_type, duration);
"""

# PostgreSQL: the partial index is plain PostgreSQL. Search is left to the PostgreSQL backend;
# it needs the same meaning as SQLite's trigram FTS (case-insensitive substring of any
# script, every word must occur): `CREATE EXTENSION IF NOT EXISTS pg_trgm;` and a GIN index
#     CREATE INDEX events_search ON events
#       USING gin ((coalesce(inputs::text, '') || ' ' || coalesce(outputs::text, '')) gin_trgm_ops);
#   queried with `<that expression> ILIKE '%' || $n || '%'`
#   once per word (escape % and _ in the word). pg_trgm indexes non-ASCII text when the database
#   encoding is UTF-8 and LC_CTYPE is not C; words under 3 characters fall back to a scan, as in
#   SQLite. Measure the GIN index's cost on COPY first (GIN's fastupdate pending list defers
#   part of it); if it is as heavy as in SQLite, defer it the same way. A backend with nothing
#   to defer returns False from `Store.background_work`.
# The time index: `(project, start_time) INCLUDE (event_type, duration)` serves the same.
POSTGRES = """
CREATE INDEX events_sessions ON events (project, start_time) WHERE event_type = 'session';
DROP INDEX events_by_time;
CREATE INDEX events_by_time ON events (project, start_time) INCLUDE (event_type, duration);
"""

# ClickHouse: search scans inputs and outputs with a case-insensitive UTF-8 substring test
# (`positionCaseInsensitiveUTF8`), bounded by the date range and the read timeout; a token
# index would change what a search finds (see docs/scaling.md). Nothing to create.
CLICKHOUSE = ""
