"""API keys (hivelog.auth) in SQLite: stored hashed, scoped to a project."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hivelog.store.base import KEYS_CLOSED, OPEN_WITHOUT_KEYS, ApiKey, Project
from hivelog.store.sqlite.connection import SqliteBase


class SqliteKeys(SqliteBase):
    # Called by the CLI in its own process, beside a running server: each call is one short
    # IMMEDIATE transaction on the writer connection, which waits (busy_timeout) for the
    # server's writer instead of failing.

    _KEY_SELECT = (
        "SELECT k.key_id, p.key, p.project_id, p.name, k.name, k.prefix, k.key_hash, "
        "k.created_at, k.revoked_at FROM api_keys k JOIN projects p ON p.key = k.project"
    )

    def create_key(
        self, project: str, name: str | None, key_id: str, prefix: str, key_hash: str
    ) -> ApiKey:
        conn = self._conn_w()
        now = int(time.time() * 1000)
        conn.execute("BEGIN IMMEDIATE")
        try:
            p = self._project_for_write(conn, project)
            conn.execute(
                "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, p.key, name, prefix, key_hash, now),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._projects.clear()
            raise
        return ApiKey(key_id, p, name, prefix, key_hash, now)

    def list_keys(self) -> list[ApiKey]:
        rows = self._conn_w().execute(self._KEY_SELECT + " ORDER BY k.id").fetchall()
        return [_api_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        cur = self._conn_w().execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (int(time.time() * 1000), key_id),
        )
        return cur.rowcount == 1

    def active_keys(self) -> list[ApiKey]:
        rows = self._conn_r().execute(self._KEY_SELECT + " WHERE k.revoked_at IS NULL").fetchall()
        return [_api_key(r) for r in rows]

    def keys_closed(self) -> bool:
        return bool(self._conn_r().execute(KEYS_CLOSED).fetchone()[0])

    def open_without_keys(self) -> bool:
        conn = self._conn_w()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(OPEN_WITHOUT_KEYS.replace("%s", "?"), (int(time.time() * 1000),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return cur.rowcount == 1


def _api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        key_id=row[0],
        project=Project(key=row[1], project_id=row[2], name=row[3]),
        name=row[4],
        prefix=row[5],
        key_hash=row[6],
        created_at=row[7],
        revoked_at=row[8],
    )
