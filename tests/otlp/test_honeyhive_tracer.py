"""The real `honeyhive==1.7.0` tracer (OTLP/JSON to /opentelemetry/v1/traces) against hivelog."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
from honeyhive import HoneyHiveTracer, trace

from tests.conftest import Server
from tests.helpers import export, is_


def test_decorated_functions_nest_under_the_tracer_session(
    server: Server, client: httpx.Client, project: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tracer = HoneyHiveTracer.init(
            server_url=server.url,
            api_key="x",
            project=project,
            session_name="otlp-tracer-test",
            source="ci",
        )
    session_id = tracer.session_id
    assert session_id

    @trace(event_type="tool")
    def lookup(city: str, days: list[int]) -> dict[str, Any]:
        return {"city": city, "forecast": ["sun", "rain"], "days": days}

    @trace(event_type="chain", metadata={"step": "plan"})
    def plan(question: str) -> list[str]:
        lookup("Zürich", [1, 2])
        return ["answer", "日本語"]

    @trace(event_type="model")
    def call_model(prompt: str) -> str:
        return "ok"

    plan("What is the weather?")
    call_model("hi")
    tracer.enrich_session(metadata={"user": "tester"}, feedback={"rating": 5})
    assert tracer.force_flush()

    events = export(client, project, is_("session_id", session_id))
    by_name = {e["event_name"]: e for e in events}
    session = by_name.pop("otlp-tracer-test")
    assert session["event_type"] == "session" and session["event_id"] == session_id
    assert session["metadata"]["user"] == "tester" and session["feedback"]["rating"] == 5
    plan_event = next(e for n, e in by_name.items() if n.endswith("plan"))
    lookup_event = next(e for n, e in by_name.items() if n.endswith("lookup"))
    model_event = next(e for n, e in by_name.items() if n.endswith("call_model"))
    assert plan_event["event_type"] == "chain" and plan_event["parent_id"] == session_id
    assert plan_event["inputs"] == {"question": "What is the weather?"}
    assert plan_event["outputs"] == {"result": ["answer", "日本語"]}
    assert plan_event["metadata"]["step"] == "plan"
    assert plan_event["source"] == "ci"
    assert lookup_event["event_type"] == "tool"
    assert lookup_event["parent_id"] == plan_event["event_id"]
    assert lookup_event["inputs"] == {"city": "Zürich", "days": [1, 2]}
    assert lookup_event["outputs"]["result"] == {
        "city": "Zürich",
        "forecast": ["sun", "rain"],
        "days": [1, 2],
    }
    assert model_event["event_type"] == "model" and model_event["parent_id"] == session_id

    r = client.get(f"/v1/sessions/{session_id}", params={"project": project})
    assert r.status_code == 200, r.text
    tree = r.json()
    top = {c["event_id"]: c for c in tree["children"]}
    assert set(top) == {plan_event["event_id"], model_event["event_id"]}
    assert [c["event_id"] for c in top[plan_event["event_id"]]["children"]] == [
        lookup_event["event_id"]
    ]
