"""The tracer's notion of "where am I": one context variable, so it follows asyncio tasks.

A `Scope` is the session or traced call that new events nest under. Threads started with
`contextvars.copy_context().run` and asyncio tasks (which copy the context) inherit it.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hivelog_client.logger import BaseLogger


class Scope:
    """A session (`event is None`) or a traced call in progress (`event` is its pending body)."""

    __slots__ = ("event", "event_id", "logger", "session_id")

    def __init__(
        self,
        logger: BaseLogger,
        session_id: str,
        event_id: str,
        event: dict[str, Any] | None = None,
    ) -> None:
        self.logger = logger
        self.session_id = session_id
        self.event_id = event_id
        self.event = event


current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "hivelog_scope", default=None
)
