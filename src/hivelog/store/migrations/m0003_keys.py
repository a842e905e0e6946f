"""API keys, each scoped to one project, stored only as a SHA-256 hash.

A key is shown once when created and never stored in clear: `key_hash` is the hex SHA-256 of
the whole key (keys are 32 random bytes, so a plain hash is enough; no salt or slow hash is
needed against guessing). `prefix` is the first characters of the key, shown by
`hivelog keys list` so a person can tell keys apart. A revoked key keeps its row
(`revoked_at` set) so the list shows what was revoked and when.
"""

SQLITE = """
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    project INTEGER NOT NULL REFERENCES projects (key),
    name TEXT,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_by_project ON api_keys (project);
"""

POSTGRES = """
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    project INTEGER NOT NULL REFERENCES projects (key),
    name TEXT,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_project ON api_keys (project);
"""

# ClickHouse: revoking writes a newer version of the key's row (`version` 2, `revoked_at` set).
CLICKHOUSE = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id String,
    project UInt64,
    name Nullable(String),
    prefix String,
    key_hash String,
    created_at Int64,
    revoked_at Nullable(Int64),
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY key_id
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1
"""
