"""The loggers' shared base, and `Logger`, which sends each call now (strategies 1 and 2).

Both loggers (`Logger` here, `BatchLogger` in `batch`) have the same methods, build the same
bodies in `BaseLogger`, and choose every id on the client, so the caller knows an event's id
before it is sent and a retried request can never duplicate it. The process-wide fork and exit
hooks for every logger are here too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

from hivelog_client._context import Scope, current
from hivelog_client._encode import to_json
from hivelog_client._http import RetryPolicy, Transport, send

DEFAULT_URL = "http://127.0.0.1:8080"
EVENT_TYPES = ("model", "tool", "chain", "generic", "session")
_OBJECT_FIELDS = (
    "config",
    "inputs",
    "outputs",
    "metadata",
    "feedback",
    "metrics",
    "user_properties",
)


def new_id() -> str:
    return str(uuid.uuid4())


def now_ms() -> int:
    return int(time.time() * 1000)


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _start_of(start: float | None, end: float | None, duration: float | None) -> float:
    """An event is logged when it ends: with no start, it started `duration` before its end,
    which is now unless given (so `duration=840` alone is the 840 ms just past)."""
    if start is not None:
        return start
    return (end if end is not None else now_ms()) - (duration or 0)


def _put(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Add the fields that were given (None means "not given", as in the API)."""
    for key, value in fields.items():
        if value is not None:
            body[key] = value
    return body


class BaseLogger:
    """What both loggers share: configuration, body building, and the context session."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        project: str | None = None,
        source: str | None = None,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Arguments fall back to HIVELOG_URL/HH_API_URL, HIVELOG_API_KEY/HH_API_KEY,
        HIVELOG_PROJECT/HH_PROJECT and HH_SOURCE, so one app runs unchanged against hivelog
        or HoneyHive."""
        self.url = url or _env("HIVELOG_URL", "HH_API_URL") or DEFAULT_URL
        self.project = project or _env("HIVELOG_PROJECT", "HH_PROJECT")
        self.source = source or _env("HIVELOG_SOURCE", "HH_SOURCE") or "dev"
        self.transport = Transport(
            self.url, api_key or _env("HIVELOG_API_KEY", "HH_API_KEY"), timeout
        )
        self.retry = retry or RetryPolicy()
        _LOGGERS.add(self)

    # ---- what subclasses do with a body ----------------------------------------------------

    def _send_session(self, session_id: str, session: dict[str, Any]) -> None:
        raise NotImplementedError

    def _send_event(self, session_id: str | None, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def _send_model(self, session_id: str | None, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def _send_update(self, update: dict[str, Any]) -> None:
        raise NotImplementedError

    # ---- process-wide events: fork and exit (see the end of this module) -------------------

    def _before_fork(self) -> None:
        """In the parent, just before a fork: take what the child must find unlocked."""

    def _after_fork_parent(self) -> None:
        """In the parent, just after a fork: release what `_before_fork` took."""

    def _after_fork_child(self) -> None:
        self.transport.reset_after_fork()

    def _at_exit(self) -> None:
        """At interpreter exit: send what is still waiting (exceptions are suppressed)."""

    # ---- sessions --------------------------------------------------------------------------

    def _start(
        self,
        session_name: str | None,
        session_id: str | None,
        fields: dict[str, Any],
    ) -> str:
        sid = session_id or new_id()
        session = _put(
            {"session_id": sid, "source": fields.pop("source", None) or self.source},
            session_name=session_name,
            start_time=fields.pop("start_time", None) or now_ms(),
        )
        _put(session, **fields)
        self._send_session(sid, session)
        return sid

    def start_session(
        self,
        session_name: str | None = None,
        *,
        session_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
        source: str | None = None,
        start_time: float | None = None,
        **extra: Any,
    ) -> str:
        """Start a session and make it the current one of this thread or task; returns its id.

        Later calls without `session_id`, and `@trace`d functions, log into it.
        """
        sid = self._start(
            session_name,
            session_id,
            dict(
                inputs=inputs,
                metadata=metadata,
                config=config,
                user_properties=user_properties,
                source=source,
                start_time=start_time,
                **extra,
            ),
        )
        current.set(Scope(self, sid, sid))
        return sid

    @contextlib.contextmanager
    def session(self, session_name: str | None = None, **fields: Any) -> Iterator[str]:
        """`with logger.session("chat") as session_id:` — current only inside the block."""
        sid = self._start(session_name, fields.pop("session_id", None), fields)
        token = current.set(Scope(self, sid, sid))
        try:
            yield sid
        finally:
            current.reset(token)

    def _where(
        self, session_id: str | None, parent_id: str | None
    ) -> tuple[str | None, str | None]:
        """Explicit ids win; otherwise the current session, and the traced call as parent."""
        scope = current.get()
        if scope is None or (session_id is not None and session_id != scope.session_id):
            return session_id, parent_id
        if parent_id is None and scope.event_id != scope.session_id:
            parent_id = scope.event_id
        return scope.session_id, parent_id

    # ---- events ----------------------------------------------------------------------------

    def log_event(
        self,
        event_type: str,
        event_name: str,
        *,
        session_id: str | None = None,
        parent_id: str | None = None,
        event_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        feedback: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
        error: str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        duration: float | None = None,
        source: str | None = None,
        **extra: Any,
    ) -> str:
        """Log one event of any type (`POST /events`); returns its id."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"event_type must be one of {', '.join(EVENT_TYPES)}")
        sid, parent_id = self._where(session_id, parent_id)
        eid = event_id or new_id()
        event = _put(
            {
                "event_id": eid,
                "event_type": event_type,
                "event_name": event_name,
                "source": source or self.source,
                "start_time": _start_of(start_time, end_time, duration),
            },
            session_id=sid,
            parent_id=parent_id,
            inputs=inputs if inputs is not None else {},
            outputs=outputs,
            config=config,
            metadata=metadata,
            feedback=feedback,
            metrics=metrics,
            user_properties=user_properties,
            error=error,
            end_time=end_time,
            duration=duration,
            **extra,
        )
        self._send_event(sid, event)
        return eid

    def log_tool(self, event_name: str, **fields: Any) -> str:
        """A deterministic call: a vector search, an API, a function. See `log_event`."""
        return self.log_event("tool", event_name, **fields)

    def log_chain(self, event_name: str, **fields: Any) -> str:
        """A group of model and tool calls; give its id as `parent_id` to nest them."""
        return self.log_event("chain", event_name, **fields)

    def log_model(
        self,
        model: str,
        *,
        messages: list[Any] | None = None,
        response: dict[str, Any] | None = None,
        provider: str | None = None,
        usage: dict[str, Any] | None = None,
        cost: float | None = None,
        duration: float | None = None,
        hyperparameters: dict[str, Any] | None = None,
        event_name: str | None = None,
        session_id: str | None = None,
        parent_id: str | None = None,
        event_id: str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        error: str | None = None,
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
        **extra: Any,
    ) -> str:
        """One LLM call in the provider's own shape (`POST /events/model`); returns its id.

        The server files `messages` as the chat history, `response` as the outputs and
        `usage` as token counts, and prices the call when it knows the model.
        """
        sid, parent_id = self._where(session_id, parent_id)
        eid = event_id or new_id()
        event = _put(
            {
                "event_id": eid,
                "event_type": "model",
                "model": model,
                "source": source or self.source,
                "start_time": _start_of(start_time, end_time, duration),
            },
            session_id=sid,
            parent_id=parent_id,
            event_name=event_name,
            messages=messages,
            response=response,
            provider=provider,
            usage=usage,
            cost=cost,
            duration=duration,
            hyperparameters=hyperparameters,
            end_time=end_time,
            error=error,
            metadata=metadata,
            **extra,
        )
        self._send_model(sid, event)
        return eid

    def update(
        self,
        event_id: str,
        *,
        feedback: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
        duration: float | None = None,
        end_time: float | None = None,
        error: str | None = None,
    ) -> None:
        """Change an event or a session later (`PUT /events`): objects merge, outputs replace."""
        self._send_update(
            _put(
                {"event_id": event_id},
                feedback=feedback,
                metrics=metrics,
                metadata=metadata,
                outputs=outputs,
                config=config,
                user_properties=user_properties,
                duration=duration,
                end_time=end_time,
                error=error,
            )
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> BaseLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Logger(BaseLogger):
    """Sync strategies: each call is one request, answered after the server stored it.

    Network errors, 429 and 5xx are retried (same ids, so never duplicated); a refusal or an
    exhausted retry budget raises `HivelogError`.
    """

    def _post(self, method: str, path: str, body: dict[str, Any]) -> Any:
        data = to_json(body).encode()
        return send(self.transport, method, path, data, self.retry).json()

    def _scoped(self, item: dict[str, Any]) -> dict[str, Any]:
        """The project travels inside the item: that is where the single-item routes read it."""
        if self.project is not None:
            item["project"] = self.project
        return item

    def _send_session(self, session_id: str, session: dict[str, Any]) -> None:
        self._post("POST", "/session/start", {"session": self._scoped(session)})

    def _send_event(self, session_id: str | None, event: dict[str, Any]) -> None:
        self._post("POST", "/events", {"event": self._scoped(event)})

    def _send_model(self, session_id: str | None, event: dict[str, Any]) -> None:
        self._post("POST", "/events/model", {"model_event": self._scoped(event)})

    def _send_update(self, update: dict[str, Any]) -> None:
        self._post("PUT", "/events", self._scoped(update))


# ---- process-wide: fork and exit -------------------------------------------------------------

_LOGGERS: weakref.WeakSet[BaseLogger] = weakref.WeakSet()


def _before_fork() -> None:
    for logger in list(_LOGGERS):
        logger._before_fork()


def _after_fork_parent() -> None:
    for logger in list(_LOGGERS):
        logger._after_fork_parent()


def _after_fork_child() -> None:
    for logger in list(_LOGGERS):
        logger._after_fork_child()


def _close_all() -> None:
    for logger in list(_LOGGERS):
        with contextlib.suppress(Exception):
            logger._at_exit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
    )
atexit.register(_close_all)
