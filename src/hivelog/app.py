"""create_app(settings): the store, the writer, the route table and the middleware, in one place."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from hivelog.auth import Auth, KeyRing, is_loopback
from hivelog.errors import HivelogError
from hivelog.gc_tuning import tune_gc
from hivelog.ingest.converters import Converters
from hivelog.ingest.limits import Limits
from hivelog.ingest.writer import JobWriter, Writer
from hivelog.ingest.writer_process import WRITER_SOCKET_ENV, ProcessWriter
from hivelog.middleware import (
    BodyLimit,
    BrowserGuard,
    HostAllowList,
    SecurityHeaders,
)
from hivelog.normalize.cost import configure as configure_prices
from hivelog.routes import routes
from hivelog.routes.http import json_response
from hivelog.routes.router import IndexedRouter
from hivelog.settings import Settings
from hivelog.store import open_store
from hivelog.store.base import Store
from hivelog.store.retention import Retention

log = logging.getLogger("hivelog")


def app_from_env() -> Starlette:
    """The app of one uvicorn worker process (`serve --workers N`): settings from HIVELOG_*."""
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings)


async def _hivelog_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HivelogError)
    return json_response(exc.body(), exc.status, exc.headers())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = HivelogError(f"{request.method} {request.url.path}: {exc.detail}", "path")
    error.status = exc.status_code
    error.code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return json_response(error.body(), exc.status_code, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    error = HivelogError("internal error; the request was not stored")
    return json_response(error.body(), 500)


def open_writer(store: Store, settings: Settings, limits: Limits) -> JobWriter:
    """The group commit: on a SQLite file in a process of its own (`ProcessWriter`) unless
    --writer-thread, the one of every worker's when `serve --workers N` runs one for all
    (`SharedWriter`, reached at HIVELOG_WRITER_SOCKET); else in threads of this process
    (`Writer`)."""
    from hivelog.store.sqlite import SqliteStore

    queue = {"max_events": settings.queue_events, "max_bytes": settings.queue_bytes}
    writer: Writer | ProcessWriter
    if isinstance(store, SqliteStore) and store.path != ":memory:" and not settings.writer_thread:
        address = os.environ.get(WRITER_SOCKET_ENV) or None
        writer = ProcessWriter(store.path, limits=limits, address=address, **queue)
    else:
        writer = Writer(store, limits=limits, **queue)
    writer.start()
    return writer


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    configure_prices(settings.prices)  # every process that prices calls: this one, workers
    store = store or open_store(settings)
    keys = KeyRing(store, open_without_keys=is_loopback(settings.host) or settings.insecure)
    limits = Limits(
        max_batch_events=settings.max_batch_events,
        max_field_bytes=settings.max_field_bytes,
        max_json_depth=min(settings.max_json_depth, Limits.MAX_DEPTH),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.open()
        keys.load()
        writer = open_writer(store, settings, limits)
        retention = Retention(store, settings.retention_days) if settings.retention_days else None
        if retention is not None:
            retention.start()
        converters = Converters(
            settings.convert_processes, settings.prices, limits, store.encode_rows
        )
        otlp_grpc = None
        if settings.grpc_port:
            from hivelog.grpc_server import OtlpGrpc  # grpcio loads only when it is used

            otlp_grpc = OtlpGrpc(keys, converters, writer, settings)
            await otlp_grpc.start()
        app.state.store = store
        app.state.keys = keys
        app.state.writer = writer
        app.state.converters = converters
        app.state.settings = settings
        tune_gc()  # after startup: what it allocated stays out of every collection
        try:
            yield
        finally:
            if otlp_grpc is not None:
                await otlp_grpc.stop()
            converters.close()
            if retention is not None:
                retention.stop()
            await writer.aclose()
            store.close()

    hosts = HostAllowList(settings.host, settings.allowed_hosts)

    async def check_host() -> bool:
        """The Host allow-list applies while the server runs open, and always once
        --allowed-hosts is set (with keys required, a rebinding page has no key to send)."""
        return hosts.configured or not await keys.required()

    app = Starlette(
        # Security headers on every answer, refusals included; then what a hostile web page
        # could send is refused; then auth: a request without a valid key is refused before
        # its body is read.
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BrowserGuard, hosts=hosts, check_host=check_host),
            Middleware(Auth, keys=keys),
            Middleware(
                BodyLimit,
                max_bytes=settings.max_body_bytes,
                body_timeout=settings.body_timeout_seconds,
                max_inflight=settings.inflight_bytes,
            ),
        ],
        exception_handlers={
            HivelogError: _hivelog_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.router = IndexedRouter(routes(), lifespan=lifespan)
    return app
