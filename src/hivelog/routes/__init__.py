"""The route table: every HTTP route of hivelog on one screen.

`ROUTES` also drives `/openapi.json`: each entry names its request and response types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hivelog import ui
from hivelog.routes import chart, ingest, langfuse, meta, otlp, read
from hivelog.wire import rest as w

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclasses.dataclass(frozen=True)
class Api:
    method: str
    path: str
    endpoint: Endpoint
    summary: str
    body: Any = None
    response: Any = None
    tag: str = "events"


API: tuple[Api, ...] = (
    # writes, classic and legacy routes
    Api("POST", "/session/start", ingest.session_start, "Start a session", w.SessionStartBody, w.EventOut, "sessions"),
    Api("POST", "/events", ingest.event_create, "Create an event", w.CreateEventBody, w.CreateEventOut),
    Api("PUT", "/events", ingest.event_update, "Update an event or session (merge; outputs replace)", w.UpdateEventBody, w.SuccessOut),
    Api("POST", "/events/batch", ingest.event_batch, "Create a batch of events", w.EventBatchBody, w.BatchOut),
    Api("POST", "/events/model", ingest.model_event_create, "Create a model event", w.CreateModelEventBody, w.CreateEventOut),
    Api("POST", "/events/model/batch", ingest.model_event_batch, "Create a batch of model events", w.ModelEventBatchBody, w.BatchOut),
    Api("POST", "/session/{session_id}/traces", ingest.session_traces, "Add events to a session", w.SessionTracesBody, w.BatchOut, "sessions"),
    # writes, data plane v1
    Api("POST", "/v1/sessions", ingest.v1_session_create, "Create a session", w.SessionIn, w.EventOut, "sessions"),
    Api("POST", "/v1/events", ingest.v1_event_create, "Create an event", w.EventIn, w.CreateEventOut),
    Api("POST", "/v1/events/batch", ingest.event_batch, "Create a batch of events", w.EventBatchBody, w.BatchOut),
    Api("PUT", "/v1/events/{event_id}", ingest.event_update, "Update an event", w.UpdateEventBody, w.SuccessOut),
    Api("POST", "/v1/sessions/{session_id}/events/batch", ingest.v1_session_events, "Add events to a session", w.SessionEventsBody, w.BatchOut, "sessions"),
    # OpenTelemetry: OTLP/HTTP, protobuf or JSON (docs/otlp.md)
    Api("POST", "/v1/traces", otlp.traces, "OTLP/HTTP trace export (protobuf or JSON); spans become events", None, None, "otlp"),
    Api("POST", "/opentelemetry/v1/traces", otlp.traces, "OTLP/HTTP trace export at the path HoneyHive SDKs use", None, None, "otlp"),
    Api("POST", langfuse.TRACES_PATH, otlp.traces, "OTLP/HTTP trace export at the path the Langfuse SDK uses (Basic auth: the secret key is a hivelog key)", None, None, "otlp"),
    Api("GET", "/api/public/projects", langfuse.projects, "Langfuse SDK auth_check(): the key's project", None, None, "langfuse"),
    Api("GET", "/api/public/health", langfuse.health, "Langfuse health probe", None, None, "langfuse"),
    Api("POST", "/v1/logs", otlp.logs, "OTLP logs: records with a span context folded into its event (partial_success counts the others)", None, None, "otlp"),
    Api("POST", "/opentelemetry/v1/logs", otlp.logs, "OTLP logs: records with a span context folded into its event (partial_success counts the others)", None, None, "otlp"),
    Api("POST", "/v1/metrics", otlp.metrics, "OTLP metrics: answered, not stored (partial_success counts them)", None, None, "otlp"),
    Api("POST", "/opentelemetry/v1/metrics", otlp.metrics, "OTLP metrics: answered, not stored (partial_success counts them)", None, None, "otlp"),
    # reads
    Api("GET", "/session/{session_id}", read.session_get, "Get a session event", None, w.EventOut, "sessions"),
    Api("GET", "/v1/sessions/{session_id}", read.session_tree, "Get a session as a tree with aggregates", None, w.SessionNode, "sessions"),
    Api("GET", "/v1/events/chart", chart.events_chart, "Chart: an aggregation of a metric per time bucket (query: metric, aggregation, bucket, groupBy, filters, dateRange)", None, chart.ChartOut),
    Api("GET", "/events/chart", chart.events_chart, "Chart (classic path of GET /v1/events/chart)", None, chart.ChartOut),
    Api("GET", "/v1/events/{event_id}", read.v1_event_get, "Get an event with its subtree", None, w.SessionNode),
    Api("POST", "/events/export", read.export, "Export events matching filters", w.ExportBody, w.ExportOut),
    Api("POST", "/v1/events/export", read.export, "Export events matching filters", w.ExportBody, w.ExportOut),
    Api("POST", "/v1/events/search", read.export, "Search events", w.ExportBody, w.ExportOut),
    Api("GET", "/events", read.events_list, "List events (filters as query parameters)", None, w.ExportOut),
    Api("DELETE", "/session/{session_id}", read.session_delete, "Delete a session and its events", None, w.DeleteOut, "sessions"),
    Api("DELETE", "/v1/sessions/{session_id}", read.session_delete, "Delete a session and its events", None, w.DeleteOut, "sessions"),
    # service
    Api("GET", "/healthz", meta.healthz, "Ready to serve, with the writer's counts", None, w.HealthOut, "service"),
    Api("GET", "/openapi.json", meta.openapi, "This API as OpenAPI 3.1", None, None, "service"),
    Api("GET", "/docs", meta.docs, "This API as a readable page", None, None, "service"),
)  # fmt: skip


def routes() -> list[BaseRoute]:
    """The API, then the web UI's pages and static files (hivelog.ui)."""
    api: list[BaseRoute] = [Route(a.path, a.endpoint, methods=[a.method]) for a in API]
    # every other Langfuse route: a 404 that says what hivelog implements instead
    rest = Route("/api/public/{rest:path}", langfuse.not_implemented, methods=_ALL_METHODS)
    return [*api, rest, *ui.routes()]


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
