"""API keys on ClickHouse (for hivelog.auth): create, list, revoke, and the active ones.

A key is a row of `api_keys` (ReplacingMergeTree by `key_id`); revoking inserts a newer
version of the row with `revoked_at` set, read back with `FINAL`.

Every server process re-reads the active keys and the closed state every second
(auth.KeyRing). On ClickHouse those two reads (a `FINAL` join and a subquery) cost ~10 ms of
engine CPU a second, so their answers are kept while the active parts of the tables they
read are the same: every INSERT, merge or delete of a table changes its parts' names, so
one read of `system.parts` (~2 ms) tells whether anything changed, in any process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hivelog.store.base import ApiKey, Project
from hivelog.store.clickhouse.connection import ClickHouseBase

_KEY_SELECT = (
    "SELECT k.key_id, k.project, p.project_id, p.name, k.name, k.prefix, k.key_hash, "
    "k.created_at, k.revoked_at FROM api_keys AS k FINAL INNER JOIN "
    "(SELECT key, argMin(project_id, (created_at, project_id)) AS project_id, any(name) AS name "
    "FROM projects GROUP BY key) AS p ON p.key = k.project"
)
_INSERT = (
    "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at, revoked_at, "
    "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        key_id=row[0],
        project=Project(key=int(row[1]), project_id=row[2], name=row[3]),
        name=row[4],
        prefix=row[5],
        key_hash=row[6],
        created_at=int(row[7]),
        revoked_at=None if row[8] is None else int(row[8]),
    )


# The tables the key answers read; their active parts name their contents.
_PARTS = (
    "SELECT groupArray((table, name, modification_time, rows)) FROM "
    "(SELECT table, name, modification_time, rows FROM system.parts "
    "WHERE database = currentDatabase() AND table IN ('api_keys', 'keys_opened', 'projects') "
    "AND active ORDER BY table, name)"
)


class Keys(ClickHouseBase):
    def _unchanged(self, what: str) -> tuple[Any, Any]:
        """(the key tables' parts now, the answer `what` gave at those parts or None). On a
        cluster the parts are spread over nodes, so nothing is kept there."""
        if self.cluster is not None:
            return None, None
        parts = self._query(_PARTS)[0][0]
        seen, answer = self._key_answers.get(what, (None, None))
        return parts, answer if seen == parts else None

    def _keep(self, what: str, parts: Any, answer: Any) -> None:
        if parts is not None:
            self._key_answers[what] = (parts, answer)

    def create_key(
        self, project: str, name: str | None, key_id: str, prefix: str, key_hash: str
    ) -> ApiKey:
        now = int(time.time() * 1000)
        p = self.ensure_project(project)
        self._command(_INSERT, (key_id, p.key, name, prefix, key_hash, now, None, 1))
        return ApiKey(key_id, p, name, prefix, key_hash, now)

    def list_keys(self) -> list[ApiKey]:
        return [_api_key(r) for r in self._query(_KEY_SELECT + " ORDER BY k.created_at, k.key_id")]

    def revoke_key(self, key_id: str) -> bool:
        rows = self._query(_KEY_SELECT + " WHERE k.key_id = ? AND k.revoked_at IS NULL", (key_id,))
        if not rows:
            return False
        k = _api_key(rows[0])
        self._command(
            _INSERT,
            (
                k.key_id,
                k.project.key,
                k.name,
                k.prefix,
                k.key_hash,
                k.created_at,
                int(time.time() * 1000),
                2,
            ),
        )
        return True

    def active_keys(self) -> list[ApiKey]:
        parts, rows = self._unchanged("active")
        if rows is None:
            rows = self._query(_KEY_SELECT + " WHERE k.revoked_at IS NULL")
            self._keep("active", parts, rows)
        return [_api_key(r) for r in rows]

    def keys_closed(self) -> bool:
        parts, rows = self._unchanged("closed")
        if rows is None:
            rows = self._query(
                "SELECT count() > 0 FROM api_keys FINAL WHERE created_at > "
                "(SELECT if(count() = 0, -1, max(through_key)) FROM keys_opened)"
            )
            self._keep("closed", parts, rows)
        return bool(rows and int(rows[0][0]))

    def open_without_keys(self) -> bool:
        if self.active_keys():
            return False
        self._command(
            "INSERT INTO keys_opened (opened_at, through_key) SELECT ?, "
            "ifNull(max(created_at), 0) FROM api_keys",
            (int(time.time() * 1000),),
            self.insert_settings(),
        )
        return True
