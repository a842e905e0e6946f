"""The server starts, answers /healthz, and serves its OpenAPI document and docs page."""

import httpx


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["version"]
    before = body["writer"]["committed_jobs"]
    client.post("/events", json={"event": {"event_type": "tool"}}).raise_for_status()
    after = client.get("/healthz").json()["writer"]
    assert after["committed_jobs"] == before + 1 and after["queued_events"] == 0


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/session/start", "/events", "/events/batch", "/v1/sessions/{session_id}"):
        assert path in doc["paths"]
    assert "EventIn" in doc["components"]["schemas"]
    page = client.get("/docs")
    assert page.status_code == 200 and "/events/batch" in page.text
