"""Costs and token counts: cached, cache-write and reasoning tokens priced at their own rates
(checked against genai-prices' own figure), the breakdown stored, `total_tokens` on every
model event, and sessions whose calls have no price reported as unknown, never $0."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price

from tests.helpers import export, get_event, is_, post_ok, uid
from tests.otlp.otlp_helpers import new_span, new_trace, pb_request, pb_span, post_pb


def _expected(model: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model_ref=model).total_price)


def _model_event(client: httpx.Client, project: str, **fields: Any) -> dict[str, Any]:
    out = post_ok(client, "/events/model", {"model_event": {"project": project, **fields}})
    return get_event(client, project, out["event_id"])


def test_openai_cached_tokens_are_priced_at_the_cache_rate(
    client: httpx.Client, project: str
) -> None:
    usage = {
        "prompt_tokens": 2100,
        "completion_tokens": 120,
        "total_tokens": 2220,
        "prompt_tokens_details": {"cached_tokens": 1800},
    }
    event = _model_event(client, project, model="gpt-4o", provider="openai", usage=usage)
    md = event["metadata"]
    assert md["prompt_tokens"] == 2100 and md["cached_tokens"] == 1800
    assert md["completion_tokens"] == 120 and md["total_tokens"] == 2220
    expected = _expected("gpt-4o", input_tokens=2100, cache_read_tokens=1800, output_tokens=120)
    assert math.isclose(md["cost"], expected, rel_tol=1e-9), (md["cost"], expected)
    assert math.isclose(md["cost"], 0.0042, rel_tol=1e-6)  # the figure, not 0.00645
    assert md["cost_status"] == "computed"


def test_anthropic_cache_reads_and_writes(client: httpx.Client, project: str) -> None:
    # Anthropic's input_tokens leave the cached part out; hivelog's prompt_tokens count it.
    usage = {
        "input_tokens": 300,
        "output_tokens": 120,
        "cache_read_input_tokens": 1800,
        "cache_creation_input_tokens": 200,
    }
    model = "claude-3-5-sonnet-20241022"
    event = _model_event(client, project, model=model, provider="anthropic", usage=usage)
    md = event["metadata"]
    assert md["prompt_tokens"] == 2300 and md["total_tokens"] == 2420
    assert md["cached_tokens"] == 1800 and md["cache_write_tokens"] == 200
    expected = _expected(
        model, input_tokens=2300, cache_read_tokens=1800, cache_write_tokens=200, output_tokens=120
    )
    assert math.isclose(md["cost"], expected, rel_tol=1e-9), (md["cost"], expected)
    plain = _expected(model, input_tokens=2300, output_tokens=120)
    assert md["cost"] < plain * 0.5


def test_gemini_cached_and_thinking_tokens(client: httpx.Client, project: str) -> None:
    usage = {
        "prompt_token_count": 4000,
        "candidates_token_count": 100,
        "thoughts_token_count": 400,
        "cached_content_token_count": 3000,
        "total_token_count": 4500,
    }
    event = _model_event(client, project, model="gemini-2.5-flash", provider="google", usage=usage)
    md = event["metadata"]
    assert md["prompt_tokens"] == 4000 and md["cached_tokens"] == 3000
    assert md["completion_tokens"] == 500 and md["reasoning_tokens"] == 400  # thinking is output
    expected = _expected(
        "gemini-2.5-flash", input_tokens=4000, cache_read_tokens=3000, output_tokens=500
    )
    assert math.isclose(md["cost"], expected, rel_tol=1e-9), (md["cost"], expected)


def test_openai_reasoning_tokens_are_output(client: httpx.Client, project: str) -> None:
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": 900,
        "completion_tokens_details": {"reasoning_tokens": 800},
    }
    event = _model_event(client, project, model="o3-mini", provider="openai", usage=usage)
    md = event["metadata"]
    assert md["reasoning_tokens"] == 800 and md["completion_tokens"] == 900
    assert md["total_tokens"] == 950
    expected = _expected("o3-mini", input_tokens=50, output_tokens=900)
    assert math.isclose(md["cost"], expected, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("attrs", "model"),
    [
        (  # OpenTelemetry GenAI conventions, OpenLLMetry's names for the cache
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 2100,
                "gen_ai.usage.output_tokens": 120,
                "gen_ai.usage.cache_read_input_tokens": 1800,
                "gen_ai.usage.reasoning_tokens": 0,
            },
            "gpt-4o",
        ),
        (  # the GenAI conventions' current names
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 2100,
                "gen_ai.usage.output_tokens": 120,
                "gen_ai.usage.cache_read.input_tokens": 1800,
            },
            "gpt-4o",
        ),
        (  # OpenInference
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.provider": "openai",
                "llm.token_count.prompt": 2100,
                "llm.token_count.completion": 120,
                "llm.token_count.prompt_details.cache_read": 1800,
                "llm.token_count.completion_details.reasoning": 0,
            },
            "gpt-4o",
        ),
    ],
    ids=["openllmetry", "genai", "openinference"],
)
def test_otlp_cache_attributes_are_priced(
    client: httpx.Client, project: str, attrs: dict[str, Any], model: str
) -> None:
    trace, span = new_trace(), new_span()
    body = pb_request([pb_span(trace, span, "chat", {"honeyhive.project": project, **attrs})])
    post_pb(client, body)
    [event] = [e for e in export(client, project) if e["event_type"] == "model"]
    md = event["metadata"]
    assert md["prompt_tokens"] == 2100 and md["cached_tokens"] == 1800
    assert md["total_tokens"] == 2220  # filled though no total was sent
    expected = _expected(model, input_tokens=2100, cache_read_tokens=1800, output_tokens=120)
    assert math.isclose(md["cost"], expected, rel_tol=1e-9), (md["cost"], expected)


def test_total_tokens_is_filled_on_every_route(client: httpx.Client, project: str) -> None:
    meta = {"prompt_tokens": 10, "completion_tokens": 5}
    a = post_ok(
        client,
        "/events",
        {"event": {"project": project, "event_type": "model", "metadata": dict(meta)}},
    )
    b = post_ok(
        client,
        "/events/batch",
        {"project": project, "events": [{"event_type": "model", "metadata": dict(meta)}]},
    )
    c = post_ok(
        client,
        "/v1/events",
        {"project": project, "event_type": "model", "metadata": dict(meta)},
    )
    d = post_ok(
        client,
        "/events/model/batch",
        {
            "project": project,
            "model_events": [{"model": "x", "usage": {"input_tokens": 10, "output_tokens": 5}}],
        },
    )
    for event_id in (a["event_id"], b["event_ids"][0], c["event_id"], d["event_ids"][0]):
        assert get_event(client, project, event_id)["metadata"]["total_tokens"] == 15


def test_a_later_update_with_tokens_prices_the_call(client: httpx.Client, project: str) -> None:
    out = post_ok(
        client,
        "/events",
        {"event": {"project": project, "event_type": "model", "config": {"model": "gpt-4o"}}},
    )
    assert "cost" not in get_event(client, project, out["event_id"])["metadata"]
    r = client.put(
        "/events",
        json={
            "event_id": out["event_id"],
            "metadata": {"prompt_tokens": 1000, "completion_tokens": 100},
        },
    )
    assert r.status_code == 200, r.text
    md = get_event(client, project, out["event_id"])["metadata"]
    assert md["cost_status"] == "computed" and md["total_tokens"] == 1100
    assert math.isclose(md["cost"], _expected("gpt-4o", input_tokens=1000, output_tokens=100))


# ---- sessions: unknown is unknown --------------------------------------------------------


def _session_with(client: httpx.Client, project: str, models: list[str]) -> str:
    sid = uid()
    post_ok(client, "/session/start", {"session": {"project": project, "session_id": sid}})
    for model in models:
        post_ok(
            client,
            "/events/model",
            {
                "model_event": {
                    "project": project,
                    "session_id": sid,
                    "model": model,
                    "usage": {"prompt_tokens": 100, "completion_tokens": 10},
                }
            },
        )
    return sid


def _session_costs(client: httpx.Client, project: str, sid: str) -> list[tuple[Any, Any]]:
    """(cost, cost_status) as every API route reports it."""
    tree = client.get(f"/v1/sessions/{sid}", params={"project": project}).json()
    plain = client.get(f"/session/{sid}", params={"project": project}).json()
    [exported] = [
        e for e in export(client, project, is_("session_id", sid)) if e["event_type"] == "session"
    ]
    return [
        (node["metadata"].get("cost"), node["metadata"].get("cost_status"))
        for node in (tree, plain, exported)
    ]


def _cost_cell(page: str) -> str:
    """The markup of the one session cost on a page (marked with its cost_status)."""
    start = page.index("data-cost-status=")
    ends = [page.find(tag, start) for tag in ("</td>", "</dd>")]
    return page[start : min(e for e in ends if e > 0)]


def test_a_session_of_unpriced_calls_has_no_cost(client: httpx.Client, project: str) -> None:
    sid = _session_with(client, project, ["acme-private-llm", "acme-private-llm"])
    assert _session_costs(client, project, sid) == [(None, "unpriced")] * 3
    for page in (
        client.get("/", params={"project": project}).text,  # the sessions list
        client.get(f"/ui/sessions/{sid}", params={"project": project}).text,  # its header
    ):
        cell = _cost_cell(page)
        assert "unpriced" in cell and "$" not in cell, cell


def test_a_session_with_some_unpriced_calls_is_partial(client: httpx.Client, project: str) -> None:
    sid = _session_with(client, project, ["gpt-4o", "acme-private-llm"])
    expected = _expected("gpt-4o", input_tokens=100, output_tokens=10)
    for cost, status in _session_costs(client, project, sid):
        assert status == "partial" and math.isclose(cost, expected)
    for page in (
        client.get("/", params={"project": project}).text,
        client.get(f"/ui/sessions/{sid}", params={"project": project}).text,
    ):
        cell = _cost_cell(page)
        assert "partial" in cell and "$" in cell, cell


def test_a_fully_priced_session_is_complete(client: httpx.Client, project: str) -> None:
    sid = _session_with(client, project, ["gpt-4o", "gpt-4o-mini"])
    expected = _expected("gpt-4o", input_tokens=100, output_tokens=10) + _expected(
        "gpt-4o-mini", input_tokens=100, output_tokens=10
    )
    for cost, status in _session_costs(client, project, sid):
        assert status == "complete" and math.isclose(cost, expected)
