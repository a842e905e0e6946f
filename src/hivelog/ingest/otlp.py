"""Where every OTLP transport ends: converted spans or log records → durable writes, and the
protobuf answer. OTLP/HTTP (`routes/otlp.py`) and OTLP/gRPC (`grpc_server.py`) both call these,
so storage, project checks and `partial_success` are the same whichever way data came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from hivelog.errors import Forbidden
from hivelog.event import EventUpdate, TraceLink, join_events
from hivelog.ingest.writer import JobWriter
from hivelog.normalize.otlp import Converted
from hivelog.store.base import ApiKey, WriteEvents, merge_links

_EMPTY_TRACE_RESPONSE = ExportTraceServiceResponse().SerializeToString()
_EMPTY_LOGS_RESPONSE = ExportLogsServiceResponse().SerializeToString()


def check_key_project(key: ApiKey | None, name: str | None) -> None:
    """Forbidden if `key` belongs to another project than `name`."""
    if key is not None and name and name not in (key.project.name, key.project.project_id):
        raise Forbidden(
            f"this API key belongs to project {key.project.name!r}, not {name!r}; "
            "leave the project out or use a key of that project",
            "project",
        )


def key_resolver(key: ApiKey | None) -> Callable[[str], str]:
    """The project a name in the data resolves to for a request with `key`: the key's own
    project (named by name or id; another one is Forbidden), or the name on an open server."""

    def resolve(name: str) -> str:
        if key is None:
            return name
        check_key_project(key, name)
        return key.project.name

    return resolve


V = TypeVar("V")


def _by_project(
    named: dict[str, V], resolve: Callable[[str], str], join: Callable[[V, V], V]
) -> dict[str, V]:
    """What the data named per project, per project each name resolves to (two names may
    resolve to one: a project's name and its id), joined in order by `join`."""
    out: dict[str, V] = {}
    for name, items in named.items():
        project = resolve(name)
        out[project] = join(out[project], items) if project in out else items
    return out


def _join_updates(first: list[EventUpdate], then: list[EventUpdate]) -> list[EventUpdate]:
    return [*first, *then]


def _rows_by_project(converted: Converted, resolve: Callable[[str], str]) -> dict[str, list[Any]]:
    """The worker's rows, merged as `_by_project` merges the events (same order), for the
    projects whose every named part came with rows."""
    out: dict[str, list[Any]] = {}
    without: set[str] = set()
    for name in converted.by_project:
        project = resolve(name)
        found = converted.rows.get(name)
        if found is None or project in without:
            without.add(project)
            out.pop(project, None)
        else:
            out.setdefault(project, []).extend(found)
    return out


async def store_converted(
    writer: JobWriter, resolve: Callable[[str], str], converted: Converted, nbytes: int
) -> None:
    """One durable job per project, all in flight at once; the first failure is raised.
    `resolve` turns each project the data names into the one to write (or raises Forbidden:
    then nothing of the request is stored)."""
    events = _by_project(converted.by_project, resolve, join_events)  # packed stay packed
    updates = _by_project(converted.updates, resolve, _join_updates)
    traces: dict[str, dict[str, TraceLink]] = {}
    for name, links in converted.traces.items():
        merge_links(traces.setdefault(resolve(name), {}), links)
    rows = _rows_by_project(converted, resolve)
    writes = [
        WriteEvents(
            project=p,
            events=e,
            traces=traces.get(p, {}),
            rows=rows.get(p),
            encoded_by=converted.encoded_by if p in rows else None,
            checked_by=converted.checked_by if p in rows else None,
        )
        for p, e in events.items()
    ]
    writes += [WriteEvents(project=p, updates=u) for p, u in updates.items()]
    total = sum(job.size() for job in writes) or 1
    jobs = [writer.submit(job, nbytes * job.size() // total) for job in writes]
    if not jobs:
        return
    if len(jobs) == 1:
        await jobs[0]
        return
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def trace_answer(converted: Converted) -> bytes:
    """An ExportTraceServiceResponse: empty, or the refused spans in `partial_success`."""
    if not converted.rejected:
        return _EMPTY_TRACE_RESPONSE
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(
            rejected_spans=converted.rejected, error_message=converted.message
        )
    ).SerializeToString()


def logs_answer(converted: Converted) -> bytes:
    """An ExportLogsServiceResponse: empty, or the refused records in `partial_success`."""
    if not converted.rejected:
        return _EMPTY_LOGS_RESPONSE
    return ExportLogsServiceResponse(
        partial_success=ExportLogsPartialSuccess(
            rejected_log_records=converted.rejected, error_message=converted.message
        )
    ).SerializeToString()
