"""Pure ASGI middleware: security headers, the browser guard (Host allow-list and cross-site
refusal), body size limit, body read timeout and request decompression.

The limit counts bytes after decompression, so a small gzip bomb is a 413 like any other
oversized body, and the app never holds more than the limit in memory. A body that stalls
for `body_timeout` seconds between two chunks is a 408, so a client trickling a body cannot
hold a request (and its memory) open. Auth is in hivelog.auth; docs/security.md says what each
guard protects against.
"""

from __future__ import annotations

import asyncio
import ipaddress
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from hivelog.errors import (
    BadInput,
    Forbidden,
    HivelogError,
    MisdirectedRequest,
    Overloaded,
    RequestTimeout,
    TooLarge,
)

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


# Every response: pages may run scripts from this server only (no inline script, no eval), may
# not be framed, and are not sniffed into another type. Styles may be inline: the session tree
# positions its rows with style attributes, and a style cannot run code. Images may come from
# https URLs: the images of multimodal messages (shown without a Referer).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)

_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (pages, API answers, errors, static files)
    that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                present = {name.lower() for name, _ in headers} & _SECURITY_NAMES
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def _authority(netloc: str, default_port: int) -> tuple[str, int] | None:
    """(host, port) of a `Host` header or an origin's netloc: lower case, no trailing dot."""
    parts = urllib.parse.urlsplit("//" + netloc.strip())
    try:
        port = parts.port or default_port
    except ValueError:
        return None
    return (parts.hostname or "").rstrip("."), port


def _host_name(value: str) -> str:
    return (urllib.parse.urlsplit("//" + value.strip()).hostname or "").rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostAllowList:
    """Which `Host` header values the server answers to (DNS-rebinding protection).

    A rebinding page has its own DNS name that resolves to this machine, and the browser sends
    that name as `Host`. So: `localhost`, any IP literal (an address cannot be rebound), the
    name the server was told to bind, and the `--allowed-hosts` names (`.example.com` also
    matches its subdomains; `*` matches every host).
    """

    def __init__(self, bound_host: str, allowed: str) -> None:
        names = [n.strip().lower().rstrip(".") for n in allowed.split(",") if n.strip()]
        self.configured = bool(names)
        self.any = "*" in names
        self.names = {n for n in names if not n.startswith(".")}
        self.suffixes = tuple(n for n in names if n.startswith("."))
        bound = _host_name(bound_host)
        self.local = {"localhost"} | ({bound} if bound and not _is_ip(bound) else set())
        self._answers: dict[str, bool] = {}  # per Host value: parsing each time costs ~50 µs

    def allows(self, host: str) -> bool:
        known = self._answers.get(host)
        if known is None:
            name = _host_name(host)
            known = name in self.local or _is_ip(name) or self.configured_allows(name)
            if len(self._answers) >= 1024:  # any Host can be sent: keep the memo bounded
                self._answers.clear()
            self._answers[host] = known
        return known

    def configured_allows(self, name: str, wildcard: bool = True) -> bool:
        """`name` is one of the --allowed-hosts names (or they include `*` and `wildcard`)."""
        return (
            (self.any and wildcard)
            or name in self.names
            or any(name.endswith(s) or name == s[1:] for s in self.suffixes)
        )


CROSS_SITE = Forbidden(
    "cross-site browser requests are refused: a page of another site may not read or change "
    "this server's data. Browsers at this server's own pages, curl, SDKs and exporters "
    "(no Origin or Sec-Fetch-Site header) are not affected",
    "Origin",
)
CROSS_SITE.code = "cross_site_request"


_GUARDED = frozenset((b"host", b"origin", b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest"))


class BrowserGuard:
    """Refuses what a web page of another site could make a browser send here.

    1. `Host` must be on the allow-list (`HostAllowList`) whenever `check_host()` says so: the
       server runs open, or `--allowed-hosts` is set. Others get 421.
    2. A browser request that is not same-origin gets 403, on every route: by `Sec-Fetch-Site`
       (`cross-site`, `same-site`) when the browser sends it, else by an `Origin` that is not
       this server's. Only a top-level GET navigation (a link followed, which shows the page to
       the person, not to the linking site) is let through.

    Requests with neither `Origin` nor `Sec-Fetch-*` (curl, SDKs, OTLP exporters) pass as
    before: browsers always send one of them on a cross-site request that could do harm.
    """

    def __init__(
        self,
        app: ASGIApp,
        hosts: HostAllowList,
        check_host: Callable[[], Awaitable[bool]],
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k: v.decode("latin-1") for k, v in scope["headers"] if k in _GUARDED}
        host = headers.get(b"host")
        if host is not None and not self.hosts.allows(host) and await self.check_host():
            await send_error(send, _misdirected(host))
            return
        if self._cross_site(scope["method"], headers):
            await send_error(send, CROSS_SITE)
            return
        await self.app(scope, receive, send)

    def _cross_site(self, method: str, headers: dict[bytes, str]) -> bool:
        site = headers.get(b"sec-fetch-site", "").strip().lower()
        origin = headers.get(b"origin")
        if not site and origin is None:
            return False  # not a browser, or a browser's own same-origin GET
        if (
            method in ("GET", "HEAD")
            and headers.get(b"sec-fetch-mode", "").lower() == "navigate"
            and headers.get(b"sec-fetch-dest", "document").lower() == "document"
        ):
            return False  # a link followed: the page is shown to the person, not the linker
        if site:
            return site not in ("same-origin", "none")
        return not self._same_origin(origin or "", headers.get(b"host", ""))

    def _same_origin(self, origin: str, host: str) -> bool:
        parsed = urllib.parse.urlsplit(origin.strip())
        if parsed.scheme not in ("http", "https"):
            return False  # `null` (sandboxed frames, file:, data:) and anything unparsable
        default = 443 if parsed.scheme == "https" else 80
        theirs = _authority(parsed.netloc, default)
        if theirs is not None and theirs == _authority(host, default):
            return True
        # Behind a proxy that rewrites Host, an origin named in --allowed-hosts is ours too.
        return theirs is not None and self.hosts.configured_allows(theirs[0], wildcard=False)


def _misdirected(host: str) -> HivelogError:
    shown = host if len(host) <= 100 else host[:100] + "…"
    return MisdirectedRequest(
        f"this server does not answer to the host {shown!r} (a page of another site may be "
        "reaching it through DNS rebinding). Use http://127.0.0.1 or http://localhost, or "
        "add the name to --allowed-hosts (HIVELOG_ALLOWED_HOSTS) when it is behind a proxy",
        "Host",
    )


class BodyLimit:
    """Every limit on a request body, in one receive wrapper:

    - 413 for bodies over `max_bytes`, counted after decompression (gzip/deflate bodies are
      inflated here, within the same limit), so a small gzip bomb is a 413 like any other;
    - 408 for a body stalled `body_timeout` seconds between two chunks;
    - 503 + Retry-After (`max_inflight`) when the POST/PUT bodies being received at once would
      pass that many bytes. The writer queue bounds what waits to be stored; this bounds what
      is still on its way there, so memory stays bounded however many clients upload at once.
      A request with no other in flight is always admitted: no body within the size limit is
      refused for ever. A declared Content-Length is reserved up front, so a flood is refused
      before it is read; bodies are counted as they arrive.

    One middleware, not one per limit: each layer costs every request a call and every chunk
    a coroutine, and `POST /events` is one small chunk.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        body_timeout: float | None = None,
        max_inflight: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout
        self.max_inflight = max_inflight
        self.inflight = 0  # one event loop per process: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = encoding = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
        if encoding in ("identity", ""):
            encoding = None
        body = _Body(self, receive)
        try:
            if length is not None and encoding is None and int(length) > self.max_bytes:
                raise self._too_large()
            if encoding is not None and encoding not in _DECODERS:
                raise BadInput(
                    f"unsupported Content-Encoding {encoding!r}; use gzip or deflate",
                    "Content-Encoding",
                )
            if self.max_inflight is not None and scope["method"] in ("POST", "PUT"):
                body.counts = True
                if length is not None and length.isdigit():
                    body.reserve(int(length))
            if encoding is not None:
                receive = _replay(await body.inflate(_DECODERS[encoding]))
            else:
                receive = body.receive
        except HivelogError as error:
            body.release()
            await send_error(send, error)
            return
        except ValueError:
            await send_error(send, BadInput("Content-Length is not a number", "Content-Length"))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            body.release()

    def _too_large(self) -> TooLarge:
        return TooLarge(
            f"request body is larger than the limit of {self.max_bytes} bytes "
            "(--max-body-bytes, counted after decompression)",
            "body",
        )


class _Body:
    """One request's body as the app receives it: timed, counted against the size limit and
    the in-flight budget of its `BodyLimit`."""

    __slots__ = ("complete", "counts", "limit", "raw", "reserved", "seen")

    def __init__(self, limit: BodyLimit, receive: Receive) -> None:
        self.limit = limit
        self.raw = receive
        self.seen = 0  # body bytes received (after decompression)
        self.reserved = 0  # of the in-flight budget
        self.counts = False  # POST/PUT under an in-flight budget
        self.complete = False  # the whole body is in: waiting further is not limited

    def reserve(self, n: int) -> None:
        limit = self.limit
        assert limit.max_inflight is not None
        others = limit.inflight - self.reserved
        if others > 0 and limit.inflight + n > limit.max_inflight:
            raise Overloaded(
                f"{limit.inflight} request bytes are being received already "
                f"(--inflight-bytes {limit.max_inflight}); retry shortly"
            )
        limit.inflight += n
        self.reserved += n

    def release(self) -> None:
        self.limit.inflight -= self.reserved
        self.reserved = 0

    def count(self, n: int) -> None:
        self.seen += n
        if self.seen > self.limit.max_bytes:
            raise self.limit._too_large()
        if self.counts and self.seen > self.reserved:
            self.reserve(self.seen - self.reserved)

    async def next_chunk(self) -> Message:
        """The next message from the client; 408 if the body stalls `body_timeout` seconds."""
        timeout = self.limit.body_timeout
        if self.complete or not timeout:
            return await self.raw()
        if _arrived(self.raw):
            message = await self.raw()
        else:
            try:
                async with asyncio.timeout(timeout):  # a timer, not a task per chunk
                    message = await self.raw()
            except TimeoutError:
                raise RequestTimeout(
                    f"no request body data for {timeout:g} s (--body-timeout-seconds)", "body"
                ) from None
        self.complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    async def receive(self) -> Message:
        message = await self.next_chunk()
        if message["type"] == "http.request":
            self.count(len(message.get("body", b"")))
        return message

    async def inflate(self, wbits: int) -> bytes:
        inflater = zlib.decompressobj(wbits)
        parts: list[bytes] = []
        more = True
        max_bytes = self.limit.max_bytes
        while more:
            message = await self.next_chunk()
            if message["type"] != "http.request":
                break
            more = message.get("more_body", False)
            chunk = message.get("body", b"")
            try:
                while chunk:
                    out = inflater.decompress(chunk, max_bytes + 1 - self.seen)
                    parts.append(out)
                    self.count(len(out))
                    chunk = inflater.unconsumed_tail
            except zlib.error as exc:
                raise BadInput(f"body is not valid compressed data: {exc}", "body") from None
        if not inflater.eof and self.seen:
            raise BadInput("compressed body is truncated", "body")
        return b"".join(parts)


def _arrived(receive: Receive) -> bool:
    """Has uvicorn's request cycle (`receive` is its bound method) already got the next
    message, so that receiving it cannot wait? Then no timer is armed for it: a body that came
    with its head (nearly every write) skips the timer, which cost a twentieth of a single
    event's time on the event loop. False for any other `receive`."""
    event = getattr(getattr(receive, "__self__", None), "message_event", None)
    return isinstance(event, asyncio.Event) and event.is_set()


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
