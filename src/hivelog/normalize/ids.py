"""The ids OTLP data is stored under, in a module of their own.

An event's id is a UUIDv5 of (trace id, span id) under a fixed namespace, so a resent span is
the same event and a child (or a log record) can name its span's event id without having seen
it; a trace's own session id is its trace id written as a UUID. The store needs the latter
inside its write transaction (`store/traces.py`), and the SQLite writer process imports the
store: kept apart from the span converter, these import nothing heavier than `hashlib`.
"""

from __future__ import annotations

import hashlib
import uuid

# Fixed forever: changing it would give every resent span a new event id.
SPAN_NAMESPACE = uuid.UUID("0b5c7e1e-4f43-5e8a-9d6b-2c1f7a3e9b10")
_NS_BYTES = SPAN_NAMESPACE.bytes

# A UUID's variant nibble (RFC 4122: binary 10xx) for each hex digit the hash put there
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def span_event_id(trace_id: str, span_id: str) -> str:
    """`uuid5(SPAN_NAMESPACE, trace_id + span_id)`, computed without building UUID objects:
    the version and variant are set on the hash's hex digits (this runs once per span)."""
    h = hashlib.sha1(_NS_BYTES + (trace_id + span_id).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def trace_session_id(trace_id: str) -> str:
    """A trace id written as a UUID (its 32 hex digits as 8-4-4-4-12)."""
    t = trace_id
    return f"{t[:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:]}"
