"""Fail closed: a database that has had API keys stays closed when the last one is revoked.

`keys_opened` records each `hivelog keys open`: the operator's explicit choice to let the
database run without keys again. `through_key` is the newest `api_keys.id` at that moment, so
a key created after the opening closes the database again (no clock is compared). The database
is closed when a key exists beyond the newest `through_key` (beyond 0 if never opened).
"""

SQLITE = """
CREATE TABLE keys_opened (
    id INTEGER PRIMARY KEY,
    opened_at INTEGER NOT NULL,
    through_key INTEGER NOT NULL
);
"""

POSTGRES = """
CREATE TABLE keys_opened (
    id BIGSERIAL PRIMARY KEY,
    opened_at BIGINT NOT NULL,
    through_key BIGINT NOT NULL
);
"""

# ClickHouse: no key ids, so `through_key` is the newest key's `created_at` (ms) at the opening.
CLICKHOUSE = """
CREATE TABLE IF NOT EXISTS keys_opened (
    opened_at Int64,
    through_key Int64
) ENGINE = MergeTree ORDER BY opened_at
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1
"""
