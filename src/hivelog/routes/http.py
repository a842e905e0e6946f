"""What every route does the same way: decode a body, name the project, answer in JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from hivelog.auth import request_key
from hivelog.errors import BadInput, from_validation
from hivelog.ingest.converters import Converters
from hivelog.ingest.otlp import check_key_project
from hivelog.ingest.writer import JobWriter
from hivelog.store.base import Project, Store

T = TypeVar("T")
DEFAULT_PROJECT = "default"

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(body), status_code=status, headers=headers, media_type="application/json"
    )


def decode_json(raw: bytes, kind: type[T]) -> T:
    """Decode and validate in one pass; every failure is a BadInput that says where."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    if not raw.strip():
        raise BadInput("request body is empty; expected a JSON object", "$")
    try:
        return decoder.decode(raw)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise from_validation(exc) from None
    except msgspec.DecodeError as exc:
        raise BadInput(f"body is not valid JSON: {exc}", "$") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"body is not UTF-8: {exc.reason} at byte {exc.start}", "$") from None
    except RecursionError:
        raise BadInput("JSON nested too deeply", "$") from None


def convert(obj: Any, kind: type[T], where: str = "$") -> T:
    """Validate an already-decoded value (for bodies whose shape varies)."""
    try:
        return msgspec.convert(obj, kind)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, where) from None


async def read_body(request: Request) -> bytes:
    """The whole request body, straight from `receive` (BodyLimit has bounded it).

    What `Request.body()` does, without its stream generator: one message for a body sent in
    one piece, the common case of every write route."""
    body: bytes | None = getattr(request, "_body", None)
    if body is not None:
        return body
    message = await request.receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body = message.get("body", b"")
    if message.get("more_body", False):
        parts = [body]
        while True:
            message = await request.receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
    request._body = body
    return body


def first_name(*names: str | None) -> str | None:
    """The project names' rule: the first non-empty one. An empty name is no name (clients
    send "" for "not set"), so a request naming only "" goes to `default`."""
    return next((name for name in names if name), None)


def project_name_problem(name: str) -> str | None:
    """Why `name` can never name a project in a request, or None: the rule `first_name`
    applies, plus being text a client can send (UTF-8). The CLI refuses such names, so no
    key is ever made for a project no request can reach."""
    if first_name(name) is None:
        return 'a project name cannot be empty (a request naming "" means `default`)'
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"project name {name!r} is not valid UTF-8 text"
    return None


def named_project(request: Request, *names: str | None) -> str | None:
    """The project a request is about: its API key's project, whatever else it names.

    Without a key (an open server): the first name given in the body, then `?project=`; a
    project's id names that project, as its name does. With a key, naming another project (by
    name or id) is refused with 403 rather than silently ignored, so a misconfigured client
    finds out at once instead of writing to a project it did not mean.
    """
    query = request.query_params.get("project") if request.scope["query_string"] else None
    named = first_name(*names, query)
    key = request_key(request.scope)
    if key is None:
        return _name_of_id(request, named) if named else named
    check_project(request, named)
    return key.project.name


def _name_of_id(request: Request, name: str) -> str:
    """The name of the project whose id is `name`, else `name` itself. Ids are UUIDs, so only
    a UUID-shaped name that is no project's name is looked up."""
    if len(name) != 36 or name.count("-") != 4:
        return name
    s = store(request)
    if s.find_project(name) is not None:
        return name
    return next((p.name for p in s.list_projects() if p.project_id == name), name)


def check_project(request: Request, name: str | None) -> None:
    """Forbidden if the request's key belongs to another project than `name`."""
    check_key_project(request_key(request.scope), name)


def check_filters(request: Request, filters: Sequence[object] | None, where: str) -> None:
    """BadInput if a query has more filters than `--max-filters` (each one is SQL to run)."""
    limit: int = request.app.state.settings.max_filters
    if filters and len(filters) > limit:
        raise BadInput(
            f"{len(filters)} filters is over the limit of {limit} (--max-filters)", where
        )


def key_project(request: Request) -> Project | None:
    """The project of the request's API key; None on an open server without a key. Routes
    that would look across projects (by event id, project lists) must not when it is set."""
    key = request_key(request.scope)
    return key.project if key is not None else None


def project_name(request: Request, *names: str | None) -> str:
    """The project a write goes to: the one named, else `default`."""
    return named_project(request, *names) or DEFAULT_PROJECT


def store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def converters(request: Request) -> Converters:
    return request.app.state.converters  # type: ignore[no-any-return]


def writer(request: Request) -> JobWriter:
    return request.app.state.writer  # type: ignore[no-any-return]
