"""The reliability suite (floods, kills, slow clients, limits) runs on SQLite and PostgreSQL:
its time and memory bounds are set for them. On ClickHouse, durability rests on the engine's
fsync settings and the writer's acknowledgement after the INSERT (docs/scaling.md); this suite
is not run on it yet."""

from __future__ import annotations

from tests.conftest import backend_fixture

backend = backend_fixture(("sqlite", "postgres"))
