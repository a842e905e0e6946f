"""The OTLP suite runs on every backend (the `backend` fixture of tests/conftest.py): one
trace, one session included, which ClickHouse reaches without transactions or locks
(store/clickhouse/traces.py, docs/scaling.md)."""
