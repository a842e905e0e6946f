"""The write path of the PostgreSQL store: a batch of jobs as one transaction, safely retried.

Why a module of its own: this is where a batch from the group-commit writer becomes one
transaction — runs of one project's jobs merged, advisory locks on the buckets of the ids it
touches (so concurrent processes converge exactly like one), a savepoint per job only when a
job fails, and deadlocks or vanished partitions retried. What a single job does is in
`inserts` (events) and `updates` (updates); deleting a session is here.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from hivelog.store.base import (
    DeleteSession,
    Job,
    JobFailed,
    JobResult,
    Project,
    WriteEvents,
    merge_runs,
)
from hivelog.store.postgres.connection import _LOCK_SPACE, _no_nul, day_of, log
from hivelog.store.postgres.inserts import Inserts, copy_lines

BUCKETS = 64  # advisory locks per transaction at most (each costs); see the package docstring
_RETRIES = 8
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def _bucket(key: str) -> int:
    """Stable across processes (Python's hash() is not). By id alone, not by project: an
    update that names no project (WriteEvents) must meet the insert of its event in any."""
    return zlib.crc32(key.encode()) % BUCKETS


class Writes(Inserts):
    """`write`: every job of a batch in one transaction (the writer threads only)."""

    encode_rows = staticmethod(copy_lines)  # lines of COPY text (see inserts.copy_line)
    # `writers` (PostgresBase) is 2: while PostgreSQL parses, indexes and fsyncs one batch,
    # the other writer thread sends the next (+9–19% events/s on the batch benchmark, 4
    # interleaved pairs). They settle conflicts exactly as two processes do (package docstring).

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        """All jobs in one transaction, with runs of one project's jobs merged and no
        savepoints; only if a job fails is it replayed with a savepoint around each job.
        Deadlocks and serialisation failures (possible between processes) replay it whole.
        """
        days = {
            day_of(e.start_time) for job in jobs if isinstance(job, WriteEvents) for e in job.events
        }
        isolate = False
        for attempt in range(_RETRIES):
            self.ensure_partitions(sorted(days))
            try:
                with self._write_pool().connection() as conn:
                    return self._write_once(conn, jobs, isolate)
            except JobFailed:
                isolate = True
                continue
            except _RETRYABLE as exc:
                log.warning("write of %d jobs retried (%s)", len(jobs), type(exc).__name__)
            except pg_errors.CheckViolation as exc:
                if "no partition" not in str(exc):
                    raise
                # Retention in another process dropped a day this process had cached.
                log.warning("write of %d jobs retried: %s", len(jobs), exc)
                self._days.clear()
            time.sleep(0.01 * (attempt + 1))
        raise RuntimeError(f"write of {len(jobs)} jobs failed {_RETRIES} times")

    def _write_once(
        self, conn: psycopg.Connection[Any], jobs: Sequence[Job], isolate: bool
    ) -> list[JobResult]:
        results: list[JobResult] = []
        fresh: dict[str, Project] = {}  # projects created by this transaction
        with conn.transaction():
            self._lock_buckets(conn, jobs)
            runs = [(j, 1) for j in jobs] if isolate else merge_runs(jobs, copy_lines)
            for job, covers in runs:
                project = self._project_for_write(conn, job.project, fresh) if job.project else None
                if not isolate:
                    try:
                        deleted = self._apply(conn, project, job)
                    except _RETRYABLE:
                        raise
                    except pg_errors.CheckViolation as exc:
                        if "no partition" in str(exc):
                            raise
                        raise JobFailed from exc
                    except Exception as exc:
                        raise JobFailed from exc
                    results.extend([JobResult(project=project, deleted=deleted)] * covers)
                    continue
                try:
                    with conn.transaction():  # a savepoint: one bad job never fails its neighbours
                        deleted = self._apply(conn, project, job)
                except _RETRYABLE:
                    raise
                except pg_errors.CheckViolation as exc:
                    if "no partition" in str(exc):
                        raise
                    results.append(JobResult(project=project, error=exc))
                    continue
                except Exception as exc:
                    results.append(JobResult(project=project, error=exc))
                    continue
                results.append(JobResult(project=project, deleted=deleted))
        self._projects.update(fresh)  # committed: now every writer may use their keys
        return results

    def _lock_buckets(self, conn: psycopg.Connection[Any], jobs: Sequence[Job]) -> None:
        """Advisory locks on the buckets this transaction touches, sorted (no lock cycles)."""
        exclusive: dict[int, bool] = {}
        for job in jobs:
            if isinstance(job, DeleteSession):
                exclusive[_bucket(job.session_id)] = True
                continue
            for e in job.events:
                for key in (e.event_id, e.session_id):
                    exclusive.setdefault(_bucket(key), False)
            for trace, link in job.traces.items():  # one trace, one session (store/traces.py)
                bucket = _bucket(trace)
                if link.session_id not in (None, trace):
                    exclusive[bucket] = True
                else:
                    exclusive.setdefault(bucket, False)
            for u in job.updates:
                exclusive[_bucket(u.event_id)] = True
        if not exclusive:
            return
        keys = sorted(exclusive)
        conn.execute(
            "SELECT CASE WHEN x THEN pg_advisory_xact_lock(%s, k) "
            "ELSE pg_advisory_xact_lock_shared(%s, k) END "
            "FROM unnest(%s::int4[], %s::bool[]) WITH ORDINALITY AS t(k, x, n) ORDER BY n",
            (_LOCK_SPACE, _LOCK_SPACE, keys, [exclusive[k] for k in keys]),
        )

    def _apply(self, conn: psycopg.Connection[Any], project: Project | None, job: Job) -> int:
        if project is None:  # updates that named no project (WriteEvents)
            assert isinstance(job, WriteEvents) and not job.events
            for update in job.updates:
                self._update_anywhere(conn, update)
            return 0
        if isinstance(job, DeleteSession):
            return self._delete_session(conn, project, job.session_id)
        self._insert_events(conn, project, job)
        for update in job.updates:
            self._update(conn, project, update)
        return 0

    def _delete_session(
        self, conn: psycopg.Connection[Any], project: Project, session_id: str
    ) -> int:
        session_id = _no_nul(session_id)
        row = conn.execute(
            "DELETE FROM sessions WHERE project = %s AND session_id = %s RETURNING day",
            (project.key, session_id),
        ).fetchone()
        day_clause, params = ("AND day = %s", [row[0]]) if row else ("", [])
        cur = conn.execute(
            f"DELETE FROM events WHERE project = %s AND session_id = %s {day_clause}",
            [project.key, session_id, *params],
        )
        conn.execute(
            "DELETE FROM pending_updates WHERE project = %s AND event_id = %s",
            (project.key, session_id),
        )
        return cur.rowcount
