"""Pure ASGI middleware: body size limit, body read timeout and request decompression.

The limit counts bytes after decompression, so a small gzip bomb is a 413 like any other
oversized body, and the app never holds more than the limit in memory. A body that stalls
for `body_timeout` seconds between two chunks is a 408, so a client trickling a body cannot
hold a request (and its memory) open. Auth is in hivelog.auth.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from hivelog.errors import BadInput, HivelogError, Overloaded, RequestTimeout, TooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


async def send_error(send: Send, error: HivelogError) -> None:
    body = msgspec.json.encode(error.body())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers().items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InflightLimit:
    """503 + Retry-After when the request bodies being read and decoded at once would pass
    `max_bytes`.

    The writer queue bounds what waits to be stored; this bounds what is still on its way
    there, so memory stays bounded however many clients upload at once. A request with no
    other in flight is always admitted: no body within the size limit is refused for ever.
    Bodies are counted as they arrive (after decompression when inside BodyLimit), and a
    declared Content-Length is reserved up front so a flood is refused before it is read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.inflight = 0  # one event loop per process: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        reserved = 0

        def reserve(n: int) -> None:
            nonlocal reserved
            others = self.inflight - reserved
            if others > 0 and self.inflight + n > self.max_bytes:
                raise Overloaded(
                    f"{self.inflight} request bytes are being received already "
                    f"(--inflight-bytes {self.max_bytes}); retry shortly"
                )
            self.inflight += n
            reserved += n

        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > reserved:
                    reserve(seen - reserved)
            return message

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit():
                try:
                    reserve(int(length))
                except Overloaded as error:
                    await send_error(send, error)
                    return
            await self.app(scope, counted, send)
        finally:
            self.inflight -= reserved


class BodyLimit:
    """413 for bodies over `max_bytes`; inflates gzip/deflate bodies within the same limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
        receive = self._timed(receive)
        try:
            if length is not None and encoding == "identity" and int(length) > self.max_bytes:
                raise self._too_large()
            if encoding not in ("identity", "") and encoding not in _DECODERS:
                raise BadInput(
                    f"unsupported Content-Encoding {encoding!r}; use gzip or deflate",
                    "Content-Encoding",
                )
            if encoding in _DECODERS:
                body = await self._inflate(receive, _DECODERS[encoding])
                receive = _replay(body)
            else:
                receive = self._counting(receive)
        except HivelogError as error:
            await send_error(send, error)
            return
        except ValueError:
            await send_error(send, BadInput("Content-Length is not a number", "Content-Length"))
            return
        await self.app(scope, receive, send)

    def _timed(self, receive: Receive) -> Receive:
        """`receive` that gives up on a body stalled for `body_timeout` (408). Once the body is
        complete, waiting (for a disconnect) is not limited."""
        if not self.body_timeout:
            return receive
        timeout = self.body_timeout
        complete = False

        async def timed() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(timeout):  # a timer, not a task per chunk
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"no request body data for {timeout:g} s (--body-timeout-seconds)", "body"
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return timed

    def _too_large(self) -> TooLarge:
        return TooLarge(
            f"request body is larger than the limit of {self.max_bytes} bytes "
            "(--max-body-bytes, counted after decompression)",
            "body",
        )

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large()
            return message

        return counted

    async def _inflate(self, receive: Receive, wbits: int) -> bytes:
        inflater = zlib.decompressobj(wbits)
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            more = message.get("more_body", False)
            chunk = message.get("body", b"")
            try:
                while chunk:
                    out = inflater.decompress(chunk, self.max_bytes + 1 - size)
                    size += len(out)
                    parts.append(out)
                    if size > self.max_bytes:
                        raise self._too_large()
                    chunk = inflater.unconsumed_tail
            except zlib.error as exc:
                raise BadInput(f"body is not valid compressed data: {exc}", "body") from None
        if not inflater.eof and size:
            raise BadInput("compressed body is truncated", "body")
        return b"".join(parts)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
