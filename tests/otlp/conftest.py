"""The OTLP suite runs on SQLite and PostgreSQL: "one trace, one session" (spans of a trace
moved into the session any of them names) is not implemented on ClickHouse yet
(docs/scaling.md). OTLP ingestion itself goes through the same store path as REST, which the
API suite runs on ClickHouse too."""

from __future__ import annotations

from tests.conftest import backend_fixture

backend = backend_fixture(("sqlite", "postgres"))
