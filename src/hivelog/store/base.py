"""The Store protocol every backend implements, and the write jobs the writer hands it.

Writes arrive only through `Store.write`, called by the group-commit writer with many jobs at
once: one transaction, one savepoint per job, so one bad job never fails its neighbours.
Reads are plain methods, safe to call from many threads at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from hivelog.event import Event, EventHead, EventUpdate, PackedEvents, TraceLink, join_events

ORG_ID = "hivelog-org"
WORKSPACE_ID = "hivelog-workspace"


class StoredEvent(msgspec.Struct, kw_only=True):
    """An event read to be passed on whole (the session tree): the bulky JSON fields stay
    undecoded (`msgspec.Raw`, written to the response as stored); metadata and feedback, which
    the tree's aggregates read, are decoded. Fields in Event's order, so responses match."""

    event_id: str
    session_id: str
    parent_id: str | None
    event_type: str
    event_name: str
    source: str
    start_time: int
    end_time: int
    duration: float
    error: str | None
    children_ids: list[str]
    config: msgspec.Raw
    inputs: msgspec.Raw
    outputs: msgspec.Raw
    metadata: dict[str, Any]
    feedback: dict[str, Any]
    metrics: msgspec.Raw
    user_properties: msgspec.Raw


@dataclasses.dataclass(frozen=True)
class Project:
    key: int  # small integer leading every stored key and index
    project_id: str  # the public id responses carry
    name: str


# Fail closed (migration m0004): the SQL both stores run, `%s` placeholders.
KEYS_CLOSED = (
    "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id > "
    "(SELECT COALESCE(MAX(through_key), 0) FROM keys_opened))"
)
OPEN_WITHOUT_KEYS = (
    "INSERT INTO keys_opened (opened_at, through_key) "
    "SELECT %s, (SELECT COALESCE(MAX(id), 0) FROM api_keys) "
    "WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)"
)


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """A stored API key (see hivelog.auth): never the key itself, only its SHA-256."""

    key_id: str  # public, 8 hex characters, also inside the key: hl_<key_id>_<secret>
    project: Project
    name: str | None
    prefix: str  # hl_<key_id>, what `keys list` shows
    key_hash: str  # hex SHA-256 of the whole key
    created_at: int  # epoch ms
    revoked_at: int | None = None


# `pending_updates.project` of an update that named no project and found no event: it is
# folded onto the event of that id whichever project it arrives in (project keys start at 1).
UNRESOLVED = 0


@dataclasses.dataclass(init=False)
class WriteEvents:
    """Store events and apply updates, in that order, for one project.

    `traces` (OTLP only): for each trace among the events, keyed by the trace's own session id
    (`trace_session_id`), the session a span of it named and its root span's name, if this
    request said. See "One trace, one session" in `Store`.

    `project` None: updates only, that named no project (HoneyHive's SDKs send none) and whose
    event was not found when the request came. The store applies each to the event of that id
    in whichever project holds it, or parks it under UNRESOLVED until the event arrives in any
    project. A request with an API key always has its key's project, never None, so a keyed
    write never reaches another project's event.

    `events` may come packed (`PackedEvents`, from a conversion worker, with their rows):
    they are decoded when `events` is first read, and `heads` reads what a store needs of
    them beside the rows without decoding them.
    """

    project: str | None
    _events: list[Event] | PackedEvents
    updates: list[EventUpdate]
    traces: dict[str, TraceLink]
    # The events as the store writes them (`Store.encode_rows`), and the encoder that made them.
    rows: list[Any] | None
    encoded_by: Callable[[list[Event]], list[Any]] | None
    # The `ingest.limits.Limits` a conversion worker found these events unchanged by (see
    # `Limits.unchanged`): the writer's limits, if equal, skip walking them again.
    checked_by: object

    def __init__(
        self,
        project: str | None,
        events: list[Event] | PackedEvents | None = None,
        updates: list[EventUpdate] | None = None,
        traces: dict[str, TraceLink] | None = None,
        rows: list[Any] | None = None,
        encoded_by: Callable[[list[Event]], list[Any]] | None = None,
        checked_by: object = None,
    ) -> None:
        self.project = project
        self._events = [] if events is None else events
        self.updates = [] if updates is None else updates
        self.traces = {} if traces is None else traces
        self.rows = rows
        self.encoded_by = encoded_by
        self.checked_by = checked_by

    @property
    def events(self) -> list[Event]:
        """The events, decoded first if they came packed."""
        if isinstance(self._events, PackedEvents):
            self._events = self._events.unpack()
        return self._events

    @events.setter
    def events(self, events: list[Event]) -> None:
        self._events = events

    def heads(self) -> Sequence[EventHead]:
        """What a store reads of the events beside their rows (`EventHead`'s fields), without
        decoding packed events: the events themselves once decoded (and maybe changed)."""
        events = self._events
        if isinstance(events, PackedEvents) and not events.decoded:
            return events.heads
        return self.events

    def add_events(self, other: WriteEvents) -> None:
        """Append `other`'s events to this job's own (packed ones stay packed while both are;
        a list is extended in place: `merge_runs` gives the job a copy first)."""
        if isinstance(self._events, list):
            self._events.extend(other.events)
        else:
            self._events = join_events(self._events, other._events)

    def size(self) -> int:
        return len(self._events) + len(self.updates)

    def packed(self) -> PackedEvents:
        """The events packed as a conversion worker packs them (`PackedEvents.pack`): packed
        ones as they came. OverflowError for a number past 64 bits (msgpack holds 64)."""
        return PackedEvents.pack(self._events)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled for the writer process (`ingest.frames`) when `frame_job` cannot
        send it as msgpack: events packed if they can be, rows as made (`encoded_by` is a
        function, pickled by name); the limits were applied already."""
        events: list[Event] | PackedEvents = self._events
        with contextlib.suppress(OverflowError):  # a number past 64 bits: only pickle holds it
            events = self.packed()
        return (
            WriteEvents,
            (
                self.project,
                events,
                self.updates,
                self.traces,
                self.rows,
                self.encoded_by,
            ),
        )

    def encode(self, encode_rows: Callable[[list[Event]], list[Any]]) -> WriteEvents:
        """Turn events into rows now, in the request's thread, not in a writer thread.

        The writers are the pipeline's serial stage; JSON encoding done before them runs in
        parallel with their time inside the database.
        """
        self.rows = encode_rows(self.events)
        self.encoded_by = encode_rows
        return self

    def event_rows(self, encode_rows: Callable[[list[Event]], list[Any]]) -> list[Any]:
        """The rows by `encode_rows`: those made in the request if it made them, else new ones."""
        if self.rows is None or self.encoded_by != encode_rows:
            self.encode(encode_rows)
        assert self.rows is not None
        return self.rows


@dataclasses.dataclass
class DeleteSession:
    project: str
    session_id: str

    def size(self) -> int:
        return 1


Job = WriteEvents | DeleteSession


class JobFailed(Exception):
    """A job failed in a transaction written without savepoints: replay it with them."""


def merge_runs(
    jobs: Sequence[Job], encode_rows: Callable[[list[Event]], list[Any]]
) -> list[tuple[Job, int]]:
    """Runs of event jobs for the same project as one job each, with how many they cover.

    Storing a run's events first and then its updates converges to the same state as job by
    job (updates fold onto events whichever comes first), at a few statements per run instead
    of per request. Both stores write this way, and replay job by job (with a savepoint each)
    only when a job fails.
    """
    runs: list[tuple[Job, int]] = []
    for job in jobs:
        if runs and isinstance(job, WriteEvents):
            last, count = runs[-1]
            if isinstance(last, WriteEvents) and last.project == job.project:
                if count == 1:  # copy before extending: the caller's job stays as it was
                    rows = list(last.event_rows(encode_rows))
                    events = last._events  # packed events are never changed in place
                    last = WriteEvents(
                        last.project,
                        list(events) if isinstance(events, list) else events,
                        list(last.updates),
                        dict(last.traces),
                    )
                    last.rows, last.encoded_by = rows, encode_rows
                last.add_events(job)
                last.updates.extend(job.updates)
                merge_links(last.traces, job.traces)
                assert last.rows is not None
                last.rows.extend(job.event_rows(encode_rows))
                runs[-1] = (last, count + 1)
                continue
        runs.append((job, 1))
    return runs


def merge_links(into: dict[str, TraceLink], more: dict[str, TraceLink]) -> None:
    """What two requests said of the same traces: the session preferred (`TraceLink.prefers`),
    the first name."""
    for trace, link in more.items():
        have = into.get(trace)
        if have is None:
            into[trace] = link
            continue
        better = link.session_id is not None and have.prefers(link.session_id, link.rank)
        if better or (not have.name and link.name):
            named = link if better else have
            into[trace] = TraceLink(
                session_id=named.session_id, rank=named.rank, name=have.name or link.name
            )


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
    # Also only events whose inputs or outputs contain every whitespace-separated word of
    # `search`, case-insensitively, in any script (set by the UI's search box).
    search: str | None = None
    # Sort by this column (one of SORTABLE) instead of start time; `newest_first` = descending.
    order_by: str | None = None
    # False: the caller does not want the total of every match (a keyset read such as a
    # download, which would otherwise count the whole result once per chunk); the total
    # returned is then the number of events on the page.
    count: bool = True


SORTABLE: tuple[str, ...] = ("start_time", "end_time", "duration", "event_name", "event_type")

# Where `Store.copy_events` stopped: the (start_time, arrival order) of the last event returned.
Cursor = tuple[int, int]


class Store(Protocol):
    """What a backend implements. Besides reads and writes, `write` owes these semantics:

    **One trace, one session** (`WriteEvents.traces`; store/traces.py has the shared parts).
    Every span of an OTLP trace belongs to one session. A span that names no session goes to
    the trace's own session (its trace id as a UUID, "the trace session"), created from the
    root span; when any span of the trace names a session, the whole trace belongs to that
    one, including spans stored earlier, in any arrival order and from any process. Inside the
    write transaction, for each job:

    1. `link_traces`: read the mapping of every trace of the job, and record trace session
       → named session for every link that names one (of several sessions named, the least
       (rank, session id) wins, `TraceLink.prefers`, in every process: an upsert keeping the
       least into a mapping table, `trace_sessions` here; `traces.settle` says which mapping
       results and which traces it moved);
    2. rewrite the job's events of mapped traces before inserting them
       (`traces.relink`: session and root parent → the mapped session; the trace-session
       event is dropped, its name kept to name the session);
    3. insert as usual, placeholder sessions named by `traces.session_names` (a placeholder
       still called "unknown" takes the name when it comes);
    4. for each mapped trace, move what is stored under its trace session (a span that came
       before the trace named its session) to the mapped session: its events' `session_id`
       (and `parent_id` where it was the trace session), and delete the trace-session event,
       whose name goes to the mapped session if that is a placeholder still named "unknown";
       for each trace whose mapping the job changed, move the trace's events (by
       `metadata.otel.trace_id`, never the session event itself) from the session it left to
       the new one, and drop the session left if it is a placeholder with nothing left in it
       (else its times shrink to what it holds). `traces.move_traces` runs both moves.

    Concurrency: a job that names a session for a trace must not interleave with another
    job storing the same trace (PostgreSQL takes the advisory lock of the trace session's
    bucket exclusively for it, shared for jobs only reading the mapping). `children_ids` are
    derived from `parent_id` at read time, so moving rows keeps trees consistent.
    """

    # How many `write` calls may run at once, each in its own transaction and thread.
    writers: int

    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Apply jobs in one transaction (savepoint each); return one result per job."""
        ...

    def encode_rows(self, events: list[Event]) -> list[Any]:
        """A job's events as this store writes them, all at once (SQLite packs their long
        values in one call); called in the request's thread (`Writer.submit`) or a conversion
        worker, so the writer threads only send what is already encoded."""
        ...

    def find_project(self, name: str) -> Project | None: ...

    def project_of_event(self, event_id: str) -> Project | None:
        """The project holding `event_id`, when exactly one does (reads that name no project)."""
        ...

    def get_event(self, project: Project, event_id: str) -> Event | None: ...

    def session_events(self, project: Project, session_id: str) -> list[StoredEvent]:
        """Every event of a session, ordered by start time, with `children_ids` derived."""
        ...

    def query_events(self, project: Project, query: EventQuery) -> tuple[list[Event], int]: ...

    @property
    def dialect(self) -> str: ...

    # ---- API keys (hivelog.auth) ------------------------------------------------------------
    # Keys are managed by the CLI, outside the server's writer, each call its own transaction;
    # the server reads them with `active_keys` (cached, re-read at most once a second).

    def create_key(
        self, project: str, name: str | None, key_id: str, prefix: str, key_hash: str
    ) -> ApiKey:
        """Store a key for `project` (created by name if new) and return it; commits."""
        ...

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    def revoke_key(self, key_id: str) -> bool:
        """Mark `key_id` revoked (now); False if no such active key. Commits."""
        ...

    def active_keys(self) -> list[ApiKey]:
        """Every key not revoked, with its project; safe from any thread."""
        ...

    def keys_closed(self) -> bool:
        """True when a key was created since the last `open_without_keys` (or ever, if never
        opened): with no active key, such a database refuses every request (fail closed)."""
        ...

    def open_without_keys(self) -> bool:
        """Record the operator's choice to run this database without keys again (`hivelog
        keys open`); False, recording nothing, while any key is active. Commits."""
        ...

    # ---- copying a whole database (`hivelog copy`, hivelog.copy) -----------------------------

    def copy_events(
        self, project: Project, after: Cursor | None, limit: int
    ) -> tuple[list[Event], Cursor | None]:
        """Up to `limit` stored events of `project` as stored (updates folded in, children ids
        as the client set them, placeholder sessions left out: the target derives its own),
        in (start time, arrival) order after `after`; and the cursor of the last one."""
        ...

    def pending_updates(self, project: Project) -> list[EventUpdate]:
        """Updates waiting for an event that has not arrived, oldest first."""
        ...

    def import_project(self, name: str, project_id: str) -> Project:
        """The project `name`, created with `project_id` if new (an existing one is kept)."""
        ...

    def import_key(self, key: ApiKey) -> None:
        """Store `key` as it is (times, revocation) in its project (imported first); a key
        already stored is left as it is. Commits."""
        ...

    # ---- reads for the web UI and charts (hivelog.ui, hivelog.query.aggregates) -------------

    def background_work(self) -> bool:
        """Do one short slice (~20 ms) of deferred upkeep; True while more is left.

        The writer calls it from its thread whenever no write is waiting. SQLite indexes new
        rows for search here (indexing inside the write transaction cost 13x in ingest
        throughput); a backend with nothing to defer returns False.
        """
        ...

    def list_projects(self) -> list[Project]:
        """Every project, by name (the UI's project picker)."""
        ...

    def list_sessions(
        self, project: Project, sessions: EventQuery, events: EventQuery | None = None
    ) -> tuple[list[Event], int]:
        """Session events (`event_type` session) newest first (start time, then arrival), and
        how many match in all.

        `sessions.where`/`params` test the session event itself; `limit`/`offset` page.
        With `events`, a session is listed only if at least one of its events (the session
        event included) matches `events.where` and `events.search` (its paging is ignored).
        """
        ...

    def session_stats(
        self, project: Project, session_ids: Sequence[str]
    ) -> dict[str, SessionStats]:
        """Aggregates of each named session that exists (see SessionStats), one query."""
        ...

    def session_previews(
        self, project: Project, inputs_of: Sequence[str], outputs_of: Sequence[str]
    ) -> dict[str, SessionPreview]:
        """What sessions were asked and answered, from their events (the session event
        excluded), one query for all: for each session of `inputs_of` the inputs of its first
        event with inputs, for each of `outputs_of` the outputs of its last event with
        outputs; by start time then arrival, model calls before other events (a model call's
        chat history holds what the user typed). Sessions with neither are left out."""
        ...

    def session_outline(self, project: Project, session_id: str) -> list[EventBrief]:
        """Every event of a session, light (no JSON fields), by start time then arrival: the
        tree and timeline of the session page load this, and each event's detail on demand."""
        ...

    def chart(self, project: Project, query: EventQuery, spec: ChartSpec) -> list[ChartPoint]:
        """`spec.aggregation` of `spec.value` over the events matching `query` (where, params,
        search; paging ignored), per UTC time bucket of `start_time` and per `spec.group`
        value, ordered by bucket then group. Events whose value is NULL count for nothing
        (except with aggregation `count`, which counts events)."""
        ...


@dataclasses.dataclass(frozen=True)
class SessionStats:
    """One session's numbers for the session list: over its events, the session event excluded,
    except `errors` (events with an error, the session included) and the time span."""

    num_events: int
    num_model_events: int
    errors: int
    total_tokens: int  # metadata.total_tokens, else prompt_tokens + completion_tokens
    cost: float  # sum of metadata.cost (numbers only)
    first_start: int  # earliest start_time of any event, epoch ms
    last_end: int  # latest end_time of any event, epoch ms
    priced: int = 0  # events whose metadata.cost is a number
    unpriced: int = 0  # model events whose metadata.cost is not (see query.sessions.cost_of)


@dataclasses.dataclass(frozen=True)
class SessionPreview:
    """The JSON fields the sessions list previews a session by (Store.session_previews), as
    stored (JSON text): only the page's query layer decodes them."""

    inputs: str | bytes | None  # of its first event with inputs (model calls first)
    input_type: str | None  # that event's event_type
    outputs: str | bytes | None  # of its last event with outputs (model calls first)


@dataclasses.dataclass(frozen=True)
class EventBrief:
    """An event without its JSON fields: enough to draw it in a tree and on a timeline."""

    event_id: str
    parent_id: str | None
    event_type: str
    event_name: str
    start_time: int
    end_time: int
    duration: float
    error: str | None  # the first 200 characters


# `all`: one bucket for the whole range (its start reads 0): a percentile over any range.
CHART_BUCKETS: tuple[str, ...] = ("minute", "hour", "day", "week", "month", "all")
CHART_AGGREGATIONS: tuple[str, ...] = ("count", "sum", "avg", "min", "max", "quantile")


@dataclasses.dataclass(frozen=True)
class ChartSpec:
    """What to chart. `value` and `group` are backend SQL expressions over one event row, built
    by query/aggregates from field names with the same dialect as EventQuery.where."""

    value: str
    group: str | None
    bucket: str  # one of CHART_BUCKETS, in UTC; weeks start on Monday, months on the 1st
    aggregation: str  # one of CHART_AGGREGATIONS
    quantile: float = 0.5  # for `quantile`: the nearest-rank value at this fraction


@dataclasses.dataclass(frozen=True)
class ChartPoint:
    bucket: int  # the bucket's start, epoch ms
    group: str | None
    value: float | None
    count: int  # events that went into `value`
