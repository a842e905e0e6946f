"""SQLite: inputs and outputs may be stored packed (store/packing.py), so the search index's
triggers hand FTS5 the text through `unpack`.

An external-content FTS5 table must be told the exact text it indexed when a row leaves the
index; with packed columns that text is `unpack(old.inputs)`, not the stored BLOB. Rows
written before this migration hold JSON text, which `unpack` returns as it is.
"""

SQLITE = """
DROP TRIGGER events_fts_update;
CREATE TRIGGER events_fts_update AFTER UPDATE OF inputs, outputs ON events
WHEN old.seq <= (SELECT indexed_seq FROM search_state)
    AND (old.inputs IS NOT new.inputs OR old.outputs IS NOT new.outputs)
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, unpack(old.inputs), unpack(old.outputs)
    WHERE (old.inputs IS NOT NULL OR old.outputs IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM search_stale WHERE seq = old.seq);
    INSERT OR IGNORE INTO search_stale (seq) VALUES (old.seq);
END;
DROP TRIGGER events_fts_delete;
CREATE TRIGGER events_fts_delete AFTER DELETE ON events
WHEN old.seq <= (SELECT indexed_seq FROM search_state)
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, unpack(old.inputs), unpack(old.outputs)
    WHERE (old.inputs IS NOT NULL OR old.outputs IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM search_stale WHERE seq = old.seq);
    DELETE FROM search_stale WHERE seq = old.seq;
    UPDATE search_state SET indexed_seq = (SELECT coalesce(max(seq), 0) FROM events)
    WHERE indexed_seq > (SELECT coalesce(max(seq), 0) FROM events);
END;
"""

# PostgreSQL compresses large values itself (TOAST) and ClickHouse every column.
POSTGRES = ""

CLICKHOUSE = ""
