"""Service routes: readiness, the OpenAPI document generated from the wire types, a docs page."""

from __future__ import annotations

import functools
import html
import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hivelog import __version__
from hivelog.routes.http import json_response, writer
from hivelog.wire.rest import ErrorOut

_ERRORS = {
    "400": "Bad input: the message says what is wrong and `where` says where",
    "404": "Not found",
    "413": "Body over the size limit",
    "503": "Write queue full; retry after `Retry-After` seconds",
}


async def healthz(request: Request) -> Response:
    """Ready to serve; with the writer's counts (committed, refused with 503, waiting)."""
    return json_response(
        {"success": True, "version": __version__, "writer": writer(request).stats()}
    )


@functools.cache
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 built from the route table and the msgspec types it names."""
    from hivelog.routes import API

    types = {a.body for a in API if a.body} | {a.response for a in API if a.response}
    ordered = [*sorted(types, key=lambda t: t.__name__), ErrorOut]
    schemas, components = msgspec.json.schema_components(
        ordered, ref_template="#/components/schemas/{name}"
    )
    refs = dict(zip(ordered, schemas, strict=True))
    error_ref = {"content": {"application/json": {"schema": refs[ErrorOut]}}}
    paths: dict[str, dict[str, Any]] = {}
    for api in API:
        op: dict[str, Any] = {
            "summary": api.summary,
            "operationId": f"{api.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', api.path)}",
            "tags": [api.tag],
            "responses": {"200": {"description": "OK"}},
        }
        params = re.findall(r"{(\w+)}", api.path)
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if api.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[api.body]}},
            }
        if api.response is not None:
            op["responses"]["200"]["content"] = {"application/json": {"schema": refs[api.response]}}
        if api.tag != "service":
            for status, text in _ERRORS.items():
                op["responses"][status] = {"description": text, **error_ref}
        paths.setdefault(api.path, {})[api.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hivelog",
            "version": __version__,
            "description": "HoneyHive-compatible logging API for LLM applications.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: Request) -> Response:
    return json_response(openapi_document())


@functools.cache
def _docs_html() -> str:
    doc = openapi_document()
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td>"
                f"<td>{f'<a href=#{ref}>{ref}</a>' if ref else ''}</td></tr>"
            )
    schemas = []
    for name, schema in doc["components"]["schemas"].items():
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = "".join(
            f"<li><code>{html.escape(k)}</code>{' (required)' if k in required else ''}: "
            f"<code>{html.escape(msgspec.json.encode(v).decode())}</code></li>"
            for k, v in props.items()
        )
        schemas.append(f"<h3 id={name}>{name}</h3><ul>{fields}</ul>")
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>hivelog API</title>"
        "<style>body{font:14px system-ui;max-width:1100px;margin:2em auto;padding:0 1em}"
        "td{padding:2px 10px;border-bottom:1px solid #ddd}code{font-size:13px}</style></head><body>"
        f"<h1>hivelog API {html.escape(__version__)}</h1>"
        "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a>. "
        'Errors are <code>{"error": {"message", "where"}}</code>.</p>'
        f"<table>{''.join(rows)}</table><h2>Schemas</h2>{''.join(schemas)}</body></html>"
    )


async def docs(request: Request) -> Response:
    return HTMLResponse(_docs_html())
