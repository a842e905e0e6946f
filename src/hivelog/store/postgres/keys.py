"""API keys on PostgreSQL (for hivelog.auth): create, list, revoke, and the active ones.

Why a module of its own: keys are a separate concern from events — their own tables and
callers — and only meet the rest of the store in the project they belong to.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hivelog.store.base import KEYS_CLOSED, OPEN_WITHOUT_KEYS, ApiKey, Project
from hivelog.store.postgres.connection import PostgresBase, _text

_KEY_SELECT = (
    "SELECT k.key_id, p.key, p.project_id, p.name, k.name, k.prefix, k.key_hash, "
    "k.created_at, k.revoked_at FROM api_keys k JOIN projects p ON p.key = k.project"
)


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


class Keys(PostgresBase):
    """API keys, written on the write pool and read on the read-only pool."""

    def create_key(
        self, project: str, name: str | None, key_id: str, prefix: str, key_hash: str
    ) -> ApiKey:
        now = int(time.time() * 1000)
        name = _text(name)
        with self._write_pool().connection() as conn, conn.transaction():
            p = self._project_for_write(conn, project, {})
            conn.execute(
                "INSERT INTO api_keys (key_id, project, name, prefix, key_hash, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (key_id, p.key, name, prefix, key_hash, now),
            )
        return ApiKey(key_id, p, name, prefix, key_hash, now)

    def list_keys(self) -> list[ApiKey]:
        with self._reader() as conn:
            rows = conn.execute(_KEY_SELECT + " ORDER BY k.id").fetchall()
        return [_api_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self._write_pool().connection() as conn, conn.transaction():
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL",
                (int(time.time() * 1000), key_id),
            )
            return cur.rowcount == 1

    def active_keys(self) -> list[ApiKey]:
        with self._reader() as conn:
            rows = conn.execute(_KEY_SELECT + " WHERE k.revoked_at IS NULL").fetchall()
        return [_api_key(r) for r in rows]

    def keys_closed(self) -> bool:
        with self._reader() as conn:
            row = conn.execute(KEYS_CLOSED).fetchone()
        return bool(row and row[0])

    def open_without_keys(self) -> bool:
        with self._write_pool().connection() as conn, conn.transaction():
            # one opening at a time, and no key created or revoked in between
            conn.execute("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE")
            cur = conn.execute(OPEN_WITHOUT_KEYS, (int(time.time() * 1000),))
            return cur.rowcount == 1
