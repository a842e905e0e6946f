"""Retention on ClickHouse: old day partitions dropped whole, old sessions' young rows deleted.

Why a module of its own: retention runs in the background (hivelog.store.retention calls
`expire` step by step). A session that started before the cutoff goes with all its events, as
on the other backends: first the rows such sessions still have in days after the cutoff are
deleted (a bounded lightweight DELETE per step), then every day partition before the cutoff
is dropped as a whole. Dropping a partition that another process dropped first is a no-op.
The trace → session mappings of expired sessions go with them (a late span of an expired
trace starts a session of its own again, as on the other backends).
"""

from __future__ import annotations

from hivelog.store.clickhouse.connection import ClickHouseBase, log
from hivelog.store.clickhouse.transport import literal

DAY_MS = 86_400_000
# Tables partitioned by day (True) or by month: partitions before the cutoff are dropped.
_PARTITIONED = {"events": True, "sessions_agg": False, "event_patches": True}
# Tables whose rows of days before the cutoff are deleted: those of the cutoff's month in
# `sessions_agg`, all of them in `event_ids` (not partitioned, see migration m0010).
_DELETED_BY_DAY = ("sessions_agg", "event_ids")
_SYNC = {"mutations_sync": 2, "lightweight_deletes_sync": 2}


class Expiry(ClickHouseBase):
    def expire(self, before_ms: int, chunk: int = 500) -> int:
        """One bounded step of retention; returns how much it removed (0: nothing left)."""
        day_start = (before_ms // DAY_MS) * DAY_MS
        old = self._query(
            "SELECT project, session_id FROM sessions_agg GROUP BY project, session_id "
            "HAVING max(span_end) >= ? AND ((max(has_start) = 1 AND (project, session_id) IN "
            "(SELECT project, event_id FROM events WHERE event_id = session_id "
            "AND start_time < ?)) OR (max(has_start) = 0 AND min(first_start) < ?)) LIMIT ?",
            (day_start, before_ms, before_ms, chunk),
        )
        if old:
            pairs = "[" + ", ".join(f"({int(k)}, {literal(s)})" for k, s in old) + "]"
            for table in ("event_patches", "event_ids"):  # by the events' ids: before them
                self.transport.execute(
                    f"DELETE FROM {self._local(table)} WHERE (project, event_id) IN "
                    "(SELECT project, "
                    f"event_id FROM events WHERE (project, session_id) IN {pairs})",
                    (),
                    None,
                    _SYNC,
                )
            for table in ("events", "sessions_agg", "trace_sessions"):
                self.transport.execute(
                    f"DELETE FROM {self._local(table)} WHERE (project, session_id) IN {pairs}",
                    (),
                    None,
                    _SYNC,
                )
            return len(old)
        cutoff = self._query(
            "SELECT toYYYYMMDD(toDateTime(intDiv(?, 1000), 'UTC')), "
            "toYYYYMM(toDateTime(intDiv(?, 1000), 'UTC'))",
            (day_start, day_start),
        )
        removed = 0
        parts = "system.parts"
        if self.cluster is not None:
            parts = f"clusterAllReplicas({literal(self.cluster)}, system.parts)"
        for table, daily in _PARTITIONED.items():
            before = cutoff[0][0] if daily else cutoff[0][1]
            stored = table if self.cluster is None else f"{table}_local"
            for (partition,) in self._query(
                f"SELECT DISTINCT partition_id FROM {parts} WHERE database = currentDatabase() "
                "AND table = ? AND active AND partition_id < ?",
                (stored, str(before)),
            ):
                self._command(
                    f"ALTER TABLE {self._local(table)} DROP PARTITION ID {literal(partition)}"
                )
                log.info("retention dropped %s partition %s", table, partition)
                removed += 1
        for table in _DELETED_BY_DAY:
            if self._query(
                f"SELECT 1 FROM {table} WHERE day < toDate(toDateTime(intDiv(?, 1000), 'UTC')) "
                "LIMIT 1",
                (day_start,),
            ):
                self.transport.execute(
                    f"DELETE FROM {self._local(table)} "
                    "WHERE day < toDate(toDateTime(intDiv(?, 1000), 'UTC'))",
                    (day_start,),
                    None,
                    _SYNC,
                )
                removed += 1
        if removed:  # the trace → session mappings of sessions dropped with their days
            self.transport.execute(
                f"DELETE FROM {self._local('trace_sessions')} WHERE (project, session_id) "
                "NOT IN (SELECT project, session_id FROM sessions_agg)",
                (),
                None,
                _SYNC,
            )
        return removed
