"""`hivelog copy --from DB --to DB`: every project, key, event and waiting update from one
database to another, between any two backends (SQLite → PostgreSQL → ClickHouse and back).

Why it works through the Store protocol and not with SQL of its own: each backend already
knows how to read its events as stored (`copy_events`: updates folded in, placeholder sessions
left out, since the target derives its own, named as in the source) and how to write them
(`write`: the same path the server's writer takes, so the target ends exactly as if the events
had been sent to it).
Events are copied in (start time, arrival) order, a page at a time; after each page the
cursor is saved to a checkpoint file (written whole or not at all), so an interrupted copy
resumes where it stopped. Re-copying a page is harmless: every backend stores an `event_id`
once. Copy a database that is not being written to (or a snapshot): events written to the
source during the copy may be missed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from hivelog.event import Event, TraceLink
from hivelog.query.filters import compile_query
from hivelog.store.base import Cursor, EventQuery, Project, Store, WriteEvents


@dataclasses.dataclass
class Copied:
    projects: int = 0
    keys: int = 0
    events: int = 0
    updates: int = 0
    resumed: bool = False


class CopyFailed(Exception):
    """The target refused a page; the checkpoint keeps what was copied before it."""


def _fingerprint(source: str, target: str) -> str:
    return hashlib.sha256(f"{source}\x00{target}".encode()).hexdigest()[:16]


def _load(checkpoint: Path, fingerprint: str) -> dict[str, Any]:
    try:
        state = json.loads(checkpoint.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("fingerprint") == fingerprint else {}


def _save(checkpoint: Path, state: dict[str, Any]) -> None:
    """Whole or not at all: a kill mid-write leaves the previous checkpoint."""
    partial = checkpoint.with_name(checkpoint.name + ".tmp")
    partial.write_text(json.dumps(state))
    os.replace(partial, checkpoint)


def _count(store: Store, project: Project) -> int:
    _, total = store.query_events(project, compile_query(store.dialect, None, None, 1, 1))
    return total


def _placeholder_names(store: Store, project: Project) -> dict[str, str]:
    """Placeholder sessions that have a name (an OTLP trace's root span named them): the
    target derives its placeholders from the events, and takes their names from these."""
    names: dict[str, str] = {}
    where = "placeholder = 1 AND event_name <> 'unknown'"
    while True:
        query = EventQuery(where=where, params=[], limit=1000, offset=len(names))
        found, total = store.list_sessions(project, query)
        names.update((e.session_id, e.event_name) for e in found)
        if not found or len(names) >= total:
            return names


def _naming(events: list[Event], names: dict[str, str]) -> dict[str, TraceLink]:
    """A page's named placeholders, said as the OTLP path says them (`WriteEvents.traces`: a
    trace keyed by the session's own id names no other session, so nothing moves)."""
    if not names:
        return {}
    return {
        e.session_id: TraceLink(session_id=e.session_id, name=names[e.session_id])
        for e in events
        if e.session_id in names
    }


def copy_database(
    source: Store,
    target: Store,
    *,
    source_name: str,
    target_name: str,
    checkpoint: Path,
    page: int = 2000,
    console: Console | None = None,
) -> Copied:
    """Copy everything from `source` to `target` (both open); resumes from `checkpoint`."""
    fingerprint = _fingerprint(source_name, target_name)
    state = _load(checkpoint, fingerprint) or {"fingerprint": fingerprint, "projects": {}}
    copied = Copied(resumed=bool(state["projects"]))
    projects = source.list_projects()
    for project in projects:
        target.import_project(project.name, project.project_id)
        copied.projects += 1
    for key in source.list_keys():
        target.import_key(key)
        copied.keys += 1
    progress = Progress(
        TextColumn("[bold]copy[/bold] {task.fields[project]}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,} events"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )
    with progress:
        for project in projects:
            done: dict[str, Any] = state["projects"].setdefault(project.name, {})
            if done.get("finished"):
                continue
            total = _count(source, project)
            task = progress.add_task("copy", total=total, project=project.name)
            cursor: Cursor | None = tuple(done["cursor"]) if done.get("cursor") else None
            progress.update(task, completed=int(done.get("events", 0)))
            names = _placeholder_names(source, project)
            while True:
                events, last = source.copy_events(project, cursor, page)
                if not events:
                    break
                _write(target, WriteEvents(project.name, events, traces=_naming(events, names)))
                copied.events += len(events)
                cursor = last
                done["cursor"] = list(last) if last else None
                done["events"] = int(done.get("events", 0)) + len(events)
                _save(checkpoint, state)
                progress.update(task, completed=done["events"])
            updates = source.pending_updates(project)
            if updates:
                _write(target, WriteEvents(project.name, [], updates))
                copied.updates += len(updates)
            done["finished"] = True
            _save(checkpoint, state)
            progress.update(task, completed=max(total, done["events"]))
    checkpoint.unlink(missing_ok=True)
    return copied


def _write(target: Store, job: WriteEvents) -> None:
    (result,) = target.write([job])
    if result.error is not None:
        raise CopyFailed(f"the target refused events of project {job.project!r}: {result.error}")
