"""The real `honeyhive==1.7.0` SDK from PyPI as a client, pointed at hivelog with HH_API_URL."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from honeyhive import HoneyHive
from honeyhive.models import (
    EventFilter,
    PostEventBatchRequest,
    PostEventRequest,
    UpdateEventRequest,
)

from tests.conftest import Server
from tests.helpers import get_event, uid


@pytest.fixture()
def sdk(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[HoneyHive]:
    monkeypatch.setenv("HH_API_URL", server.url)
    monkeypatch.setenv("HH_API_KEY", "any-key")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield HoneyHive()


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.model_dump()


def test_sdk_round_trip(sdk: HoneyHive, client: httpx.Client, project: str) -> None:
    sid = uid()
    started = sdk.sessions.start(
        {
            "session": {
                "project": project,
                "session_name": "sdk",
                "source": "ci",
                "session_id": sid,
                "inputs": {"q": "hi"},
            }
        }
    )
    assert started.session_id == sid and started.event_id == sid
    assert started.project_id and started.org_id and started.workspace_id

    event = {
        "project": project,
        "session_id": sid,
        "event_type": "model",
        "event_name": "llm",
        "source": "ci",
        "config": {"model": "gpt-4o-mini", "provider": "openai"},
        "inputs": {"chat_history": [{"role": "user", "content": "hi"}]},
        "outputs": {"role": "assistant", "content": "hello"},
        "metadata": {"prompt_tokens": 3, "completion_tokens": 2},
        "duration": 12,
        "start_time": 1_795_778_365_045,
    }
    created = sdk.events.create(PostEventRequest(event=event))
    assert created.success is True and created.event_id

    sdk.events.update(
        UpdateEventRequest(
            event_id=created.event_id,
            metadata={"score": 1},
            feedback={"rating": 4},
            outputs={"content": "edited"},
        )
    )
    sdk.events.update(UpdateEventRequest(event_id=sid, metadata={"enriched": True}))

    batch = sdk.events.create_batch(
        PostEventBatchRequest(
            events=[
                {
                    "project": project,
                    "event_type": "tool",
                    "event_name": f"t{i}",
                    "inputs": {"i": i},
                }
                for i in range(3)
            ],
            is_single_session=True,
            session_properties={"session_name": "batch", "source": "ci"},
        )
    )
    assert batch.success is True and len(batch.event_ids) == 3 and batch.session_id

    exported = sdk.events.export(
        project=project,
        filters=[EventFilter(field="session_id", operator="is", value=sid, type="string")],
        limit=100,
        page=1,
    )
    assert exported.total_events == 2
    by_id = {_as_dict(e)["event_id"]: _as_dict(e) for e in exported.events}

    # field by field, against our own routes
    ours = get_event(client, project, created.event_id)
    theirs = by_id[created.event_id]
    for field in (
        "event_type",
        "event_name",
        "source",
        "session_id",
        "parent_id",
        "config",
        "inputs",
        "outputs",
        "feedback",
        "start_time",
        "duration",
    ):
        assert theirs[field] == ours[field], field
    assert ours["outputs"] == {"content": "edited"}
    assert ours["metadata"]["score"] == 1 and ours["metadata"]["prompt_tokens"] == 3
    assert ours["metadata"]["cost_status"] == "computed"
    assert ours["feedback"] == {"rating": 4}
    session = get_event(client, project, sid)
    # the session's own metadata, plus the cost of its calls that every session read carries
    assert session["metadata"] == {
        "enriched": True,
        "cost": session["metadata"]["cost"],
        "cost_status": "complete",
    }
    assert session["metadata"]["cost"] > 0 and session["inputs"] == {"q": "hi"}
    assert session["children_ids"] == [created.event_id]

    batched = sdk.events.export(
        project=project,
        filters=[
            EventFilter(field="session_id", operator="is", value=batch.session_id, type="string")
        ],
    )
    assert batched.total_events == 4
