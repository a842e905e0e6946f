"""Every event id a project holds, on ClickHouse: the first arrival wins whatever its session.

`events` is keyed by (project, session, event), so a resend found by that key alone missed
one that names another session, which was stored a second time, in that session. SQLite and
PostgreSQL key an event by (project, event) and keep the first arrival. `event_ids` is that
key: one small row per stored event, filled by a materialized view from `events` (every
INSERT into `events`, from any process, writes it in the same INSERT), which the writer looks
a batch's ids up in before its INSERT (store/clickhouse/writes.py `_first_arrivals`).

- Sorted by a 64-bit hash of the id (`halfMD5`), not the id: ids are random, so each id of a
  batch is a granule read of its own; a granule of hashes is a quarter of one of ids. The id
  is kept beside it, in the sort key, so two ids of one hash stay two rows and the writer
  checks the id itself.
- Not partitioned: every partition would be one more probe for each id. Retention deletes the
  rows of days before the cutoff (`day`, with a min-max index to find whether any is left);
  a deleted session deletes its ids first; a moved trace keeps them (the event still exists).
- The existing events are copied once; a process writing while another migrates writes an id
  twice at worst, which the ReplacingMergeTree collapses.
"""

SQLITE = ""

POSTGRES = ""

# Statements are separated by a line holding only `;`.
CLICKHOUSE = """
CREATE TABLE IF NOT EXISTS event_ids (
    project UInt64,
    id_hash UInt64,
    event_id String,
    day Date,
    INDEX event_ids_by_day day TYPE minmax GRANULARITY 4
) ENGINE = ReplacingMergeTree
PRIMARY KEY (project, id_hash)
ORDER BY (project, id_hash, event_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1, index_granularity = 256
;
CREATE MATERIALIZED VIEW IF NOT EXISTS event_ids_mv TO event_ids AS
SELECT project, halfMD5(event_id) AS id_hash, event_id,
    toDate(toDateTime(intDiv(start_time, 1000), 'UTC')) AS day
FROM events
;
INSERT INTO event_ids (project, id_hash, event_id, day)
SELECT DISTINCT project, halfMD5(event_id), event_id,
    toDate(toDateTime(intDiv(start_time, 1000), 'UTC'))
FROM events
"""
