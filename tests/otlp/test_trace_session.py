"""One trace, one session: when any span of a trace names a session, the whole trace is in it.

The shape is OpenInference's `using_session` (and Traceloop's association properties): the
instrumented spans carry `session.id`, the app's own root span does not. The real OpenTelemetry
SDK makes the spans and its OTLP/HTTP exporter sends them, in the order each test chooses.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from tests.conftest import Server
from tests.otlp.otlp_helpers import event_id, events_of, trace_uuid, two_processes


def _trace(
    resource: dict[str, Any] | None = None, child_attrs: dict[str, Any] | None = None
) -> tuple[ReadableSpan, ReadableSpan, ReadableSpan, str]:
    """An app root span (no session) with a chain and a model span that name a session."""
    session = f"conv-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(
        resource=Resource.create(resource or {"deployment.environment.name": "staging"})
    )
    tracer = provider.get_tracer("tests")
    attrs = child_attrs or {"session.id": session}
    with (
        tracer.start_as_current_span("handle request") as root,
        tracer.start_as_current_span("agent", attributes=attrs) as chain,
        tracer.start_as_current_span("chat gpt-4o-mini", attributes=attrs) as llm,
    ):
        llm.set_attribute("gen_ai.operation.name", "chat")
        llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        llm.set_attribute("gen_ai.usage.input_tokens", 10)
        llm.set_attribute("gen_ai.usage.output_tokens", 2)
    provider.shutdown()
    spans = (root, chain, llm)
    assert all(isinstance(s, ReadableSpan) for s in spans)
    return root, chain, llm, session  # type: ignore[return-value]


def _send(url: str, project: str, spans: list[ReadableSpan]) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces?project={project}", timeout=30)
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()


def _ids(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def _check_one_session(
    client: httpx.Client,
    project: str,
    root: ReadableSpan,
    chain: ReadableSpan,
    llm: ReadableSpan,
    session: str,
) -> dict[str, dict[str, Any]]:
    trace_id, _ = _ids(root)
    stored = {e["event_id"]: e for e in events_of(client, project)}
    root_id, chain_id, llm_id = (event_id(*_ids(s)) for s in (root, chain, llm))
    assert set(stored) == {session, root_id, chain_id, llm_id}, stored.keys()
    assert trace_uuid(trace_id) not in stored  # the trace's own session gave way
    for eid in (root_id, chain_id, llm_id):
        assert stored[eid]["session_id"] == session
        assert stored[eid]["source"] == "staging"
    assert stored[root_id]["parent_id"] == session
    assert stored[chain_id]["parent_id"] == root_id
    assert stored[llm_id]["parent_id"] == chain_id
    head = stored[session]
    assert head["event_type"] == "session"
    assert head["event_name"] == "handle request"  # the trace's root span, not "unknown"
    assert head["source"] == "staging"
    r = client.get(f"/v1/sessions/{session}", params={"project": project})
    assert r.status_code == 200, r.text
    tree = r.json()
    assert [c["event_id"] for c in tree["children"]] == [root_id]
    assert [c["event_id"] for c in tree["children"][0]["children"]] == [chain_id]
    assert tree["metadata"]["num_events"] == 3
    return stored


@pytest.mark.parametrize("order", ["root first", "root last", "one request"])
def test_a_trace_moves_to_the_session_any_span_names(
    server: Server, client: httpx.Client, project: str, order: str
) -> None:
    root, chain, llm, session = _trace()
    if order == "root first":
        _send(server.url, project, [root])
        trace_id, _ = _ids(root)
        before = events_of(client, project)
        assert {e["session_id"] for e in before} == {trace_uuid(trace_id)}  # for now
        _send(server.url, project, [chain, llm])
    elif order == "root last":
        _send(server.url, project, [llm])
        _send(server.url, project, [chain])
        _send(server.url, project, [root])
    else:
        _send(server.url, project, [root, chain, llm])
    _check_one_session(client, project, root, chain, llm, session)
    _send(server.url, project, [root, chain, llm])  # resending changes nothing
    _check_one_session(client, project, root, chain, llm, session)


def test_a_real_session_keeps_its_name(server: Server, client: httpx.Client, project: str) -> None:
    root, chain, llm, session = _trace()
    r = client.post(
        "/session/start",
        json={"project": project, "session_id": session, "session_name": "my chat"},
    )
    assert r.status_code == 200, r.text
    _send(server.url, project, [root])
    _send(server.url, project, [chain, llm])
    (head,) = [e for e in events_of(client, project) if e["event_id"] == session]
    assert head["event_name"] == "my chat"


def test_user_ids_and_source_from_any_dialect(
    server: Server, client: httpx.Client, project: str
) -> None:
    session = f"tl-{uuid.uuid4().hex[:8]}"
    attrs = {
        "traceloop.association.properties.session_id": session,
        "traceloop.association.properties.user_id": "user-7",
        "traceloop.association.properties.tenant": "acme",
    }
    root, chain, llm, _ = _trace({"service.name": "checkout"}, attrs)
    _send(server.url, project, [root, chain, llm])
    stored = {e["event_id"]: e for e in events_of(client, project)}
    llm_event = stored[event_id(*_ids(llm))]
    assert llm_event["session_id"] == session
    assert llm_event["user_properties"] == {"user_id": "user-7"}
    assert llm_event["metadata"]["traceloop"]["association"]["properties"] == {"tenant": "acme"}
    assert llm_event["source"] == "checkout"  # no deployment.environment: service.name
    assert stored[session]["event_name"] == "handle request"


def test_two_processes_on_postgres(tmp_path_factory: pytest.TempPathFactory, project: str) -> None:
    """The root to one server process, the spans naming the session to another, both orders."""
    with two_processes(tmp_path_factory.mktemp("pg")) as (first, second):
        for n, (a, b) in enumerate(((first, second), (second, first))):
            root, chain, llm, session = _trace()
            _send(a.url, f"{project}-{n}", [root])
            _send(b.url, f"{project}-{n}", [chain, llm])
            with first.client() as client:
                _check_one_session(client, f"{project}-{n}", root, chain, llm, session)
            root, chain, llm, session = _trace()
            _send(a.url, f"{project}-{n}-late", [llm, chain])
            _send(b.url, f"{project}-{n}-late", [root])
            with second.client() as client:
                _check_one_session(client, f"{project}-{n}-late", root, chain, llm, session)


# ---- several sessions named in one trace -------------------------------------------------------
# Pydantic AI sets `gen_ai.conversation.id` on every span of an agent run, and one trace can
# hold several runs. The trace's session is the least (rank, id) its spans name — a session
# attribute before a conversation id, then the smaller id — whatever order they come in.


def _two_runs(first_attrs: dict[str, Any], second_attrs: dict[str, Any]) -> list[ReadableSpan]:
    """An app root span around two agent runs, each a chain with a model call inside."""
    provider = TracerProvider(resource=Resource.create({"service.name": "agents"}))
    tracer = provider.get_tracer("tests")
    spans: list[ReadableSpan] = []
    with tracer.start_as_current_span("two runs") as root:
        for attrs in (first_attrs, second_attrs):
            with (
                tracer.start_as_current_span("invoke_agent", attributes=attrs) as agent,
                tracer.start_as_current_span("chat gpt-4o-mini", attributes=attrs) as llm,
            ):
                llm.set_attribute("gen_ai.operation.name", "chat")
                llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            spans += [agent, llm]  # type: ignore[list-item]
    provider.shutdown()
    return [root, *spans]  # type: ignore[list-item]


_ORDERS = {
    "one request": [[0, 1, 2, 3, 4]],
    "first run, then second, then root": [[1, 2], [3, 4], [0]],
    "second run, then first, then root": [[3, 4], [1, 2], [0]],
    "root, second, first": [[0], [4], [3], [2], [1]],
    "interleaved": [[2, 4], [0], [1, 3]],
}


def _settled(
    client: httpx.Client, project: str, spans: list[ReadableSpan], session: str
) -> dict[str, dict[str, Any]]:
    """Every span of the trace in `session`, nested as sent, and no other session left."""
    stored = {e["event_id"]: e for e in events_of(client, project)}
    ids = [event_id(*_ids(s)) for s in spans]
    assert set(stored) == {session, *ids}, stored.keys()
    for eid in ids:
        assert stored[eid]["session_id"] == session
    root, agent_a, llm_a, agent_b, llm_b = ids
    assert stored[root]["parent_id"] == session
    assert stored[agent_a]["parent_id"] == root and stored[agent_b]["parent_id"] == root
    assert stored[llm_a]["parent_id"] == agent_a and stored[llm_b]["parent_id"] == agent_b
    head = stored[session]
    assert head["event_type"] == "session" and head["event_name"] == "two runs"
    starts = [stored[eid]["start_time"] for eid in ids]
    ends = [stored[eid]["end_time"] for eid in ids]
    assert head["start_time"] == min(starts) and head["end_time"] == max(ends)
    return stored


@pytest.mark.parametrize("order", list(_ORDERS))
def test_several_conversation_ids_in_one_trace(
    server: Server, client: httpx.Client, project: str, order: str
) -> None:
    low, high = sorted(f"conv-{uuid.uuid4().hex[:8]}" for _ in range(2))
    spans = _two_runs({"gen_ai.conversation.id": high}, {"gen_ai.conversation.id": low})
    for batch in _ORDERS[order]:
        _send(server.url, project, [spans[i] for i in batch])
    stored = _settled(client, project, spans, low)
    # each span still says which run it belonged to
    for span, conversation in zip(spans[1:], (high, high, low, low), strict=True):
        metadata = stored[event_id(*_ids(span))]["metadata"]
        assert metadata["gen_ai"]["conversation"]["id"] == conversation
    _send(server.url, project, spans)  # resending changes nothing
    _settled(client, project, spans, low)


@pytest.mark.parametrize("order", ["one request", "second run, then first, then root"])
def test_a_session_attribute_outranks_conversation_ids(
    server: Server, client: httpx.Client, project: str, order: str
) -> None:
    session = f"zz-user-chat-{uuid.uuid4().hex[:8]}"  # sorts after the conversation id
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    spans = _two_runs({"session.id": session}, {"gen_ai.conversation.id": conversation})
    for batch in _ORDERS[order]:
        _send(server.url, project, [spans[i] for i in batch])
    _settled(client, project, spans, session)


def test_a_conversation_continued_in_a_later_trace_stays(
    server: Server, client: httpx.Client, project: str
) -> None:
    """A trace leaving a session takes only its own spans: another trace's stay."""
    low, high = sorted(f"conv-{uuid.uuid4().hex[:8]}" for _ in range(2))
    earlier = _two_runs({"gen_ai.conversation.id": high}, {"gen_ai.conversation.id": high})
    _send(server.url, project, earlier)
    spans = _two_runs({"gen_ai.conversation.id": high}, {"gen_ai.conversation.id": low})
    _send(server.url, project, spans[:3])  # the run continuing `high`, then the root
    _send(server.url, project, spans[3:])  # then a run of `low`: this trace moves there
    stored = {e["event_id"]: e for e in events_of(client, project)}
    for span in earlier:
        assert stored[event_id(*_ids(span))]["session_id"] == high
    for span in spans:
        assert stored[event_id(*_ids(span))]["session_id"] == low
    head = stored[high]
    earlier_ids = [event_id(*_ids(s)) for s in earlier]
    assert head["start_time"] == min(stored[e]["start_time"] for e in earlier_ids)
    assert head["end_time"] == max(stored[e]["end_time"] for e in earlier_ids)


def test_conversation_ids_from_two_processes_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, project: str
) -> None:
    """Each run to another server process, in both orders: the same session."""
    with two_processes(tmp_path_factory.mktemp("pg")) as (first, second):
        for n, (a, b) in enumerate(((first, second), (second, first))):
            low, high = sorted(f"conv-{uuid.uuid4().hex[:8]}" for _ in range(2))
            spans = _two_runs({"gen_ai.conversation.id": high}, {"gen_ai.conversation.id": low})
            _send(a.url, f"{project}-{n}", [spans[0], *spans[1:3]])
            _send(b.url, f"{project}-{n}", spans[3:])
            with first.client() as client:
                _settled(client, f"{project}-{n}", spans, low)
