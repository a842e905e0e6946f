"""Langfuse's public API, as far as the Langfuse SDK needs it to trace into hivelog.

The Langfuse SDK (v3 and later) exports OTLP to `<LANGFUSE_BASE_URL>/api/public/otel/v1/traces`
with `Authorization: Basic public_key:secret_key`; that route is the OTLP trace route
(`routes.otlp.traces`) and the secret key is a hivelog API key (hivelog.auth reads it from
Basic auth). `langfuse.auth_check()` reads `GET /api/public/projects`; a health probe reads
`GET /api/public/health`. Every other Langfuse route (prompts, datasets, scores, the legacy
ingestion batch) answers a 404 that says what hivelog does and does not implement, so a
client sees at once why a call failed instead of a confusing error.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hivelog import __version__
from hivelog.auth import request_key
from hivelog.errors import NotFound
from hivelog.routes.http import json_response, project_name

TRACES_PATH = "/api/public/otel/v1/traces"
_ORGANIZATION = {"id": "hivelog", "name": "hivelog"}


async def projects(request: Request) -> Response:
    """`GET /api/public/projects`: the one project the key belongs to (`auth_check()`)."""
    key = request_key(request.scope)
    name = project_name(request)
    project_id = key.project.project_id if key is not None else name
    project = {"id": project_id, "name": name, "organization": _ORGANIZATION, "metadata": {}}
    return json_response({"data": [project]})


async def health(request: Request) -> Response:
    """`GET /api/public/health`: the shape Langfuse's health route answers."""
    return json_response({"status": "OK", "version": __version__})


async def not_implemented(request: Request) -> Response:
    """Any other `/api/public/...` route: a 404 naming what is there instead."""
    error = NotFound(
        f"hivelog implements Langfuse's trace export ({TRACES_PATH}), "
        f"GET /api/public/projects and GET /api/public/health only; "
        f"{request.method} {request.url.path} is not available",
        "path",
    )
    return json_response(error.body(), error.status)
