"""The write path of the ClickHouse store: a batch of jobs as one INSERT per table.

Why a module of its own: this is where the group-commit writer's batch becomes a few INSERTs —
all new events of the batch in one, all update patches in one, all re-folded events in one —
and where ClickHouse's lack of transactions is made up for:

- Every INSERT carries an `insert_deduplication_token` made once per INSERT, so a retry after
  a lost answer is dropped by the engine instead of stored twice (resends of the same event by
  clients are handled by the table's key, not by the token).
- Updates are never read-modify-write on a row: a patch is appended to `event_patches`, then
  the writer folds *all* patches of the event, in seq order, onto its stored row and inserts
  the result as a new version (2^63 + newest seq). The fold is deterministic, so writers in
  several processes converge on the same row; reads fold any patch still newer than the row.
- An update before its event stays a patch; the INSERT of the event looks for patches of the
  ids it just stored and folds them at once, so filters see the update as soon as both exist.
- A job that fails alone (bad data the engine refuses) is found by writing the batch job by
  job, so one bad request never fails its neighbours.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Sequence

import msgspec

from hivelog.event import EventUpdate
from hivelog.store.base import UNRESOLVED, DeleteSession, Job, JobResult, Project, WriteEvents
from hivelog.store.clickhouse.connection import REAL_COLUMNS, chunked, events_of
from hivelog.store.clickhouse.rows import (
    COMPACTED,
    INSERT_SETTINGS,
    INSERT_SQL,
    encode_rows,
    event_line,
    fold,
    is_stale,
    with_project,
)
from hivelog.store.clickhouse.traces import Traces
from hivelog.store.clickhouse.transport import EngineError, hash_set, literal, string_set

_encode_update = msgspec.json.Encoder().encode
_PATCH_SQL = (
    "INSERT INTO event_patches (project, event_id, seq, patch_id, body) FORMAT JSONCompactEachRow"
)


def _pairs(keys: Sequence[tuple[int, str]]) -> str:
    """`(project, event_id) IN …` as a literal list of tuples."""
    from hivelog.store.clickhouse.transport import literal

    return "[" + ", ".join(f"({k}, {literal(e)})" for k, e in keys) + "]"


class Writes(Traces):
    """`write`: the writer thread's path."""

    encode_rows = staticmethod(encode_rows)

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        results: list[JobResult] = []
        pending: list[WriteEvents] = []
        for job in jobs:
            if isinstance(job, WriteEvents):
                pending.append(job)
                continue
            results.extend(self._write_events(pending))
            pending = []
            results.append(self._delete(job))
        results.extend(self._write_events(pending))
        return results

    # ---- events and updates -----------------------------------------------------------------

    def _write_events(self, jobs: list[WriteEvents]) -> list[JobResult]:
        if not jobs:
            return []
        projects = [self.ensure_project(job.project) if job.project else None for job in jobs]
        try:
            self._store(jobs, projects)
            return [JobResult(project=p) for p in projects]
        except EngineError:
            if len(jobs) == 1:
                raise
        results = []  # one job at a time: only the jobs the engine refuses fail
        for job, project in zip(jobs, projects, strict=True):
            try:
                self._store([job], [project])
                results.append(JobResult(project=project))
            except EngineError as exc:
                results.append(JobResult(project=project, error=exc))
        return results

    def _store(self, jobs: list[WriteEvents], projects: list[Project | None]) -> None:
        traced = [(j, p) for j, p in zip(jobs, projects, strict=True) if p and j.traces]
        names = self._link_and_relink(traced) if traced else []
        lines: list[bytes] = []
        keys: list[tuple[int, str]] = []  # (project, event) of each line
        stored: list[tuple[int, str]] = []
        updates: list[tuple[Project, EventUpdate]] = []
        loose: list[EventUpdate] = []
        for job, project in zip(jobs, projects, strict=True):
            if project is None:  # updates that named no project (WriteEvents)
                loose.extend(job.updates)
                continue
            rows = job.event_rows(encode_rows)
            heads = job.heads()  # with the rows, what is read of the events (store/base.py)
            for event, row in zip(heads, rows, strict=True):
                keys.append((project.key, event.event_id))
                lines.append(with_project(project.key, row))
            stored.extend((project.key, e.event_id) for e in heads)
            updates.extend((project, u) for u in job.updates)
        if lines:
            new = self._first_arrivals(keys)
            kept: list[bytes] = []
            for line, key in zip(lines, keys, strict=True):
                if key in new:  # the first occurrence in the batch too
                    kept.append(line)
                    new.discard(key)
            lines = kept
        if lines:
            self._insert(INSERT_SQL, lines, INSERT_SETTINGS)
        self._name_placeholders(names)
        if traced:  # after the INSERT: see store/clickhouse/traces.py
            stored.extend(self._settle_traces({(p.key, t) for j, p in traced for t in j.traces}))
        if loose:
            updates.extend(self._resolve(loose))
        touched: set[tuple[int, str]] = set()
        if updates:
            touched |= self._append_patches(updates)
        if stored:
            touched |= self._with_patches(stored)
        if touched:
            self._refold(sorted(touched))

    def _first_arrivals(self, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
        """Of these (project, event_id), those not stored yet, whatever session they name (the
        caller keeps the first of a batch). A resend is never written, so the first arrival
        wins as on the other backends, and every stored row of an event (original, folded
        versions, a moved trace) has the same start time, hence the same day partition: what
        lets reads prune days and deduplicate within each day (connection.READ_SETTINGS).

        One primary-key read of `event_ids` per project and chunk of ids, by their hashes
        (migration m0010): its cost follows the batch, not what is stored. What it returns
        is compared by id: two ids may share a hash."""
        wanted = set(keys)
        by_project: dict[int, list[str]] = defaultdict(list)
        for key, event in sorted(wanted):
            by_project[key].append(event)
        stored: set[tuple[int, str]] = set()
        for key, events in by_project.items():
            for chunk in chunked(events):
                stored.update(
                    (key, event_id)
                    for (event_id,) in self._query(
                        "SELECT event_id FROM event_ids WHERE project = ? "
                        f"AND id_hash IN {hash_set(chunk, 'halfMD5')}",
                        (key,),
                    )
                )
        return wanted - stored

    def _append_patches(self, updates: list[tuple[Project, EventUpdate]]) -> set[tuple[int, str]]:
        """Append the patches, each with a seq newer than anything folded into its event."""
        keys = sorted({(p.key, u.event_id) for p, u in updates})
        folded: dict[tuple[int, str], int] = {}
        for chunk in chunked(keys):
            for key, event_id, version in self._query(
                f"SELECT project, event_id, max(version) FROM events WHERE (project, event_id) "
                f"IN {_pairs(chunk)} GROUP BY project, event_id"
            ):
                if int(version) >= COMPACTED:
                    folded[(int(key), event_id)] = (int(version) - COMPACTED) | 0xFF
        lines = []
        last: dict[tuple[int, str], int] = {}
        for project, update in updates:
            key = (project.key, update.event_id)
            seq = max(time.time_ns(), folded.get(key, 0) + 1, last.get(key, 0) + 1)
            last[key] = seq
            body = _encode_update(update).decode()
            lines.append(
                msgspec.json.encode([project.key, update.event_id, seq, str(uuid.uuid4()), body])
            )
        self._insert(_PATCH_SQL, lines, {})
        return set(keys)

    def _resolve(self, loose: list[EventUpdate]) -> list[tuple[Project, EventUpdate]]:
        """Updates that named no project: onto the event of their id in every project that
        holds it (one, unless ids were reused), else parked under UNRESOLVED until an event of
        that id is stored in whichever project it comes."""
        holders: dict[str, list[int]] = defaultdict(list)
        for ids in chunked(sorted({u.event_id for u in loose})):
            for key, event_id in self._query(
                f"SELECT DISTINCT project, event_id FROM events WHERE event_id IN {string_set(ids)}"
            ):
                holders[event_id].append(int(key))
        out = []
        for update in loose:
            for key in holders.get(update.event_id) or [UNRESOLVED]:
                out.append((Project(key=key, project_id="", name=""), update))
        return out

    def _claim_unresolved(self, ids: list[str], first: dict[str, int]) -> None:
        """Patches parked under UNRESOLVED for `ids` just stored move to the project the
        event came in (`first`: the first in the batch), as the other backends fold them on
        arrival."""
        rows = self._query(
            "SELECT event_id, seq, toString(patch_id), body FROM event_patches FINAL "
            f"WHERE project = {UNRESOLVED} AND event_id IN {literal(ids)}"
        )
        if not rows:
            return
        lines = [msgspec.json.encode([first[e], e, int(q), pid, b]) for e, q, pid, b in rows]
        self._insert(_PATCH_SQL, lines, {})
        self.transport.execute(
            f"DELETE FROM {self._local('event_patches')} WHERE project = {UNRESOLVED} "
            f"AND event_id IN {literal(sorted({r[0] for r in rows}))}",
            (),
            None,
            {"mutations_sync": 2, "lightweight_deletes_sync": 2},
        )

    def _with_patches(self, stored: list[tuple[int, str]]) -> set[tuple[int, str]]:
        """Of the events just stored, those with patches (updates that came first), after
        moving parked patches of their ids (UNRESOLVED) to their project: one primary-key
        query per chunk of ids for both.

        Unless `event_patches` holds no row at all (a database that never had an update, or
        whose updates all expired), which a trivial count tells from the parts' metadata
        (~1 ms) for less than the lookup costs (~5-7 ms of CPU per 2,000 ids, building the
        set of ids). Taken after the INSERT like the lookup, so an update another process
        stores at the same moment is still folded by one of the two: if it was appended
        before this count, the lookup runs; if after, that process's fold sees our rows."""
        if not int(self._query("SELECT count() FROM event_patches")[0][0]):
            return set()
        wanted = set(stored)
        first: dict[str, int] = {}
        for key, event_id in stored:
            first.setdefault(event_id, key)
        projects = literal(sorted({UNRESOLVED, *(k for k, _ in wanted)}))
        found: set[tuple[int, str]] = set()
        parked: list[str] = []
        for ids in chunked(sorted(first)):
            for key, event_id in self._query(
                f"SELECT DISTINCT project, event_id FROM event_patches "
                f"WHERE project IN {projects} AND event_id IN {string_set(ids)}"
            ):
                if int(key) == UNRESOLVED:
                    parked.append(event_id)
                elif (int(key), event_id) in wanted:
                    found.add((int(key), event_id))
        for ids in chunked(sorted(set(parked))):
            self._claim_unresolved(ids, first)
            found |= {(first[e], e) for e in ids}
        return found

    def _refold(self, keys: list[tuple[int, str]]) -> None:
        """Fold every patch onto each stored row of these events; insert the new versions."""
        for chunk in chunked(keys):
            self._refold_some(chunk)

    def _refold_some(self, keys: list[tuple[int, str]]) -> None:
        patches = self._patches(keys)
        lines = []
        for key, *row in self._query(
            f"SELECT project, {REAL_COLUMNS} FROM events FINAL "
            f"WHERE (project, event_id) IN {_pairs(keys)}"
        ):
            mine = patches.get((int(key), row[1]), [])
            if not mine or not is_stale(row, mine[-1][0], len(mine)):
                continue
            event, version = fold(row, mine)
            lines.append(with_project(int(key), event_line(event, int(row[0]), version)))
        if lines:
            self._insert(INSERT_SQL, lines, INSERT_SETTINGS)

    def _patches(
        self, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], list[tuple[int, str]]]:
        """Every patch of these events, in fold order (seq, then patch id)."""
        out: dict[tuple[int, str], list[tuple[int, str]]] = {}
        for key, event_id, seq, body in self._query(
            f"SELECT project, event_id, seq, body FROM event_patches FINAL "
            f"WHERE (project, event_id) IN {_pairs(keys)} ORDER BY project, event_id, seq, patch_id"
        ):
            out.setdefault((int(key), event_id), []).append((int(seq), body))
        return out

    # ---- delete session ---------------------------------------------------------------------

    def _delete(self, job: DeleteSession) -> JobResult:
        project = self.ensure_project(job.project)
        key = project.key
        (count,) = self._query(
            f"SELECT count() FROM {events_of(key)} WHERE session_id = ?", (job.session_id,)
        )[0]
        settings = {"mutations_sync": 2, "lightweight_deletes_sync": 2}
        for table in ("event_patches", "event_ids"):  # by the events' ids: before the events
            self.transport.execute(
                f"DELETE FROM {self._local(table)} WHERE project = ? "
                "AND (event_id = ? OR event_id IN "
                "(SELECT event_id FROM events WHERE project = ? AND session_id = ?))",
                (key, job.session_id, key, job.session_id),
                None,
                settings,
            )
        for table in ("events", "sessions_agg"):
            self.transport.execute(
                f"DELETE FROM {self._local(table)} WHERE project = ? AND session_id = ?",
                (key, job.session_id),
                None,
                settings,
            )
        return JobResult(project=project, deleted=int(count))
