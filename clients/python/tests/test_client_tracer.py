"""The tracer against a real server: nesting in sync, async and threaded code; errors."""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from conftest import Server
from hivelog_client import (
    BatchLogger,
    Logger,
    _context,
    configure,
    enrich_event,
    enrich_session,
    trace,
)


def traced_events(server: Server, logger: BatchLogger, project: str) -> dict[str, dict]:
    assert logger.flush(timeout=20)
    return {e["event_name"]: e for e in server.export(project) if e["event_type"] != "session"}


@pytest.fixture()
def logger(server: Server, project: str) -> Iterator[BatchLogger]:
    lg = BatchLogger(server.url, project=project, flush_interval=0.1)
    configure(lg)
    yield lg
    lg.close()


def test_sync_nesting_inputs_outputs(server: Server, project: str, logger: BatchLogger) -> None:
    @trace(event_type="tool")
    def leaf(x: int, *rest: int, scale: float = 1.0) -> float:
        return x * scale

    @trace
    def middle(items: list[int]) -> list[float]:
        return [leaf(i, 7, scale=2.0) for i in items[:1]]

    @trace("outer")
    def root(items: list[int]) -> int:
        middle(items)
        return len(items)

    assert root([3, 4]) == 2
    events = traced_events(server, logger, project)
    assert set(events) == {
        "outer",
        "test_sync_nesting_inputs_outputs.<locals>.middle",
        "test_sync_nesting_inputs_outputs.<locals>.leaf",
    }
    session = [e for e in server.export(project) if e["event_type"] == "session"]
    assert len(session) == 1 and session[0]["event_name"] == "outer"
    outer = events["outer"]
    mid = events["test_sync_nesting_inputs_outputs.<locals>.middle"]
    lf = events["test_sync_nesting_inputs_outputs.<locals>.leaf"]
    assert outer["parent_id"] == session[0]["event_id"]
    assert mid["parent_id"] == outer["event_id"] and lf["parent_id"] == mid["event_id"]
    assert lf["event_type"] == "tool" and outer["event_type"] == "chain"
    assert lf["inputs"] == {"x": 3, "rest": [7], "scale": 2.0}
    assert lf["outputs"] == {"result": 6.0} and outer["outputs"] == {"result": 2}
    assert outer["inputs"] == {"items": [3, 4]}
    for e in (outer, mid, lf):
        assert e["end_time"] >= e["start_time"] and e["duration"] >= 0
    assert outer["duration"] >= mid["duration"] >= lf["duration"]


def test_async_nesting_across_await_and_tasks(
    server: Server, project: str, logger: BatchLogger
) -> None:
    @trace
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.01 * (3 - i))
        return await inner(i)

    @trace
    async def inner(i: int) -> int:
        await asyncio.sleep(0)
        return i * 10

    @trace
    async def root() -> list[int]:
        tasks = [asyncio.create_task(fetch(i)) for i in range(3)]
        return list(await asyncio.gather(*tasks))

    with logger.session("async"):
        assert asyncio.run(root()) == [0, 10, 20]
    assert logger.flush(timeout=20)
    events = server.export(project)
    roots = [e for e in events if e["event_name"].endswith("root")]
    fetches = [e for e in events if e["event_name"].endswith("fetch")]
    inners = [e for e in events if e["event_name"].endswith("inner")]
    assert len(roots) == 1 and len(fetches) == 3 and len(inners) == 3
    assert all(f["parent_id"] == roots[0]["event_id"] for f in fetches)
    fetch_by_input = {f["inputs"]["i"]: f["event_id"] for f in fetches}
    for e in inners:
        assert e["parent_id"] == fetch_by_input[e["inputs"]["i"]]
    assert len({e["session_id"] for e in events}) == 1


def test_threads_with_copied_context(server: Server, project: str, logger: BatchLogger) -> None:
    @trace(event_type="tool")
    def work(n: int) -> int:
        return n + 1

    @trace
    def root() -> None:
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(work, n))
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    root()
    events = traced_list(server, logger, project)
    root_event = next(e for e in events if e["event_type"] == "chain")
    assert root_event["event_name"].endswith("root")
    works = [e for e in events if e["event_name"].endswith("work")]
    assert len(works) == 4
    assert all(w["parent_id"] == root_event["event_id"] for w in works)
    assert {w["outputs"]["result"] for w in works} == {1, 2, 3, 4}


def traced_list(server: Server, logger: BatchLogger, project: str) -> list[dict]:
    assert logger.flush(timeout=20)
    return server.export(project)


def test_generators_sync_and_async(server: Server, project: str, logger: BatchLogger) -> None:
    seen_between: list[Any] = []

    @trace(event_type="tool")
    def step(x: int) -> int:
        return x

    @trace
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            yield step(i)

    @trace
    async def anumbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield step(i + 100)

    @trace
    def root() -> int:
        me = _context.current.get()
        total = 0
        for x in numbers(3):
            seen_between.append(_context.current.get() is me)  # the generator's scope is not ours
            total += x

        async def consume() -> list[int]:
            return [x async for x in anumbers(2)]

        total += sum(asyncio.run(consume()))
        return total

    assert root() == 3 + 201
    assert seen_between == [True, True, True]
    events = traced_list(server, logger, project)
    gen = next(e for e in events if e["event_name"].endswith(".numbers"))
    agen = next(e for e in events if e["event_name"].endswith("anumbers"))
    steps = [e for e in events if e["event_name"].endswith("step")]
    assert gen["outputs"] == {"result": [0, 1, 2]} and agen["outputs"] == {"result": [100, 101]}
    assert sorted(s["inputs"]["x"] for s in steps if s["parent_id"] == gen["event_id"]) == [0, 1, 2]
    assert sorted(s["inputs"]["x"] for s in steps if s["parent_id"] == agen["event_id"]) == [
        100,
        101,
    ]


class Boom(Exception):
    pass


def test_errors_recorded_and_reraised_untouched(
    server: Server, project: str, logger: BatchLogger
) -> None:
    error = Boom("it broke")

    @trace
    def fails() -> None:
        raise error

    @trace
    async def afails() -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    @trace
    def gen_fails() -> Iterator[int]:
        yield 1
        raise ValueError("in generator")

    with pytest.raises(Boom) as caught:
        fails()
    assert caught.value is error and caught.value.__traceback__ is not None
    assert caught.traceback[-1].name == "fails"  # raised where the user raised it
    with pytest.raises(KeyError):
        asyncio.run(afails())
    with pytest.raises(ValueError, match="in generator"):
        list(gen_fails())
    events = traced_events(server, logger, project)
    by_suffix = {name.rsplit(".", 1)[-1]: e for name, e in events.items()}
    assert by_suffix["fails"]["error"] == "Boom: it broke"
    assert by_suffix["afails"]["error"] == "KeyError: 'k'"
    assert by_suffix["gen_fails"]["error"] == "ValueError: in generator"
    assert by_suffix["fails"]["outputs"] == {}


def test_context_manager_and_enrichment(server: Server, project: str) -> None:
    logger = Logger(server.url, project=project)
    sid = logger.start_session("enrich")

    @trace
    def handler(q: str) -> str:
        enrich_event(metadata={"docs": 2}, metrics={"score": 0.9}, outputs={"extra": True})
        enrich_session(user_properties={"plan": "pro"}, feedback={"rating": 4})
        with trace("retrieve", event_type="tool", inputs={"q": q}) as span:
            assert span is not None
            enrich_event(outputs={"docs": ["a", "b"]})
        return q.upper()

    assert handler("hi") == "HI"
    events = {e["event_name"]: e for e in server.export(project)}
    h = events["test_context_manager_and_enrichment.<locals>.handler"]
    r = events["retrieve"]
    assert h["metadata"] == {"docs": 2} and h["metrics"] == {"score": 0.9}
    assert h["outputs"] == {"result": "HI", "extra": True}
    assert r["parent_id"] == h["event_id"] and r["event_type"] == "tool"
    assert r["inputs"] == {"q": "hi"} and r["outputs"] == {"docs": ["a", "b"]}
    assert events["enrich"]["event_id"] == sid
    assert events["enrich"]["user_properties"] == {"plan": "pro"}
    assert events["enrich"]["feedback"] == {"rating": 4}


def test_unserialisable_values_become_repr(
    server: Server, project: str, logger: BatchLogger
) -> None:
    class Weird:
        def __repr__(self) -> str:
            return "<Weird>"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cyclic: list[Any] = [1]
    cyclic.append(cyclic)

    @trace
    def odd(a: Any, b: Any, c: Any, d: Any, e: Any) -> Any:
        return {"nan": math.nan, (1, 2): "tuple key", "obj": Weird()}

    odd(Weird(), {1, 2}, cyclic, Broken(), b"bytes")
    event = next(iter(traced_events(server, logger, project).values()))
    assert event["inputs"]["a"] == "<Weird>"
    assert event["inputs"]["b"] == [1, 2]
    assert event["inputs"]["c"] == [1, "<cycle>"]
    assert event["inputs"]["d"] == "<unrepresentable Broken>"
    assert event["inputs"]["e"] == "bytes"
    assert event["outputs"]["result"] == {"nan": "nan", "(1, 2)": "tuple key", "obj": "<Weird>"}


def test_no_logger_means_untraced_not_broken() -> None:
    @trace
    def plain(x: int) -> int:
        return x + 1

    assert plain(1) == 2
    enrich_event(metadata={"ignored": True})  # no current event: a warning, not an error
    enrich_session(metadata={"ignored": True})


def test_errors_in_with_blocks_and_async_with(
    server: Server, project: str, logger: BatchLogger
) -> None:
    with logger.session("blocks"):
        with pytest.raises(ZeroDivisionError), trace("divide", event_type="tool"):
            enrich_event(outputs={"partial": 1})
            _ = 1 / 0

        async def run() -> None:
            async with trace("async-block"):
                await asyncio.sleep(0)
                enrich_event(outputs={"done": True})

        asyncio.run(run())
    events = traced_events(server, logger, project)
    assert events["divide"]["error"] == "ZeroDivisionError: division by zero"
    assert events["divide"]["outputs"] == {"partial": 1}
    assert events["async-block"]["outputs"] == {"done": True}
    assert events["async-block"]["error"] is None
