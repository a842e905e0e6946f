"""API keys on ClickHouse (for hivelog.auth): create, list, revoke, and the active ones.

A key is a row of `api_keys` (ReplacingMergeTree by `key_id`); revoking inserts a newer
version of the row with `revoked_at` set, read back with `FINAL`.
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


class Keys(ClickHouseBase):
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
        return [_api_key(r) for r in self._query(_KEY_SELECT + " WHERE k.revoked_at IS NULL")]

    def keys_closed(self) -> bool:
        rows = self._query(
            "SELECT count() > 0 FROM api_keys FINAL WHERE created_at > "
            "(SELECT if(count() = 0, -1, max(through_key)) FROM keys_opened)"
        )
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
