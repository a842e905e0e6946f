"""A session as a tree: events nested by `parent_id`, with the session's aggregates.

Built in one pass over the session's events (one indexed read), so a 10,000-event session
costs one query and linear work. An event whose parent is missing hangs under the root.
Built and encoded without recursion (`encode_tree`): a chain of events thousands deep is read
like any other session, whatever the interpreter's recursion limit.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hivelog.query.events import event_dict
from hivelog.store.base import Project, StoredEvent
from hivelog.store.rows import whole


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value)


def aggregates(events: list[StoredEvent], root_id: str) -> dict[str, Any]:
    """HoneyHive's session metadata aggregates over every event but the root."""
    cost = prompt = completion = total = 0.0
    num_events = num_model = 0
    has_feedback = False
    for e in events:
        if e.event_id == root_id:
            continue
        num_events += 1
        if e.feedback:
            has_feedback = True
        if e.event_type == "model":
            num_model += 1
        md = e.metadata
        cost += _number(md.get("cost"))
        p, c = _number(md.get("prompt_tokens")), _number(md.get("completion_tokens"))
        prompt += p
        completion += c
        total += _number(md.get("total_tokens")) or (p + c)
    return {
        "num_events": num_events,
        "num_model_events": num_model,
        "has_feedback": has_feedback,
        "cost": cost,
        "prompt_tokens": whole(prompt),
        "completion_tokens": whole(completion),
        "total_tokens": whole(total),
    }


def build_tree(events: list[StoredEvent], root_id: str, project: Project) -> dict[str, Any] | None:
    """The nested node of `root_id` with all its descendants, or None if it is not there.

    The whole session is assembled first: an event whose parent is missing, or which sits in
    a parent cycle, hangs under the session, so no event is ever left out of the tree.
    """
    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        node = event_dict(e, project)
        node["children"] = []
        nodes[e.event_id] = node
    if root_id not in nodes:
        return None
    session_id = events[0].session_id if events else root_id
    top = nodes.get(session_id, nodes[root_id])
    placed: set[str] = {top["event_id"]}
    pending = [e for e in events if e.event_id != top["event_id"]]
    kids: dict[str, list[StoredEvent]] = {}
    for e in pending:
        kids.setdefault(e.parent_id or "", []).append(e)

    def walk(start: str) -> None:  # iterative: deep chains cannot exhaust the Python stack
        stack = [start]
        while stack:
            parent_id = stack.pop()
            for child in kids.get(parent_id, ()):
                if child.event_id not in placed:
                    placed.add(child.event_id)
                    nodes[parent_id]["children"].append(nodes[child.event_id])
                    stack.append(child.event_id)

    walk(top["event_id"])
    for e in pending:  # orphans and cycles hang under the session, with their descendants
        if e.event_id not in placed:
            placed.add(e.event_id)
            top["children"].append(nodes[e.event_id])
            walk(e.event_id)
    if top["event_type"] == "session":
        top["metadata"] = {**top["metadata"], **aggregates(events, top["event_id"])}
    return nodes[root_id]


_encode = msgspec.json.Encoder().encode


def encode_tree(node: dict[str, Any], **extra: Any) -> bytes:
    """JSON of a `build_tree` node (with `extra` keys added at its top), without recursion.

    Each event is encoded alone (its own fields nest only as deep as ingest allows); the
    `children` arrays are spliced in with an explicit stack, so depth costs no stack frames.
    """
    out: list[bytes] = []
    # (node, extra keys) to open, or None to close the "children" array and the object
    stack: list[tuple[dict[str, Any], dict[str, Any]] | None] = [(node, extra)]
    first: list[bool] = []  # per open children array: no element written yet
    while stack:
        item = stack.pop()
        if item is None:
            out.append(b"]}")
            first.pop()
            continue
        current, more = item
        if first:
            if not first[-1]:
                out.append(b",")
            first[-1] = False
        fields = {k: v for k, v in current.items() if k != "children"}
        fields.update(more)
        body = _encode(fields)
        children = current.get("children") or []
        out.append(body[:-1] + b',"children":[' if len(body) > 2 else b'{"children":[')
        first.append(True)
        stack.append(None)
        stack.extend((child, {}) for child in reversed(children))
    return b"".join(out)
