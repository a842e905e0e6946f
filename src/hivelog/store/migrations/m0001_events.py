"""Projects, events and updates waiting for their event.

Events are keyed by an integer in arrival order (a random-UUID clustered key halves write
throughput as the table grows); the client's `event_id` lives in a unique secondary index that
leads with the project, like every index here. `placeholder` marks a session created only
because an event referenced it; the real session start replaces it.
"""

SQLITE = """
CREATE TABLE projects (
    key INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    project INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    parent_id TEXT,
    event_type TEXT NOT NULL,
    event_name TEXT NOT NULL,
    source TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    duration REAL NOT NULL,
    error TEXT,
    placeholder INTEGER NOT NULL DEFAULT 0,
    children_ids TEXT,
    config TEXT,
    inputs TEXT,
    outputs TEXT,
    metadata TEXT,
    feedback TEXT,
    metrics TEXT,
    user_properties TEXT
);
CREATE UNIQUE INDEX events_by_id ON events (project, event_id);
CREATE INDEX events_by_session ON events (project, session_id, parent_id);
CREATE INDEX events_by_time ON events (project, start_time);
CREATE TABLE pending_updates (
    seq INTEGER PRIMARY KEY,
    project INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX pending_by_event ON pending_updates (project, event_id);
"""
