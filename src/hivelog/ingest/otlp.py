"""Where every OTLP transport ends: converted spans or log records → durable writes, and the
protobuf answer. OTLP/HTTP (`routes/otlp.py`) and OTLP/gRPC (`grpc_server.py`) both call these,
so storage, project checks and `partial_success` are the same whichever way data came.
"""

from __future__ import annotations

import asyncio

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from hivelog.errors import Forbidden
from hivelog.ingest.writer import Writer
from hivelog.normalize.otlp import Converted
from hivelog.store.base import ApiKey, WriteEvents

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


async def store_converted(
    writer: Writer, key: ApiKey | None, converted: Converted, nbytes: int
) -> None:
    """One durable job per project, all in flight at once; the first failure is raised.
    Spans or records naming another project than the key's: Forbidden, nothing stored."""
    writes = [
        WriteEvents(project=p, events=events, traces=converted.traces.get(p) or {})
        for p, events in converted.by_project.items()
    ]
    writes += [WriteEvents(project=p, updates=updates) for p, updates in converted.updates.items()]
    for job in writes:
        check_key_project(key, job.project)
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
