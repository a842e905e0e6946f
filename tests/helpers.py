"""Small helpers the API tests share: read back through the export route, build filters."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def run_alone(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a thread of its own: this process (a pytest-xdist worker) runs
    many test files, and one of them (the browser driver, say) may have left an event loop
    marked running on the main thread, where `asyncio.run` then refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main).result()


def uid() -> str:
    return str(uuid.uuid4())


def is_(field: str, value: Any, type_: str = "string") -> dict[str, Any]:
    return {"field": field, "operator": "is", "value": value, "type": type_}


def export(
    client: httpx.Client, project: str, *filters: dict[str, Any], **extra: Any
) -> list[dict[str, Any]]:
    body = {"project": project, "filters": list(filters), **extra}
    r = client.post("/events/export", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["totalEvents"] == data["count"]
    events: list[dict[str, Any]] = data["events"]
    return events


def get_event(client: httpx.Client, project: str, event_id: str) -> dict[str, Any]:
    found = export(client, project, is_("event_id", event_id))
    assert len(found) == 1, found
    return found[0]


def session_events(client: httpx.Client, project: str, session_id: str) -> list[dict[str, Any]]:
    return export(client, project, is_("session_id", session_id))


def post_ok(client: httpx.Client, path: str, body: Any) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out
