"""OTLP/gRPC receiver: `TraceService/Export` and `LogsService/Export` on `--grpc-port`.

Many OpenTelemetry setups export over gRPC to port 4317 by default (the Collector, .NET,
`opentelemetry-instrument` with the gRPC exporter). This serves them with `grpcio`'s asyncio
server (`grpc.aio`), started by the app's lifespan in the same event loop as the HTTP app:
the handlers await the same converters and group-commit writer as `routes/otlp.py` without a
thread hop, and an answer is sent only after COMMIT, as over HTTP. (A server in a thread of its
own would need its own loop and a hand-off to the writer's futures for every call, for no gain:
the handlers only wait.)

Requests are taken as raw bytes (no deserializer) and decoded by the same `wire/otlp.py` code
as OTLP/HTTP protobuf bodies, so the conversion, limits and refusals are the same; gzip is
undone by grpcio. Status mapping: undecodable → INVALID_ARGUMENT; over a limit →
RESOURCE_EXHAUSTED without retry info (permanent); the writer queue full → RESOURCE_EXHAUSTED
with a `google.rpc.RetryInfo` (retryable after its delay, as OTLP specifies); no or a bad key
when keys are required → UNAUTHENTICATED; a key of another project → PERMISSION_DENIED.

With `--workers N` every worker process runs its own gRPC server on the same port with
SO_REUSEPORT (the kernel spreads connections over them, as uvicorn's shared socket spreads
HTTP ones); with one worker SO_REUSEPORT is off, so a second server on the same port fails to
start instead of silently sharing it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from hivelog.auth import KeyRing
from hivelog.errors import HivelogError, Overloaded, Unauthorized
from hivelog.ingest.converters import Converters, convert_logs
from hivelog.ingest.otlp import key_resolver, logs_answer, store_converted, trace_answer
from hivelog.ingest.writer import JobWriter
from hivelog.normalize.otlp import Converted
from hivelog.routes.http import DEFAULT_PROJECT
from hivelog.settings import Settings
from hivelog.store.base import ApiKey

log = logging.getLogger("hivelog.grpc")
if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[bytes, bytes]

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
DEFAULT_PORT = 4317
PROJECT_METADATA = "x-hivelog-project"  # the gRPC form of OTLP/HTTP's `?project=`
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class OtlpGrpc:
    """The two Export methods, over the app's key ring, converters and writer."""

    def __init__(
        self, keys: KeyRing, converters: Converters, writer: JobWriter, settings: Settings
    ) -> None:
        self.keys = keys
        self.converters = converters
        self.writer = writer
        self.settings = settings
        self.server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Listen on `--host`:`--grpc-port`; return the port, or 0 when the default port was
        taken (then HTTP is served alone, with a warning: an HTTP-only setup must not break
        because another program, or another hivelog, holds 4317). A port given explicitly that
        cannot be bound stops the server."""
        size = self.settings.max_body_bytes
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
                ("grpc.so_reuseport", 1 if self.settings.workers > 1 else 0),
            ],
            maximum_concurrent_rpcs=self.settings.max_connections,
        )
        handlers = {
            "Export": grpc.unary_unary_rpc_method_handler(self.export_traces),
        }
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.trace.v1.TraceService", handlers
                ),
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.logs.v1.LogsService",
                    {"Export": grpc.unary_unary_rpc_method_handler(self.export_logs)},
                ),
            )
        )
        address = f"{_bracket(self.settings.host)}:{self.settings.grpc_port}"
        try:
            port = int(server.add_insecure_port(address))
        except RuntimeError as exc:
            if self.settings.grpc_port != DEFAULT_PORT:
                raise RuntimeError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from None
            log.warning(
                "OTLP/gRPC is off: cannot listen on %s (%s); pass --grpc-port to use another "
                "port, or --grpc-port 0 to silence this",
                address,
                exc,
            )
            return 0
        await server.start()
        self.server = server
        return port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=5)
            self.server = None

    async def export_traces(self, raw: bytes, context: _Context) -> bytes:
        async def convert(project: str) -> Converted:
            return await self.converters.convert(raw, False, project)

        return await self._export(raw, context, convert, trace_answer)

    async def export_logs(self, raw: bytes, context: _Context) -> bytes:
        async def convert(project: str) -> Converted:
            return convert_logs(raw, False, project)

        return await self._export(raw, context, convert, logs_answer)

    async def _export(
        self,
        raw: bytes,
        context: _Context,
        convert: Callable[[str], Awaitable[Converted]],
        answer: Callable[[Converted], bytes],
    ) -> bytes:
        try:
            metadata = _metadata(context)
            key = await self._key(metadata)
            project = key.project.name if key else metadata.get(PROJECT_METADATA, DEFAULT_PROJECT)
            converted = await convert(project)
            await store_converted(self.writer, key_resolver(key), converted, len(raw))
            return answer(converted)
        except HivelogError as error:
            failed = error
        except Exception:
            log.exception("unexpected error in an OTLP/gRPC export")
            failed = HivelogError("internal error; the request was not stored")
            failed.status = 500
        await _abort(context, failed)  # raises: the call ends with that status
        raise AssertionError("unreachable")

    async def _key(self, metadata: dict[str, str]) -> ApiKey | None:
        """The request's key (`authorization: Bearer <key>`), checked as the HTTP `Auth` does:
        required when keys exist or the server is not open; a key sent anyway still scopes."""
        presented = _bearer(metadata.get("authorization", "")) or metadata.get("x-api-key")
        if not await self.keys.required():
            return await self.keys.check(presented) if presented else None
        if not presented:
            raise Unauthorized("this server requires an API key (authorization: Bearer <key>)")
        key = await self.keys.check(presented)
        if key is None:
            raise Unauthorized("the API key is not valid or was revoked")
        return key


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _metadata(context: _Context) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in context.invocation_metadata() or ():
        key, value = item[0], item[1]
        if isinstance(value, str):
            out.setdefault(key.lower(), value.strip())
    return out


def _bearer(value: str) -> str | None:
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _abort(context: _Context, error: HivelogError) -> None:
    code = _CODES.get(error.status, grpc.StatusCode.INTERNAL)
    text = f"{error.message} (at {error.where})" if error.where else error.message
    trailing: tuple[tuple[str, Any], ...] = ()
    if isinstance(error, Overloaded):
        retry = RetryInfo(retry_delay=Duration(seconds=error.retry_after)).SerializeToString()
        status = Status(code=code.value[0], message=text)
        status.details.add().Pack(RetryInfo.FromString(retry))
        trailing = (
            ("google.rpc.retryinfo-bin", retry),
            ("grpc-status-details-bin", status.SerializeToString()),
        )
    await context.abort(code, text, trailing)
