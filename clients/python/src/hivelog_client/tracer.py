"""`@trace`: one event per call of a function, nested by the context it runs in.

The parent of a traced call is whatever traced call (or session) is current in its
`contextvars` context, so nesting follows `await`, asyncio tasks and threads started with a
copied context without the caller passing ids around. Nothing here may raise into the
traced code: the tracer's own failures are logged, the function's exceptions pass through
untouched after being recorded.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Generator
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, cast, overload

from hivelog_client._context import Scope, current
from hivelog_client.logger import EVENT_TYPES, BaseLogger, new_id

log = logging.getLogger("hivelog_client")

F = TypeVar("F", bound=Callable[..., Any])
if TYPE_CHECKING:  # contextvars.Token is not subscriptable at runtime on every Python ≥ 3.9
    _State = tuple[Scope, Optional[contextvars.Token[Optional[Scope]]], float, float]
_MAX_CHUNKS = 1000  # outputs of a generator keep at most this many yielded items

_default: dict[str, Any] = {"logger": None, "session_name": None}


def configure(logger: BaseLogger | None, *, session_name: str | None = None) -> None:
    """The logger `@trace` uses when no session is current: each outermost traced call then
    starts a session of its own (named `session_name`, else the function's name)."""
    _default["logger"] = logger
    _default["session_name"] = session_name


def _auto_session(name: str) -> Scope | None:
    logger: BaseLogger | None = _default["logger"]
    if logger is None:
        return None
    try:
        sid = logger._start(_default["session_name"] or name, None, {})
    except Exception as exc:
        log.warning("hivelog: could not start a session for %s: %s", name, exc)
        return None
    return Scope(logger, sid, sid)


def _emit(scope: Scope) -> None:
    try:
        assert scope.event is not None
        scope.logger._send_event(scope.session_id, scope.event)
    except Exception as exc:
        log.warning("hivelog: could not log %s: %s", scope.event_id, exc)


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Inputs:
    """Arguments → `inputs` by parameter name, with the signature read once per function."""

    __slots__ = ("names", "rest", "skip")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.names: list[str] = []
        self.rest = "args"
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                self.names.append(p.name)
            elif p.kind == p.VAR_POSITIONAL:
                self.rest = p.name
        self.skip = self.names[0] if self.names and self.names[0] in ("self", "cls") else None

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(zip(self.names, args))
        if len(args) > len(self.names):
            inputs[self.rest] = list(args[len(self.names) :])
        if kwargs:
            inputs.update(kwargs)
        if self.skip is not None:
            inputs.pop(self.skip, None)
        return inputs


class Trace:
    """What `trace(...)` returns: a decorator, and a context manager (sync and async)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        event_type: str = "chain",
        inputs: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        capture_inputs: bool = True,
        capture_outputs: bool = True,
    ) -> None:
        if event_type not in EVENT_TYPES or event_type == "session":
            raise ValueError("event_type must be one of model, tool, chain, generic")
        self.name = name
        self.event_type = event_type
        self.inputs = inputs
        self.config = config
        self.metadata = metadata
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self._entered: list[_State] = []

    # ---- one call --------------------------------------------------------------------------

    def _begin(self, name: str, inputs: dict[str, Any], enter: bool = True) -> _State | None:
        parent = current.get()
        if parent is None:
            parent = _auto_session(name)
            if parent is None:
                return None
        eid = new_id()
        event: dict[str, Any] = {
            "event_id": eid,
            "session_id": parent.session_id,
            "parent_id": parent.event_id,
            "event_type": self.event_type,
            "event_name": name,
            "source": parent.logger.source,
            "inputs": inputs,
        }
        if self.config:
            event["config"] = dict(self.config)
        if self.metadata:
            event["metadata"] = dict(self.metadata)
        scope = Scope(parent.logger, parent.session_id, eid, event)
        token = current.set(scope) if enter else None
        return scope, token, time.time(), time.perf_counter()

    def _end(
        self, state: _State, result: Any, error: BaseException | None, block: bool = False
    ) -> None:
        """Finish the event and hand it to the logger. A `with` block has no return value:
        its outputs are only what was enriched."""
        scope, token, started, t0 = state
        duration = (time.perf_counter() - t0) * 1000.0
        if token is not None:
            try:
                current.reset(token)
            except ValueError:  # exited in another context than entered: restore by value
                current.set(None)
        event = scope.event
        assert event is not None
        start_ms = started * 1000.0
        event["start_time"] = int(start_ms)
        event["end_time"] = int(start_ms + duration)
        event["duration"] = duration
        if error is not None:
            event["error"] = _error_text(error)
        if self.capture_outputs and error is None and not block:
            enriched = event.get("outputs")
            outputs = {"result": result}
            if enriched:
                outputs.update(enriched)
            event["outputs"] = outputs
        _emit(scope)

    # ---- decorator -------------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        name = self.name or getattr(fn, "__qualname__", None) or repr(fn)
        bind = _Inputs(fn) if self.capture_inputs else None
        fixed = self.inputs or {}

        def inputs_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            if bind is None:
                return dict(fixed)
            found = bind(args, kwargs)
            if fixed:
                found.update(fixed)
            return found

        if inspect.isasyncgenfunction(fn):
            return cast(F, self._wrap_async_gen(fn, name, inputs_of))
        if inspect.isgeneratorfunction(fn):
            return cast(F, self._wrap_gen(fn, name, inputs_of))
        if inspect.iscoroutinefunction(fn):
            return cast(F, self._wrap_coroutine(fn, name, inputs_of))

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            state = self._begin(name, inputs_of(args, kwargs))
            if state is None:
                return fn(*args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._end(state, None, exc)
                raise
            self._end(state, result, None)
            return result

        return cast(F, call)

    def _wrap_coroutine(
        self,
        fn: Callable[..., Awaitable[Any]],
        name: str,
        inputs_of: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]],
    ) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            state = self._begin(name, inputs_of(args, kwargs))
            if state is None:
                return await fn(*args, **kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self._end(state, None, exc)
                raise
            self._end(state, result, None)
            return result

        return call

    def _wrap_gen(
        self,
        fn: Callable[..., Generator[Any, Any, Any]],
        name: str,
        inputs_of: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]],
    ) -> Callable[..., Generator[Any, Any, Any]]:
        """The generator runs in its consumer's context, so the scope is entered around each
        step only: between steps the consumer must not see it as current."""

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            state = self._begin(name, inputs_of(args, kwargs), enter=False)
            gen = fn(*args, **kwargs)
            if state is None:
                return (yield from gen)
            scope = state[0]
            items: list[Any] = []
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                token = current.set(scope)
                try:
                    item = gen.throw(thrown) if thrown is not None else gen.send(sent)
                except StopIteration as stop:
                    current.reset(token)
                    self._end(state, items if stop.value is None else stop.value, None)
                    return stop.value
                except BaseException as exc:
                    current.reset(token)
                    self._end(state, None, exc)
                    raise
                current.reset(token)
                thrown = None
                if len(items) < _MAX_CHUNKS:
                    items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    self._end(state, items, None)
                    raise
                except BaseException as exc:
                    thrown = exc

        return call

    def _wrap_async_gen(
        self,
        fn: Callable[..., AsyncGenerator[Any, Any]],
        name: str,
        inputs_of: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]],
    ) -> Callable[..., AsyncGenerator[Any, Any]]:
        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            state = self._begin(name, inputs_of(args, kwargs), enter=False)
            agen = fn(*args, **kwargs)
            if state is None:
                async for item in agen:
                    yield item
                return
            scope = state[0]
            items: list[Any] = []
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                token = current.set(scope)
                try:
                    if thrown is not None:
                        item = await agen.athrow(thrown)
                    else:
                        item = await agen.asend(sent)
                except StopAsyncIteration:
                    current.reset(token)
                    self._end(state, items, None)
                    return
                except BaseException as exc:
                    current.reset(token)
                    self._end(state, None, exc)
                    raise
                current.reset(token)
                thrown = None
                if len(items) < _MAX_CHUNKS:
                    items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    self._end(state, items, None)
                    raise
                except BaseException as exc:
                    thrown = exc

        return call

    # ---- context manager -------------------------------------------------------------------

    def __enter__(self) -> Scope | None:
        state = self._begin(self.name or "block", dict(self.inputs or {}))
        if state is None:
            return None
        self._entered.append(state)
        return state[0]

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if self._entered:
            self._end(self._entered.pop(), None, exc, block=True)

    async def __aenter__(self) -> Scope | None:
        return self.__enter__()

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(kind, exc, tb)


@overload
def trace(fn: F, /) -> F: ...


@overload
def trace(
    name: str | None = None,
    /,
    *,
    event_type: str = "chain",
    inputs: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
) -> Trace: ...


def trace(
    fn_or_name: Callable[..., Any] | str | None = None,
    /,
    *,
    event_type: str = "chain",
    inputs: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
) -> Any:
    """`@trace`, `@trace(event_type="tool")`, `@trace("name")`, or `with trace("step"):`.

    One event per call: inputs (the arguments by name), outputs (`{"result": return value}`;
    a generator's yielded items), error, start, end and duration. Nested under the current
    traced call or session. Values JSON cannot hold are logged as their `repr`.
    """
    options: dict[str, Any] = dict(
        event_type=event_type,
        inputs=inputs,
        config=config,
        metadata=metadata,
        capture_inputs=capture_inputs,
        capture_outputs=capture_outputs,
    )
    if callable(fn_or_name):
        return Trace(None, **options)(fn_or_name)
    return Trace(fn_or_name, **options)


# ---- enrichment ------------------------------------------------------------------------------

_MERGED = ("metadata", "feedback", "metrics", "config", "user_properties", "outputs", "inputs")


def enrich_event(
    *,
    event_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    feedback: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    user_properties: dict[str, Any] | None = None,
) -> None:
    """Add to the current traced call's event before it is sent (or, with `event_id`, to
    any event already sent, through an update). Never raises."""
    given = {
        "metadata": metadata,
        "feedback": feedback,
        "metrics": metrics,
        "config": config,
        "outputs": outputs,
        "inputs": inputs,
        "user_properties": user_properties,
    }
    scope = current.get()
    try:
        if event_id is None and scope is not None and scope.event is not None:
            for key, value in given.items():
                if value:
                    scope.event.setdefault(key, {})
                    target = scope.event[key]
                    if isinstance(target, dict):
                        target.update(value)
            return
        logger = scope.logger if scope is not None else _default["logger"]
        target_id = event_id or (scope.event_id if scope is not None else None)
        if logger is None or target_id is None:
            log.warning("hivelog: enrich_event outside a traced call and without event_id")
            return
        logger.update(
            target_id,
            metadata=metadata,
            feedback=feedback,
            metrics=metrics,
            config=config,
            outputs=outputs,
            user_properties=user_properties,
        )
    except Exception as exc:
        log.warning("hivelog: enrich_event failed: %s", exc)


def enrich_session(
    *,
    session_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    feedback: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    user_properties: dict[str, Any] | None = None,
) -> None:
    """Update the current (or given) session: objects merge, outputs replace. Never raises."""
    scope = current.get()
    try:
        logger = scope.logger if scope is not None else _default["logger"]
        sid = session_id or (scope.session_id if scope is not None else None)
        if logger is None or sid is None:
            log.warning("hivelog: enrich_session with no current session and no session_id")
            return
        logger.update(
            sid,
            metadata=metadata,
            feedback=feedback,
            metrics=metrics,
            config=config,
            outputs=outputs,
            user_properties=user_properties,
        )
    except Exception as exc:
        log.warning("hivelog: enrich_session failed: %s", exc)
