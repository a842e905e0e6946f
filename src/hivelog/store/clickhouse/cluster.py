"""The schema on a ClickHouse cluster: `ON CLUSTER`, `Replicated*` engines, `Distributed` tables.

The migrations hold the single-node DDL; `cluster_statements` respells each statement for a
cluster, so both layouts come from one text and cannot drift apart:

- every table `T` becomes `T_local` on every node, with the `Replicated` form of its engine
  (replicas of a shard kept in step through ClickHouse Keeper), and `T` becomes a
  `Distributed` table over the `T_local`s, so the store's SQL is the same in both layouts;
- events and `sessions_agg` are sharded by `cityHash64(project, session_id)`: every event and
  every version of an event of one session lives on one shard, so `FINAL` merges shard-locally
  and a session is read from one shard; patches by `cityHash64(project, event_id)` (an update
  does not name its session); the small tables (projects, keys, migrations) on shard 1;
- the materialized view runs on each shard, from `events_local` into `sessions_agg_local`;
- an `ALTER TABLE T` (a column added) changes `T_local` and the `Distributed` `T` alike;
- the trace → session mapping by `cityHash64(project, trace_session)`;
- `event_ids` is filled by its view on the events' shard; its Distributed table (the writer's
  lookup, which reads every shard, and the migration's one-time copy) spreads by event id;
- an `INSERT … SELECT` (a migration's copy) goes from Distributed table to Distributed table,
  spelled as on one node.

This layout is checked as SQL text (tests/storage/test_cluster_ddl.py); it cannot run here
(no Keeper, no server with TCP), see docs/scaling.md.
"""

from __future__ import annotations

import re

SHARDING = {
    "events": "cityHash64(project, session_id)",
    "sessions_agg": "cityHash64(project, session_id)",
    "event_patches": "cityHash64(project, event_id)",
    "trace_sessions": "cityHash64(project, trace_session)",
    "event_ids": "cityHash64(project, event_id)",
}
_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \(")
_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS")
_ALTER = re.compile(r"ALTER TABLE (\w+) ")
_FROM = re.compile(r"\bFROM (\w+)\b")
_ENGINE = re.compile(r"ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?")


def local(table: str) -> str:
    return f"{table}_local"


def _replicated(m: re.Match[str], table: str) -> str:
    engine, args = m.group(1), m.group(2)
    path = f"'/clickhouse/tables/{{shard}}/{{database}}/{local(table)}', '{{replica}}'"
    return f"ENGINE = Replicated{engine}({path}{', ' + args if args else ''})"


def cluster_statements(statement: str, cluster: str) -> list[str]:
    """One single-node statement as the statements that make it on `cluster`."""
    on = f"ON CLUSTER '{cluster}'"
    created = _CREATE.search(statement)
    if created:
        table = created.group(1)
        body = _CREATE.sub(f"CREATE TABLE IF NOT EXISTS {local(table)} {on} (", statement, 1)
        body = _ENGINE.sub(lambda m: _replicated(m, table), body, 1)
        key = SHARDING.get(table, "0")
        dist = (
            f"CREATE TABLE IF NOT EXISTS {table} {on} AS {local(table)} "
            f"ENGINE = Distributed('{cluster}', currentDatabase(), {local(table)}, {key})"
        )
        return [body, dist]
    view = _VIEW.search(statement)
    if view:
        name, target = view.group(1), view.group(2)
        body = _VIEW.sub(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} {on} TO {local(target)} AS",
            statement,
            1,
        )
        return [_FROM.sub(lambda m: f"FROM {local(m.group(1))}", body)]
    altered = _ALTER.match(statement)
    if altered:
        table = altered.group(1)
        return [
            _ALTER.sub(f"ALTER TABLE {local(table)} {on} ", statement, 1),
            _ALTER.sub(f"ALTER TABLE {table} {on} ", statement, 1),
        ]
    if statement.lstrip().startswith("INSERT INTO "):
        return [statement]
    raise ValueError(f"no cluster spelling for: {statement[:80]}")
