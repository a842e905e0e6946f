"""Running the app under uvicorn with deliberate limits, and the auth check made at start.

uvicorn closes idle keep-alive connections but has no limit on how long a client may take to
send a request head, nor on the size of that head (with httptools): a client dripping one
header byte a second holds a connection forever (slowloris), and many of them use up the
connection limit and file descriptors. `GuardedHttpProtocol` adds both: a head must arrive
within `header_timeout_seconds` (else the connection is closed) and be at most
`max_header_bytes` (else 431). A body that stalls is the app's concern (middleware.BodyLimit,
408). `limit_concurrency` (`--max-connections`) bounds connections plus running requests.

It also answers with one socket write where uvicorn made two (`OneWriteCycle`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from hivelog.auth import is_loopback
from hivelog.errors import HivelogError
from hivelog.settings import Settings

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent


class StartRefused(Exception):
    """The server must not start as configured; the message says what to do instead."""


def auth_mode(settings: Settings, active_keys: int, closed: bool = False) -> str:
    """One line for the start banner: how requests are authenticated. Raises StartRefused for
    a server reachable from other machines that no key could protect. `closed`: the database
    had keys and none is active, so every request is refused (fail closed)."""
    if active_keys:
        return f"auth: API keys required ({active_keys} active)"
    if closed:
        return (
            "auth: CLOSED — this database had API keys and none is active, so every request "
            "is refused (401). Create a key:\n"
            f"    hivelog keys create --project NAME{_db_flag(settings)}\n"
            "or, to run without keys again (loopback only), reopen it explicitly:\n"
            f"    hivelog keys open{_db_flag(settings)}"
        )
    if is_loopback(settings.host):
        return (
            "auth: OPEN — no API keys exist, so any local process may read and write every "
            "project; create one with `hivelog keys create --project NAME` to require keys"
        )
    if settings.insecure:
        return (
            f"auth: OPEN on {settings.host} (--insecure) — anyone who can reach this port may "
            "read and write every project"
        )
    raise StartRefused(
        f"refusing to listen on {settings.host} without API keys: anyone who can reach the "
        "port could read and write every project. Create a key first:\n"
        f"    hivelog keys create --project NAME{_db_flag(settings)}\n"
        "then send it as `Authorization: Bearer <key>`. Or listen on 127.0.0.1, or pass "
        "--insecure to run open anyway."
    )


def _db_flag(settings: Settings) -> str:
    return f" --db {settings.db}" if settings.db and "://" not in settings.db else " --db ..."


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn keyword arguments every `serve` uses; docs/reliability.md explains each."""
    GuardedHttpProtocol.configure(settings)
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,  # no per-request lines: they would carry ids at 20k/s
        "http": GuardedHttpProtocol,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "timeout_graceful_shutdown": 10,
    }


_TOO_LARGE = HivelogError(
    "the request line and headers are larger than the limit (--max-header-bytes)", "headers"
)
_TOO_LARGE.status, _TOO_LARGE.code = 431, "headers_too_large"


class _HeadTooLarge(Exception):
    pass


class _Collected:
    """Stands in for the connection's transport while a response's head and first body part
    are written (uvicorn's `send` only writes and closes), so that they leave in one write."""

    __slots__ = ("closed", "parts")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closed = True


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request cycle, writing a response's head together with its first body part.

    uvicorn writes the status line and headers as soon as the app sends
    `http.response.start`, and the body when it sends `http.response.body`: two socket writes,
    two TCP segments, for every small JSON answer. Here the head is held until the next
    message and both go in one write (with wrk at 32 connections, `GET /healthz` answered
    about 15% more requests per second; docs/scaling.md). The head is never held longer than
    the app takes to send its first body part: for a streamed download, until its first page
    is ready. An app that fails after its head and before any body now gets uvicorn's clean
    500 in place of the held head, where the client used to get the head and a closed
    connection.
    """

    _held: ASGISendEvent | None = None

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] == "http.response.start" and not self.response_started:
            self._held = message
            return
        held, self._held = self._held, None
        if held is None:
            await super().send(message)
            return
        real = self.transport
        collected = _Collected()
        self.transport = collected  # type: ignore[assignment]
        try:
            await super().send(held)
            await super().send(message)
        finally:
            self.transport = real
            if collected.parts:
                real.write(b"".join(collected.parts))
            if collected.closed:
                real.close()


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline and a size limit for each request head."""

    header_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    _configured = False

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.header_timeout = settings.header_timeout_seconds
        cls.max_header_bytes = settings.max_header_bytes
        cls._configured = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not GuardedHttpProtocol._configured:  # a `--workers N` process: settings from env
            GuardedHttpProtocol.configure(Settings.from_env())
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_too_large = False

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()  # also covers a connection that never sends a byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._start_head_timer()

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge  # httptools stops parsing; uvicorn calls send_400_response

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()
        # uvicorn has just made this request's cycle; its task starts on the loop's next turn
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = OneWriteCycle

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        body = msgspec.json.encode(_TOO_LARGE.body())
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.transport.close()
