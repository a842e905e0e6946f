"""Property tests over the number and string domains, through real HTTP on both backends.

Any number an instrumentation can send (every float including NaN and infinities, integers
far past 64 bits) and any string (every code point but lone surrogates, which UTF-8 cannot
carry) is refused with a 4xx or stored in a form that reads back as documented — and every
read route and page showing it answers without a 5xx. Examples per property:
HIVELOG_PROPERTY_EXAMPLES (default 25); HIVELOG_FUZZ_RANDOM set = a new random seed each run.
"""

from __future__ import annotations

import math
import os
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Server
from tests.otlp.otlp_helpers import PROTOBUF, new_span, new_trace, pb_request, pb_span
from tests.security.hostile_data import visible

EXAMPLES = int(os.environ.get("HIVELOG_PROPERTY_EXAMPLES", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("HIVELOG_FUZZ_RANDOM") is None,
    database=None,
)
_NAMESPACE = uuid.UUID("0b5c7e1e-4f43-5e8a-9d6b-2c1f7a3e9b10")
INT64 = 2**63

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([INT64 - 1, -INT64, INT64, 2**64, 10**30, 10**400]),
)
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


def expected_number(value: float | int) -> Any:
    """What hivelog stores for a number (docs/security.md, hostile data)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if -INT64 <= value < INT64:
        return value
    try:
        return float(value)
    except OverflowError:
        return str(value)


def same_number(got: Any, want: Any) -> bool:
    if isinstance(want, str) or isinstance(got, str):
        return got == want
    return float(got) == float(want)


def _reads(c: httpx.Client, project: str, event_id: str, session_id: str) -> dict[str, Any]:
    """The event as the API returns it, after checking every view of it answers."""
    for path in (
        f"/ui/event/{event_id}",
        f"/ui/sessions/{session_id}",
        f"/v1/sessions/{session_id}",
    ):
        r = c.get(path, params={"project": project})
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    for path in ("/", "/ui/events"):
        r = c.get(path, params={"project": project, "f": "session_id", "op": "is", "v": session_id})
        assert r.status_code == 200, (path, r.text[:300])
    r = c.get(f"/v1/events/{event_id}", params={"project": project})
    assert r.status_code == 200, r.text[:300]
    event: dict[str, Any] = r.json()["event"]
    return event


def _otlp_number(c: httpx.Client, project: str, value: float | int, as_json: bool) -> Any:
    trace, span = new_trace(), new_span()
    if as_json:
        wire: dict[str, Any]
        if isinstance(value, float):
            wire = {"doubleValue": value if math.isfinite(value) else expected_number(value)}
        else:
            wire = {"intValue": str(value)}
        body = {"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": span, "name": "n",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000",
            "attributes": [{"key": "honeyhive.project", "value": {"stringValue": project}},
                           {"key": "value", "value": wire}]}]}]}]}  # fmt: skip
        r = c.post("/v1/traces", json=body)
    else:
        if isinstance(value, int) and not -INT64 <= value < INT64:
            value = float(value) if abs(value) < 2**1000 else math.inf  # protobuf carries int64
        attrs = {"honeyhive.project": project, "value": value}
        r = c.post("/v1/traces", content=pb_request([pb_span(trace, span, "n", attrs)]),
                   headers=PROTOBUF)  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    event_id = str(uuid.uuid5(_NAMESPACE, trace + span))
    session_id = str(uuid.UUID(trace))
    return value, _reads(c, project, event_id, session_id)["metadata"]["value"]


@SETTINGS
@given(value=numbers, as_json=st.booleans())
def test_any_number_through_otlp(server: Server, value: float | int, as_json: bool) -> None:
    project = f"num-{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        sent, got = _otlp_number(c, project, value, as_json)
    assert same_number(got, expected_number(sent)), (sent, got)


@SETTINGS
@given(value=numbers)
def test_any_number_through_rest(server: Server, value: float | int) -> None:
    project = f"num-{uuid.uuid4().hex[:8]}"
    event_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())
    event = {"event_id": event_id, "session_id": session_id, "event_type": "tool",
             "project": project, "metrics": {"value": value}}  # fmt: skip
    json_ok = isinstance(value, int) or math.isfinite(value)
    with server.client() as c:
        if not json_ok:  # JSON has no NaN or infinity: a client cannot send one
            return
        r = c.post("/events", json={"event": event})
        assert r.status_code == 200, r.text[:300]
        got = _reads(c, project, event_id, session_id)["metrics"]["value"]
    assert same_number(got, expected_number(value)), (value, got)


def _as_stored(server: Server, value: str) -> str:
    return value.replace("\x00", "\ufffd") if server.db.startswith("postgresql://") else value


@SETTINGS
@given(name=texts, key=texts, value=texts)
def test_any_string_through_rest(server: Server, name: str, key: str, value: str) -> None:
    project = f"str-{uuid.uuid4().hex[:8]}"
    event_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())
    event = {"event_id": event_id, "session_id": session_id, "event_type": "tool",
             "project": project, "event_name": name, "source": value,
             "metadata": {key: value}, "inputs": {"q": value}}  # fmt: skip
    with server.client() as c:
        r = c.post("/events", json={"event": event})
        assert r.status_code == 200, r.text[:300]
        stored = _reads(c, project, event_id, session_id)
        page = c.get(f"/ui/event/{event_id}", params={"project": project}).text
    assert stored["event_name"] == _as_stored(server, name)
    assert stored["source"] == _as_stored(server, value)
    assert stored["metadata"][_as_stored(server, key)] == _as_stored(server, value)
    assert stored["inputs"]["q"] == _as_stored(server, value)
    assert page.count("<script") == page.count("</script>")  # no stored tag opened one


@SETTINGS
@given(name=texts, value=texts)
def test_any_string_through_otlp(server: Server, name: str, value: str) -> None:
    project = f"str-{uuid.uuid4().hex[:8]}"
    trace, span = new_trace(), new_span()
    attrs = {"honeyhive.project": project, "note": value}
    with server.client() as c:
        r = c.post("/v1/traces", content=pb_request([pb_span(trace, span, name, attrs)]),
                   headers=PROTOBUF)  # fmt: skip
        assert r.status_code == 200, r.text[:300]
        event_id = str(uuid.uuid5(_NAMESPACE, trace + span))
        stored = _reads(c, project, event_id, str(uuid.UUID(trace)))
    assert stored["event_name"] == _as_stored(server, name)
    assert stored["metadata"]["note"] == _as_stored(server, value)
    assert visible(stored["event_name"]) == visible(_as_stored(server, name))
