"""Errors that end a request, each mapped to one HTTP status and one JSON shape.

Every error body is `{"error": {"message", "where"}, "message", "errorCode"}`: `error` is
hivelog's own shape; `message`/`errorCode` are what HoneyHive SDKs read from failures.
"""

from __future__ import annotations

from typing import Any

import msgspec


class HivelogError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.where is not None:
            error["where"] = self.where
        text = f"{self.message} (at {self.where})" if self.where else self.message
        return {"error": error, "message": text, "errorCode": self.code, "success": False}


class BadInput(HivelogError):
    """Permanent: the client must change the request (400)."""

    status = 400
    code = "bad_request"


class NotFound(HivelogError):
    status = 404
    code = "not_found"


class TooLarge(HivelogError):
    status = 413
    code = "payload_too_large"


class Unauthorized(HivelogError):
    """No key, or not a valid one, where auth is required (401)."""

    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="hivelog"'}


class Forbidden(HivelogError):
    """A valid key asking for another project than its own (403)."""

    status = 403
    code = "forbidden"


class MisdirectedRequest(HivelogError):
    """The request names a host this server does not answer to (DNS rebinding)."""

    status = 421
    code = "unknown_host"


class RequestTimeout(HivelogError):
    """The client sent its body too slowly (408); the connection is not held open for it."""

    status = 408
    code = "request_timeout"


class QueryTimeout(HivelogError):
    """A read ran past `--read-timeout-ms` and was stopped; narrow the query (400)."""

    status = 400
    code = "query_timeout"


class Overloaded(HivelogError):
    """Retryable: the writer queue is full (503 + Retry-After)."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def from_validation(
    exc: msgspec.ValidationError | msgspec.DecodeError, prefix: str = "$"
) -> BadInput:
    """Split msgspec's "what - at `$.path`" into message and location."""
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return BadInput(text, prefix)
    where = where.rstrip("`")
    if prefix != "$":
        where = prefix + where[1:]
    return BadInput(message, where)
