"""Property tests over real HTTP.

Order-free ingestion: for any permutation of a session's creates, resends and updates, the
stored session (the tree, every merged field) is the same as for the natural order.
Transport-free OTLP: any span stores the same event whether sent as OTLP/JSON or protobuf.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Server
from tests.otlp.otlp_helpers import PROTOBUF, json_attrs, pb_request, pb_span

EXAMPLES = int(os.environ.get("HIVELOG_PROPERTY_EXAMPLES", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("HIVELOG_FUZZ_RANDOM") is None,
    database=None,
)
T0 = 1_700_000_000_000

# ---- order-free sessions ------------------------------------------------------------------

Op = tuple[str, int, dict[str, Any]]  # (kind, event index or -1 for the session, payload)


@st.composite
def session_ops(draw: st.DrawFn) -> tuple[int, list[int | None], list[Op], bool]:
    """A session of n events (parents among earlier events), the ops that build it."""
    n = draw(st.integers(1, 5))
    parents = [None if i == 0 else draw(st.sampled_from([None, *range(i)])) for i in range(n)]
    start = draw(st.booleans())  # with or without an explicit session start
    ops: list[Op] = []
    if start:
        ops.append(("session", -1, {}))
    for i in range(n):
        ops.append(("create", i, {}))
        if draw(st.booleans()):
            ops.append(("create", i, {}))  # a resend: same body, same id
    keys = iter(range(1000))
    for target in draw(st.lists(st.integers(-1 if start else 0, n - 1), max_size=4)):
        payload: dict[str, Any] = {"metadata": {f"m{next(keys)}": draw(st.integers(0, 9))}}
        if draw(st.booleans()):
            payload["feedback"] = {f"f{next(keys)}": draw(st.booleans())}
        ops.append(("update", target, payload))
    if draw(st.booleans()):  # at most one output replacement per event: replacements commute
        ops.append(("update", draw(st.integers(0, n - 1)), {"outputs": {"final": "yes"}}))
    order = draw(st.permutations(range(len(ops))))
    return n, parents, [ops[k] for k in order], start


def _apply(
    c: httpx.Client, project: str, run: str, n: int, parents: list[int | None], ops: list[Op]
) -> str:
    session = f"{run}-s"

    def eid(i: int) -> str:
        return session if i < 0 else f"{run}-e{i}"

    for kind, i, payload in ops:
        if kind == "session":
            body: dict[str, Any] = {
                "session": {
                    "project": project,
                    "session_id": session,
                    "session_name": "prop",
                    "source": "test",
                    "start_time": T0,
                    "end_time": T0 + 1000,
                    "metadata": {"origin": "start"},
                }
            }
            r = c.post("/session/start", json=body)
        elif kind == "create":
            parent = parents[i]
            r = c.post(
                "/events",
                json={
                    "event": {
                        "project": project,
                        "event_id": eid(i),
                        "session_id": session,
                        "parent_id": eid(parent) if parent is not None else session,
                        "event_type": "tool",
                        "event_name": f"e{i}",
                        "source": "test",
                        "start_time": T0 + 10 * (i + 1),
                        "end_time": T0 + 10 * (i + 1) + 5,
                        "inputs": {"i": i},
                        "outputs": {"o": i},
                        "metadata": {"base": i},
                    }
                },
            )
        else:
            r = c.put("/events", json={"project": project, "event_id": eid(i), **payload})
        assert r.status_code == 200, r.text
    return session


def _normal(node: Any, run: str) -> Any:
    """The tree with this run's ids made run-independent and server-made ids left out."""
    if isinstance(node, dict):
        return {k: _normal(v, run) for k, v in node.items() if k not in ("project_id",)}
    if isinstance(node, list):
        return [_normal(v, run) for v in node]
    if isinstance(node, str):
        return node.replace(run, "RUN")
    return node


@given(case=session_ops())
@SETTINGS
def test_any_order_of_creates_resends_and_updates_stores_the_same_session(
    server: Server, case: tuple[int, list[int | None], list[Op], bool]
) -> None:
    n, parents, ops, _ = case
    natural = sorted(ops, key=lambda op: ({"session": 0, "create": 1, "update": 2}[op[0]], op[1]))
    project = f"prop-{uuid.uuid4().hex[:8]}"
    trees = []
    with server.client() as c:
        for order in (natural, ops):
            run = uuid.uuid4().hex[:12]
            session = _apply(c, project, run, n, parents, order)
            r = c.get(f"/v1/sessions/{session}", params={"project": project})
            assert r.status_code == 200, r.text
            trees.append(_normal(r.json(), run))
    assert trees[1] == trees[0]


# ---- OTLP: JSON and protobuf store the same event -------------------------------------------

attr_values = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
)
attr_keys = st.sampled_from([
    "gen_ai.system", "gen_ai.request.model", "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens", "llm.request.type", "input.value", "output.value",
    "honeyhive_event_type", "custom.key", "user.id", "tool.name", "x",
])  # fmt: skip


@given(
    name=st.text(min_size=1, max_size=40),
    attrs=st.dictionaries(attr_keys, attr_values, max_size=6),
    duration_ns=st.integers(0, 10**12),
    status=st.sampled_from([0, 1, 2]),
    message=st.text(max_size=20),
    child=st.booleans(),
)
@SETTINGS
def test_an_otlp_span_stores_the_same_event_from_json_and_protobuf(
    server: Server,
    name: str,
    attrs: dict[str, Any],
    duration_ns: int,
    status: int,
    message: str,
    child: bool,
) -> None:
    trace, root, span = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    start = 1_700_000_000_000_000_000
    parent = root if child else ""
    pb = pb_request(
        [
            pb_span(
                trace,
                span,
                name,
                attrs,
                parent=parent,
                start_ns=start,
                duration_ns=duration_ns,
                status=status,
                message=message,
            )
        ]
    )
    as_json: dict[str, Any] = {"resourceSpans": [{
        "resource": {"attributes": json_attrs({"service.name": "tests"})},
        "scopeSpans": [{"scope": {"name": "tests"}, "spans": [{
            "traceId": trace, "spanId": span, "name": name, "kind": 1,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + duration_ns),
            "attributes": json_attrs(attrs),
            "status": {"code": status, "message": message},
            **({"parentSpanId": parent} if parent else {}),
        }]}],
    }]}  # fmt: skip
    events = []
    with server.client() as c:
        for body, project in ((pb, "otlp-pb"), (as_json, "otlp-json")):
            if isinstance(body, bytes):
                r = c.post(f"/v1/traces?project={project}", content=body, headers=PROTOBUF)
            else:
                r = c.post(f"/v1/traces?project={project}", json=body)
            assert r.status_code == 200, r.text
            found = c.post(
                "/events/export",
                json={
                    "project": project,
                    "filters": [
                        {"field": "metadata.otel.span_id", "operator": "is", "value": span}
                    ],
                },
            ).json()
            assert found["totalEvents"] == 1, (project, found)
            event = found["events"][0]
            event.pop("project_id")
            events.append(event)
    assert events[0] == events[1]
