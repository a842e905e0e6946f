"""The Store protocol every backend implements, and the write jobs the writer hands it.

Writes arrive only through `Store.write`, called by the group-commit writer with many jobs at
once: one transaction, one savepoint per job, so one bad job never fails its neighbours.
Reads are plain methods, safe to call from many threads at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from hivelog.normalize.event import Event, EventUpdate

ORG_ID = "hivelog-org"
WORKSPACE_ID = "hivelog-workspace"


@dataclasses.dataclass(frozen=True)
class Project:
    key: int  # small integer leading every stored key and index
    project_id: str  # the public id responses carry
    name: str


@dataclasses.dataclass
class WriteEvents:
    """Store events and apply updates, in that order, for one project."""

    project: str
    events: list[Event] = dataclasses.field(default_factory=list)
    updates: list[EventUpdate] = dataclasses.field(default_factory=list)
    rows: list[tuple[Any, ...]] | None = None  # events as table rows (store.rows.event_values)

    def size(self) -> int:
        return len(self.events) + len(self.updates)

    def encode(self) -> WriteEvents:
        """Turn events into rows now, in the request's thread, not in the one writer thread.

        The writer is the pipeline's only serial stage; JSON encoding done before it runs in
        parallel with the writer's time inside the database.
        """
        from hivelog.store.rows import event_values

        self.rows = [event_values(e) for e in self.events]
        return self

    def event_rows(self) -> list[tuple[Any, ...]]:
        if self.rows is None:
            self.encode()
        assert self.rows is not None
        return self.rows


@dataclasses.dataclass
class DeleteSession:
    project: str
    session_id: str

    def size(self) -> int:
        return 1


Job = WriteEvents | DeleteSession


@dataclasses.dataclass(frozen=True)
class JobResult:
    project: Project | None = None
    deleted: int = 0
    error: BaseException | None = None


@dataclasses.dataclass(frozen=True)
class EventQuery:
    """A compiled read: `where` is backend SQL with `params`, built by query/filters."""

    where: str
    params: list[Any]
    limit: int
    offset: int
    newest_first: bool = False


class Store(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Apply jobs in one transaction (savepoint each); return one result per job."""
        ...

    def find_project(self, name: str) -> Project | None: ...

    def project_of_event(self, event_id: str) -> Project | None:
        """The project holding `event_id`, when exactly one does (reads that name no project)."""
        ...

    def get_event(self, project: Project, event_id: str) -> Event | None: ...

    def session_events(self, project: Project, session_id: str) -> list[Event]: ...

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]: ...

    @property
    def dialect(self) -> str: ...
