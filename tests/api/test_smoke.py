"""The server starts, answers /healthz, and serves its OpenAPI document and docs page."""

import httpx


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["success"] is True


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/session/start", "/events", "/events/batch", "/v1/sessions/{session_id}"):
        assert path in doc["paths"]
    assert "EventIn" in doc["components"]["schemas"]
    page = client.get("/docs")
    assert page.status_code == 200 and "/events/batch" in page.text
