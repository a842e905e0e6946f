"""What every route does the same way: decode a body, name the project, answer in JSON."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hivelog.errors import BadInput, from_validation
from hivelog.ingest.writer import Writer
from hivelog.store.base import Store

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
    return await request.body()


def named_project(request: Request, *names: str | None) -> str | None:
    """The project a request names: the first name given in the body, then `?project=`."""
    for name in names:
        if name:
            return name
    return request.query_params.get("project") or None


def project_name(request: Request, *names: str | None) -> str:
    """The project a write goes to: the one named, else `default`."""
    return named_project(request, *names) or DEFAULT_PROJECT


def store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def writer(request: Request) -> Writer:
    return request.app.state.writer  # type: ignore[no-any-return]
