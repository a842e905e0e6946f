"""A conversion worker process gives exactly what converting in place gives, and a worker
that dies costs no request: it is converted in place and the next one starts a new worker."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest

from hivelog.errors import BadInput
from hivelog.event import EventHead, PackedEvents
from hivelog.ingest.converters import IN_PLACE_BYTES, Converters, convert
from hivelog.ingest.limits import Limits
from hivelog.normalize.otlp import Converted
from hivelog.store.sqlite.writes import sqlite_rows
from tests.helpers import run_alone
from tests.otlp.otlp_helpers import json_attrs, new_span, new_trace, pb_request, pb_span

TEXTS = ("東京の天気は晴れです。", "Съешь же ещё этих булок.", "plain ascii", "模型返回了答案")


def genai_body(n: int = 120) -> bytes:
    """GenAI model spans under chain roots, several traces, one span without an id, numbers
    of every kind: over IN_PLACE_BYTES, so a worker converts it."""
    spans = []
    for t in range(n // 10):
        trace = new_trace()
        root = new_span()
        spans.append(pb_span(trace, root, "agent run", {"session.id": f"s-{t % 3}"}))
        for i in range(9):
            history = [{"role": "user", "parts": [{"type": "text", "content": TEXTS[i % 4]}]}]
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.25 * i,
                "gen_ai.usage.input_tokens": 10 * i + 1,
                "gen_ai.usage.output_tokens": 2**40 + i,
                "gen_ai.input.messages": json.dumps(history, ensure_ascii=False),
                "app.flags": [True, False],
            }
            spans.append(pb_span(trace, new_span(), f"chat {i}", attrs, parent=root))
    spans.append(pb_span(new_trace(), "0" * 16, "no span id"))
    return pb_request(spans, {"service.name": "tests", "deployment.environment": "ci"})


def json_body() -> bytes:
    trace = new_trace()
    spans = [
        {
            "traceId": trace,
            "spanId": new_span(),
            "name": f"json {i}",
            "startTimeUnixNano": str(1_700_000_000_000_000_000 + i),
            "endTimeUnixNano": "1700000000005000000",
            "attributes": json_attrs({"input.value": TEXTS[i % 4] * 20, "n": i}),
        }
        for i in range(60)
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    return json.dumps(body, ensure_ascii=False).encode()


def encoded(converted: Converted) -> bytes:
    """The conversion as bytes; events a worker sent packed are decoded first (their heads
    must be theirs)."""
    for project, events in converted.by_project.items():
        if isinstance(events, PackedEvents):
            assert events.heads == [
                msgspec.convert(e, EventHead, from_attributes=True) for e in events
            ]
            converted.by_project[project] = list(events)
    return msgspec.json.encode(converted)


def test_worker_and_in_place_give_the_same_bytes() -> None:
    cases = [(genai_body(), False), (json_body(), True)]
    assert all(len(raw) >= IN_PLACE_BYTES for raw, _ in cases)

    async def run() -> None:
        converters = Converters(1)
        try:
            for raw, as_json in cases:
                by_worker = await converters.convert(raw, as_json, "default")
                assert converters._workers, "the body was meant for a worker"
                assert encoded(by_worker) == encoded(convert(raw, as_json, "default"))
            garbage = b"\xff\xff\xff\xff garbage \x00\x01" * 2000
            with pytest.raises(BadInput) as in_place:
                convert(garbage, False, "default")
            with pytest.raises(BadInput) as by_worker_error:
                await converters.convert(garbage, False, "default")
            assert (by_worker_error.value.message, by_worker_error.value.where) == (
                in_place.value.message,
                in_place.value.where,
            )
        finally:
            converters.close()

    run_alone(run())


def test_a_dead_worker_costs_no_request() -> None:
    raw = genai_body()
    expected = encoded(convert(raw, False, "default"))

    async def run() -> None:
        converters = Converters(1)
        try:
            assert encoded(await converters.convert(raw, False, "default")) == expected
            (worker,) = converters._workers
            pending = [
                asyncio.ensure_future(converters.convert(raw, False, "default")) for _ in range(3)
            ]
            await asyncio.sleep(0)  # the requests are written to the worker
            worker.process.kill()
            for result in await asyncio.gather(*pending):
                assert encoded(result) == expected  # converted in place instead
            assert encoded(await converters.convert(raw, False, "default")) == expected
            (restarted,) = converters._workers
            assert restarted is not worker and restarted.process.is_alive()
        finally:
            converters.close()

    run_alone(run())


def test_worker_rows_are_the_rows_the_server_would_encode() -> None:
    """With the writer's limits and the store's encoder, a worker sends each project's rows
    too: those `sqlite_rows` makes of the events converted in place; a project with
    something the limits would change (a NaN, a string past the field limit) gets none, and
    the writer encodes it after its limits as before."""
    limits = Limits(max_batch_events=10_000, max_field_bytes=4096, max_json_depth=64)
    odd = pb_request(
        [pb_span(new_trace(), new_span(), f"odd {i}", {"x": float("nan"), "t": "y" * 5000})
         for i in range(20)],
        {"service.name": "tests", "honeyhive.project": "odd"},
    )  # fmt: skip
    body = genai_body()

    async def run() -> None:
        converters = Converters(1, None, limits, sqlite_rows)
        try:
            got = await converters.convert(body, False, "default")
            expected = convert(body, False, "default")
            assert got.rows.keys() == expected.by_project.keys()
            for project, events in expected.by_project.items():
                assert got.rows[project] == sqlite_rows(events)
            assert got.encoded_by is sqlite_rows and got.checked_by == limits
            assert len(odd) >= IN_PLACE_BYTES
            refused = await converters.convert(odd, False, "default")
            assert "odd" in refused.by_project and "odd" not in refused.rows
        finally:
            converters.close()

    run_alone(run())
