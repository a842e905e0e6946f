"""The four logging strategies: `Logger` sends each call now, `BatchLogger` sends in batches.

Both have the same methods, build the same bodies, and choose every id on the client, so the
caller knows an event's id before it is sent and a retried request can never duplicate it.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Any, Optional

from hivelog_client._context import Scope, current
from hivelog_client._encode import to_json
from hivelog_client._http import HivelogError, RetryPolicy, Transport, send

log = logging.getLogger("hivelog_client")

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

    def _after_fork_child(self) -> None:
        self.transport.reset_after_fork()

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
                "start_time": start_time if start_time is not None else now_ms(),
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
                "start_time": start_time if start_time is not None else now_ms(),
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


# ---- batching --------------------------------------------------------------------------------

_EVENT, _MODEL, _UPDATE = 0, 1, 2
_Item = tuple[int, Optional[str], str]  # kind, session id, the body encoded as JSON


class BatchLogger(BaseLogger):
    """Async batching: calls return at once; a background thread sends the events.

    Events are encoded when logged (a snapshot; later mutation of the caller's objects does
    not change them) and sent through `/events/batch` and `/events/model/batch`, grouped by
    session, when `batch_size` are waiting, every `flush_interval` seconds, on `flush()`,
    `close()` and interpreter exit. At most `max_buffer` events wait: beyond that new events
    are dropped and counted, never raised. Failed requests are retried per `retry`; what is
    given up is counted and logged. `stats()` reports all of it.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        project: str | None = None,
        source: str | None = None,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
        close_timeout: float = 10.0,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(url, api_key, project, source, timeout=timeout, retry=retry)
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max(max_buffer, batch_size)
        self.close_timeout = close_timeout
        self._init_state()

    def _init_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._buffer: collections.deque[_Item] = collections.deque()
        self._in_flight = 0
        self._accepted = 0  # items accepted into the buffer, ever
        self._finished = 0  # of those, sent or given up
        self._flush_wanted = False
        self._closed = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._counts = dict.fromkeys(
            ("sent", "dropped_full", "dropped_failed", "rejected", "retries", "requests"), 0
        )

    def _after_fork_child(self) -> None:
        """The child starts empty: buffered events are the parent's to send."""
        super()._after_fork_child()
        self._init_state()

    # ---- app side --------------------------------------------------------------------------

    def _enqueue(self, kind: int, session_id: str | None, payload: str) -> None:
        with self._cond:
            if self._closed or len(self._buffer) + self._in_flight >= self.max_buffer:
                self._counts["dropped_full"] += 1
                if self._counts["dropped_full"] == 1:
                    log.warning(
                        "hivelog buffer full (%d events): dropping new events", self.max_buffer
                    )
                return
            self._buffer.append((kind, session_id, payload))
            self._accepted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hivelog-batch", daemon=True)
                self._thread.start()
            if len(self._buffer) == self.batch_size:
                self._cond.notify_all()

    def _send_session(self, session_id: str, session: dict[str, Any]) -> None:
        event = dict(session)
        name = event.pop("session_name", None)
        if name is not None:
            event.setdefault("event_name", name)
        event["event_type"] = "session"
        event["event_id"] = session_id
        self._enqueue(_EVENT, session_id, to_json(event))

    def _send_event(self, session_id: str | None, event: dict[str, Any]) -> None:
        self._enqueue(_EVENT, session_id, to_json(event))

    def _send_model(self, session_id: str | None, event: dict[str, Any]) -> None:
        self._enqueue(_MODEL, session_id, to_json(event))

    def _send_update(self, update: dict[str, Any]) -> None:
        self._enqueue(_UPDATE, None, to_json(update))

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything logged so far; True once it is sent (or given up), False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._accepted
            if self._thread is None or self._finished >= target:
                return True
            self._flush_wanted = True
            self._cond.notify_all()
            while self._finished < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread. Past `timeout` what is left is dropped and counted."""
        timeout = self.close_timeout if timeout is None else timeout
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                self._abort.set()
                thread.join(1.0)
        super().close()

    def stats(self) -> dict[str, int]:
        """Counters: events sent, dropped (buffer full / gave up), rejected, retries, requests,
        and how many are waiting now."""
        with self._cond:
            return {**self._counts, "waiting": len(self._buffer) + self._in_flight}

    # ---- background thread -----------------------------------------------------------------

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            with self._cond:
                while not (
                    self._closed
                    or self._flush_wanted
                    or len(self._buffer) >= self.batch_size
                    or (self._buffer and time.monotonic() - last >= self.flush_interval)
                ):
                    wait = self.flush_interval - (time.monotonic() - last)
                    self._cond.wait(wait if self._buffer and wait > 0 else self.flush_interval)
                items = list(self._buffer)
                self._buffer.clear()
                self._in_flight = len(items)
                self._flush_wanted = False
                stop = self._closed
            try:
                self._send_items(items)
            except Exception:  # never let the thread die with events still coming
                log.exception("hivelog batch thread: unexpected error")
                self._count("dropped_failed", len(items))
            last = time.monotonic()
            with self._cond:
                self._in_flight = 0
                self._finished += len(items)
                self._cond.notify_all()
                if stop and not self._buffer:
                    self._thread = None
                    return

    def _count(self, name: str, n: int = 1) -> None:
        with self._cond:
            self._counts[name] += n

    def _send_items(self, items: list[_Item]) -> None:
        by_kind: dict[int, dict[str | None, list[str]]] = {_EVENT: {}, _MODEL: {}}
        updates: list[str] = []
        for kind, sid, payload in items:
            if kind == _UPDATE:
                updates.append(payload)
            else:
                by_kind[kind].setdefault(sid, []).append(payload)
        for kind, path, key in (
            (_EVENT, "/events/batch", "events"),
            (_MODEL, "/events/model/batch", "model_events"),
        ):
            grouped = [p for group in by_kind[kind].values() for p in group]
            for start in range(0, len(grouped), self.batch_size):
                self._send_batch(path, key, grouped[start : start + self.batch_size])
        for payload in updates:
            self._send_raw("PUT", "/events", self._with_project(payload), 1)

    def _with_project(self, payload: str) -> str:
        if self.project is None:
            return payload
        return payload[:-1] + ',"project":' + to_json(self.project) + "}"

    def _send_batch(self, path: str, key: str, payloads: list[str]) -> None:
        """One batch request; a 4xx (a bad event among good ones) splits it to save the rest."""
        project = "" if self.project is None else ',"project":' + to_json(self.project)
        body = (
            '{"' + key + '":[' + ",".join(payloads) + '],"is_single_session":false' + project + "}"
        )
        status = self._send_raw("POST", path, body, len(payloads))
        if status is not None and status in (400, 413, 422) and len(payloads) > 1:
            with self._cond:
                self._counts["rejected"] -= len(payloads)
            half = len(payloads) // 2
            self._send_batch(path, key, payloads[:half])
            self._send_batch(path, key, payloads[half:])

    def _send_raw(self, method: str, path: str, body: str, n: int) -> int | None:
        """Send with retries; count the outcome. Returns the status of a refusal, else None."""
        self._count("requests")
        try:
            send(
                self.transport,
                method,
                path,
                body.encode(),
                self.retry,
                wait=self._abort.wait,
                on_retry=lambda: self._count("retries"),
            )
        except HivelogError as exc:
            if exc.status is not None:
                self._count("rejected", n)
                if exc.status not in (400, 413, 422) or n == 1:
                    log.warning("hivelog refused %d event(s): %s", n, exc)
                return exc.status
            self._count("dropped_failed", n)
            log.warning("hivelog: gave up on %d event(s): %s", n, exc)
            return None
        self._count("sent", n)
        return None


# ---- process-wide: fork and exit -------------------------------------------------------------

_LOGGERS: weakref.WeakSet[BaseLogger] = weakref.WeakSet()


def _before_fork() -> None:
    for logger in list(_LOGGERS):
        if isinstance(logger, BatchLogger):
            logger._cond.acquire()


def _after_fork_parent() -> None:
    for logger in list(_LOGGERS):
        if isinstance(logger, BatchLogger):
            logger._cond.release()


def _after_fork_child() -> None:
    for logger in list(_LOGGERS):
        logger._after_fork_child()


def _close_all() -> None:
    for logger in list(_LOGGERS):
        if isinstance(logger, BatchLogger):
            with contextlib.suppress(Exception):
                logger.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
    )
atexit.register(_close_all)
