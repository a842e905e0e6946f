"""The one canonical shape every transport is converted into before storage.

REST bodies of every API generation and OTLP spans all end as `Event` (a thing that
happened) or `EventUpdate` (a later change to it). Storage and queries know nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, overload

import msgspec

EVENT_TYPES: tuple[str, ...] = ("session", "model", "tool", "chain", "generic")

# Object-valued fields, in storage order. PUT merges all but `outputs`, which it replaces.
JSON_FIELDS: tuple[str, ...] = (
    "config",
    "inputs",
    "outputs",
    "metadata",
    "feedback",
    "metrics",
    "user_properties",
)
MERGED_FIELDS: tuple[str, ...] = ("config", "metadata", "feedback", "metrics", "user_properties")


class EventHead(msgspec.Struct, kw_only=True):
    """What a store reads of an event besides its row on the hot path of a write: ids, type,
    name, source and times (placeholder sessions, parked updates, locks). Decoded from an
    encoded `Event` by skipping its other fields, which costs a tenth of decoding them.
    `Event` extends it, so an event is a head too."""

    event_id: str
    session_id: str
    parent_id: str | None
    event_type: str
    event_name: str = "unknown"
    source: str = "unknown"
    start_time: int = 0
    end_time: int = 0
    duration: float = 0.0


class Event(EventHead, kw_only=True):
    """A stored event. A session is the event whose `event_id` equals its `session_id`."""

    error: str | None = None
    children_ids: list[str] = msgspec.field(default_factory=list)
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    feedback: dict[str, Any] = msgspec.field(default_factory=dict)
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)
    user_properties: dict[str, Any] = msgspec.field(default_factory=dict)


_decode_events = msgspec.msgpack.Decoder(list[Event]).decode
_decode_heads = msgspec.msgpack.Decoder(list[EventHead]).decode
_encode_events = msgspec.msgpack.Encoder().encode


class PackedEvents(Sequence[Event]):
    """Events as a conversion worker sent them (msgpack lists of `Event`), decoded on first
    read, with their heads (`EventHead`) decoded at once.

    Why: the worker sends each event's row too (`ingest.converters`), and with the row a
    store needs only the heads, unless it rewrites the event (a trace moved to its named
    session, parked updates folded on, limits that change it). Decoding whole events cost the
    server's event loop more per span than the rest of its OTLP work; reading any event here
    decodes them all, so nothing is ever seen half-decoded.
    """

    __slots__ = ("_events", "_parts", "heads")

    def __init__(self, parts: tuple[bytes | msgspec.Raw, ...], heads: list[EventHead]) -> None:
        self._parts = parts
        self.heads = heads
        self._events: list[Event] | None = None

    @classmethod
    def of(cls, packed: bytes | msgspec.Raw) -> PackedEvents:
        return cls((packed,), _decode_heads(packed))

    @classmethod
    def of_parts(cls, parts: tuple[bytes | msgspec.Raw, ...]) -> PackedEvents:
        return cls(parts, [head for part in parts for head in _decode_heads(part)])

    @classmethod
    def pack(cls, events: Sequence[Event]) -> PackedEvents:
        """`events` packed as a conversion worker packs them."""
        if isinstance(events, PackedEvents) and not events.decoded:
            return events
        return cls((_encode_events(list(events)),), list(events))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as msgpack (the writer process, `ingest.writer_process`): a third of the
        cost of pickling the events, and the other side decodes only their heads."""
        if self._events is not None:
            return (PackedEvents.of_parts, ((_encode_events(self._events),),))
        return (PackedEvents.of_parts, (tuple(bytes(part) for part in self._parts),))

    @property
    def decoded(self) -> bool:
        return self._events is not None

    @property
    def parts(self) -> tuple[bytes | msgspec.Raw, ...]:
        """The msgpack arrays of events these were made of (not of changes made since)."""
        return self._parts

    def unpack(self) -> list[Event]:
        """The events, decoded once (changes made to them are kept)."""
        if self._events is None:
            self._events = [e for part in self._parts for e in _decode_events(part)]
        return self._events

    def joined(self, other: PackedEvents) -> PackedEvents:
        """These events then `other`'s, still packed (both must not be decoded yet)."""
        assert self._events is None and other._events is None
        return PackedEvents(self._parts + other._parts, self.heads + other.heads)

    def __len__(self) -> int:
        return len(self.heads)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.unpack())

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        return self.unpack()[index]


def join_events(
    first: list[Event] | PackedEvents, then: Sequence[Event]
) -> list[Event] | PackedEvents:
    """`first`'s events then `then`'s, as a new sequence (neither is changed): still packed
    when both are and neither was decoded, else a list."""
    if (
        isinstance(first, PackedEvents)
        and isinstance(then, PackedEvents)
        and not first.decoded
        and not then.decoded
    ):
        return first.joined(then)
    return [*first, *then]


class EventUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A change to one event, folded onto it whenever it arrives (before or after the event).

    `None` means "not given". Merged fields merge key by key; `outputs` replaces.
    """

    event_id: str
    config: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    feedback: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    user_properties: dict[str, Any] | None = None
    duration: float | None = None
    end_time: int | None = None
    error: str | None = None
    children_ids: list[str] | None = None
    # OTLP log records of the event's span, folded in by `normalize.logs.fold_logs`: records,
    # not a finished chat history, so that records arriving in many updates compose.
    logs: list[dict[str, Any]] | None = None


class TraceLink(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What one request says about the session of one OTLP trace (one trace, one session).

    Keyed by the trace's own session id (its trace id as a UUID, where spans of a trace that
    names no session go). `session_id`: the session the spans of the trace named in this
    request (of several, the one `preferred`); `rank` how it was named: 0 by a session
    attribute (`session.id`, `honeyhive.session_id`, …), 1 only by a GenAI conversation id
    (`gen_ai.conversation.id`, which an agent framework sets per agent run: one trace may hold
    several). `name`: the trace's root span name, when the root came in this request (it names
    a session created from attributes). The store keeps trace → named session and moves the
    trace's spans there, whatever order they come in (`Store` in store/base.py).
    """

    session_id: str | None = None
    name: str | None = None
    rank: int = 0

    def prefers(self, session_id: str, rank: int) -> bool:
        """Would (`session_id`, `rank`) be this trace's session rather than the one it has?
        The least (rank, session id) wins: a session attribute over a conversation id, then
        the smaller id. A rule on what was named, not on when: every process, whatever order
        the spans come in, settles on the same session."""
        return self.session_id is None or (rank, session_id) < (self.rank, self.session_id)


def apply_update(event: Event, update: EventUpdate) -> None:
    """Fold `update` onto `event` in place; the one definition of PUT semantics."""
    for name in MERGED_FIELDS:
        value = getattr(update, name)
        if value:
            merged = dict(getattr(event, name))
            merged.update(value)
            setattr(event, name, merged)
    if update.outputs is not None:
        event.outputs = update.outputs
    if update.duration is not None:
        event.duration = update.duration
        if update.end_time is None and math.isfinite(update.duration):
            event.end_time = event.start_time + round(update.duration)  # the end follows
    if update.end_time is not None:
        event.end_time = update.end_time
        if update.duration is None:
            event.duration = float(update.end_time - event.start_time)
    if update.error is not None:
        event.error = update.error
    if update.children_ids:
        event.children_ids = list(update.children_ids)
    if update.logs:
        from hivelog.normalize.logs import fold_logs  # imports the dialects, which import us

        fold_logs(event, update.logs)
    if update.metadata or update.config or update.logs:
        from hivelog.normalize.cost import reprice  # cost needs Event: imported late

        reprice(event, update.metadata)
