"""Stored events → the JSON objects responses carry (with project, org and workspace ids)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from hivelog.event import Event
from hivelog.store.base import ORG_ID, WORKSPACE_ID, Project, StoredEvent


def event_dict(event: Event | StoredEvent, project: Project) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.structs.asdict(event)
    out["project_id"] = project.project_id
    out["org_id"] = ORG_ID
    out["workspace_id"] = WORKSPACE_ID
    return out


def _pick(source: dict[str, Any], path: list[str], target: dict[str, Any]) -> None:
    head, rest = path[0], path[1:]
    if head not in source:
        return
    if not rest:
        target[head] = source[head]
        return
    inner = source[head]
    if isinstance(inner, dict):
        _pick(inner, rest, target.setdefault(head, {}))
    elif isinstance(inner, list) and rest[0].isdigit() and int(rest[0]) < len(inner):
        picked: dict[str, Any] = target.setdefault(head, {})
        if len(rest) == 1:
            picked[rest[0]] = inner[int(rest[0])]
        elif isinstance(inner[int(rest[0])], dict):
            _pick(inner[int(rest[0])], rest[1:], picked.setdefault(rest[0], {}))


def project_fields(event: dict[str, Any], projections: Sequence[str] | None) -> dict[str, Any]:
    """Keep only the projected (possibly dotted) fields; no projections keeps everything."""
    if not projections:
        return event
    out: dict[str, Any] = {}
    for field in projections:
        if field:
            _pick(event, field.split("."), out)
    return out
