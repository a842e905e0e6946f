"""SQLite: an indexed row whose inputs or outputs change is re-indexed behind the writes too.

m0002 indexes new rows behind the writes but re-indexed a changed row inside the write, in
its update trigger: rare for REST updates, but every OTLP log record folded into its span's
event changes that event's `inputs` and `outputs` (chat history, answer), and trigram
indexing in the trigger was most of what a folded record cost the writer (measured: 59 → 22
µs of writer CPU per record on `bench/otlp.py`'s records-after-spans load).

Now the trigger only removes the row's old text from the index (it must: an external-content
FTS5 delete needs the exact text indexed) and lists the row in `search_stale`; the writer's
upkeep (`SqliteStore.background_work`) indexes listed rows as they are then and drops them
from the list. A row already listed has no text in the index, so a later change removes
nothing; deleting a listed row drops it from the list. A search takes listed rows as
candidates, as it takes rows above the indexed mark, and confirms each with its substring
test: results stay exact at every moment.
"""

SQLITE = """
CREATE TABLE search_stale (seq INTEGER PRIMARY KEY);
DROP TRIGGER events_fts_update;
CREATE TRIGGER events_fts_update AFTER UPDATE OF inputs, outputs ON events
WHEN old.seq <= (SELECT indexed_seq FROM search_state)
    AND (old.inputs IS NOT new.inputs OR old.outputs IS NOT new.outputs)
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, old.inputs, old.outputs
    WHERE (old.inputs IS NOT NULL OR old.outputs IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM search_stale WHERE seq = old.seq);
    INSERT OR IGNORE INTO search_stale (seq) VALUES (old.seq);
END;
DROP TRIGGER events_fts_delete;
CREATE TRIGGER events_fts_delete AFTER DELETE ON events
WHEN old.seq <= (SELECT indexed_seq FROM search_state)
BEGIN
    INSERT INTO events_fts (events_fts, rowid, inputs, outputs)
    SELECT 'delete', old.seq, old.inputs, old.outputs
    WHERE (old.inputs IS NOT NULL OR old.outputs IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM search_stale WHERE seq = old.seq);
    DELETE FROM search_stale WHERE seq = old.seq;
    UPDATE search_state SET indexed_seq = (SELECT coalesce(max(seq), 0) FROM events)
    WHERE indexed_seq > (SELECT coalesce(max(seq), 0) FROM events);
END;
"""

# PostgreSQL and ClickHouse keep no search index of their own to fill.
POSTGRES = ""

CLICKHOUSE = ""
