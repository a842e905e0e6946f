"""The ClickHouse cluster schema (`hivelog migrate --cluster NAME`), checked as SQL text.

A cluster (Keeper, several servers) cannot run here, so the test checks what can be checked:
every statement parses with the real ClickHouse parser (chDB's `formatQuery`), every table
is a Replicated local table behind a Distributed table sharded so that one session stays on
one shard, and the materialized view reads and writes the local tables. The same schema on
one node runs in every chdb test.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from hivelog.store.clickhouse.connection import parse_rows
from hivelog.store.clickhouse.transport import ChdbTransport
from tests.conftest import HIVELOG


def _statements(*args: str) -> list[str]:
    done = subprocess.run(
        [HIVELOG, "migrate", "--print-sql", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("--"))
    return [s.strip() for s in text.split(";\n") if s.strip()]


def test_cluster_schema_is_replicated_distributed_and_parses(tmp_path: Path) -> None:
    single = _statements()
    clustered = _statements("--cluster", "hv")
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \(", "\n".join(single))
    assert {"events", "sessions_agg", "event_patches", "projects", "api_keys"} <= set(tables)
    text = "\n".join(clustered)
    for table in tables:
        local = re.search(
            rf"CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER 'hv' \(.*?ENGINE = "
            rf"Replicated\w*MergeTree\('/clickhouse/tables/{{shard}}/{{database}}/{table}_local', "
            rf"'{{replica}}'",
            text,
            re.DOTALL,
        )
        assert local, table
        assert f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER 'hv' AS {table}_local " in text
    assert (
        "Distributed('hv', currentDatabase(), events_local, cityHash64(project, session_id))"
        in text
    )
    assert (
        "Distributed('hv', currentDatabase(), sessions_agg_local, cityHash64(project, session_id))"
        in text
    )
    assert "event_patches_local, cityHash64(project, event_id))" in text
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/events_local', "
        "'{replica}', version)" in text
    )
    views = [s for s in clustered if "MATERIALIZED VIEW" in s]
    for target in ("sessions_agg", "event_ids"):
        view = next(s for s in views if f"ON CLUSTER 'hv' TO {target}_local AS" in s)
        assert "FROM events_local" in view
    assert "event_ids_local, cityHash64(project, event_id))" in text
    copies = [s for s in single if s.startswith("INSERT INTO ")]
    assert copies and all(c in clustered for c in copies)  # Distributed to Distributed
    assert "trace_sessions_local, cityHash64(project, trace_session))" in text
    alters = [s for s in single if s.startswith("ALTER TABLE ")]
    for alter in alters:  # a column added to the local tables and to the Distributed one
        head = f"ALTER TABLE {alter.split()[2]} "
        assert alter.replace(head, f"{head[:-1]}_local ON CLUSTER 'hv' ") in clustered
        assert alter.replace(head, f"{head}ON CLUSTER 'hv' ") in clustered
    # local + distributed per table and per ALTER, the views, the copies
    assert len(clustered) == 2 * len(tables) + 2 * len(alters) + len(views) + len(copies)
    engine = ChdbTransport(str(tmp_path / "parse"))
    try:
        for statement in clustered + single:
            out = engine.execute("SELECT formatQuery(?)", (statement,))
            assert parse_rows(out)[0][0], statement
    finally:
        engine.close()
