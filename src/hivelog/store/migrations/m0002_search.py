"""Full-text search over inputs and outputs, and an index for the session list.

Search: an FTS5 table over the `inputs` and `outputs` JSON text of every event, with the
`trigram` tokenizer. A word tokenizer (`unicode61`) splits on spaces and so cannot find a word
inside Japanese or Chinese text, which has none; trigrams find any substring of three or more
characters in any script, case-insensitively. It is an external-content table (the text lives
only in `events`), kept in sync by triggers, so the write path needs no change and a rebuilt
index can never disagree with the rows. Updates re-index only when inputs or outputs changed.

Session list: a partial index of session rows only, by start time, so "newest sessions first,
filtered" reads a few thousand session rows instead of a million events, and costs writes of
ordinary events nothing.

Statements here hold `;` inside trigger bodies: the runner splits on complete statements.
"""

SQLITE = """
CREATE VIRTUAL TABLE events_fts USING fts5(
    inputs, outputs, content='events', content_rowid='seq', tokenize='trigram'
);
CREATE TRIGGER events_fts_insert AFTER INSERT ON events
WHEN new.inputs IS NOT NULL OR new.outputs IS NOT NULL
BEGIN
    INSERT INTO events_fts (rowid, inputs, outputs) VALUES (new.seq, new.inputs, new.outputs);
END;
CREATE TRIGGER events_fts_delete AFTER DELETE ON events
WHEN old.inputs IS NOT NULL OR old.outputs IS NOT NULL
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    VALUES ('delete', old.seq, old.inputs, old.outputs);
END;
CREATE TRIGGER events_fts_update AFTER UPDATE OF inputs, outputs ON events
WHEN old.inputs IS NOT new.inputs OR old.outputs IS NOT new.outputs
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, old.inputs, old.outputs
    WHERE old.inputs IS NOT NULL OR old.outputs IS NOT NULL;
    INSERT INTO events_fts (rowid, inputs, outputs)
    SELECT new.seq, new.inputs, new.outputs
    WHERE new.inputs IS NOT NULL OR new.outputs IS NOT NULL;
END;
INSERT INTO events_fts (events_fts) VALUES ('rebuild');
CREATE INDEX events_sessions ON events (project, start_time) WHERE event_type = 'session';
"""

# PostgreSQL: the partial index is plain PostgreSQL. Search is left to the PostgreSQL backend;
# it needs the same meaning as SQLite's trigram FTS (case-insensitive substring of any
# script, every word must occur): `CREATE EXTENSION IF NOT EXISTS pg_trgm;` and a GIN index
#     CREATE INDEX events_search ON events
#       USING gin ((coalesce(inputs::text, '') || ' ' || coalesce(outputs::text, '')) gin_trgm_ops);
#   queried with `<that expression> ILIKE '%' || $n || '%'`
#   once per word (escape % and _ in the word). pg_trgm indexes non-ASCII text when the database
#   encoding is UTF-8 and LC_CTYPE is not C; words under 3 characters fall back to a scan, as in
#   SQLite. No triggers are needed: the expression index follows the rows.
POSTGRES = """
CREATE INDEX events_sessions ON events (project, start_time) WHERE event_type = 'session';
"""
