"""API keys: how they look, how they are checked, and the ASGI middleware that checks them.

A key is `hl_<key_id>_<secret>`: `key_id` (8 hex characters) is public and names the key in
`hivelog keys list`; `secret` is 32 random bytes. Only the SHA-256 of the whole key is stored,
so a copy of the database does not hand out working keys. A request's key is looked up by its
`key_id` and its hash compared with `hmac.compare_digest`, so the time a check takes says
nothing about how much of a guess was right.

Every key belongs to one project; the middleware puts the key on the request scope and
`routes.http.named_project` makes that project win over any the request names.

When auth is required: whenever any key exists; always when the server listens beyond
loopback without `--insecure`; and always once the database has had keys (fail closed: revoking
the last key does not open the server — with no active key every request is refused until a key
is created or the operator runs `hivelog keys open`). A loopback server on a database that never
had keys (or was explicitly opened) runs open. The key set and the closed state are cached and
re-read at most every `REFRESH_SECONDS`, so a key created or revoked, or `keys open`, takes effect
in every server process within that time without a per-request database read.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from hivelog.errors import Unauthorized
from hivelog.middleware import ASGIApp, Receive, Scope, Send, send_error
from hivelog.store.base import ApiKey, Store

log = logging.getLogger("hivelog.auth")
KEY_PREFIX = "hl_"
REFRESH_SECONDS = 1.0
SCOPE_KEY = "hivelog.key"
# Routes anyone may read: they say nothing about any project's data.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/login", "/logout"})
COOKIE = "hivelog_key"  # the web UI's key (hivelog.ui.login)
PUBLIC_PREFIXES = ("/static/",)  # the UI's CSS and JS: no data
# The one write the cookie may make: the UI's feedback form, whose route checks a CSRF token
# bound to the cookie and the request's origin (hivelog.ui.feedback).
COOKIE_WRITE_PREFIX = "/ui/feedback/"
_KEY_SHAPE = re.compile(r"^hl_([0-9a-f]{8})_[A-Za-z0-9_\-]{20,100}$")


@dataclasses.dataclass(frozen=True)
class NewKey:
    """A key as created: `key` is shown once and never stored."""

    key: str
    key_id: str
    prefix: str
    key_hash: str


def new_key() -> NewKey:
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, key_id=key_id, prefix=f"{KEY_PREFIX}{key_id}", key_hash=hash_key(key))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """`Authorization: Bearer KEY` (what HoneyHive SDKs and OTLP exporters send), `X-API-Key`,
    or `Authorization: Basic` with the key as the password (what the Langfuse SDK sends: its
    public key as the user name, its secret key as the password)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            if scheme.lower() == "basic" and token.strip():
                return _basic_password(token.strip())
        elif name == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


def _basic_password(token: str) -> str | None:
    """The password of `Basic base64(user:password)`, or None when it is not that."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password.strip() or None if sep else None


NO_ACTIVE_KEY = (
    "this server has no active API key: the database had keys and the last one was revoked, "
    "so it refuses every request (fail closed). Create a key with `hivelog keys create "
    "--project NAME`, or, to run without keys again, `hivelog keys open` (docs/security.md)"
)


class KeyRing:
    """The active keys by `key_id` and whether the database is closed without them, cached and
    re-read from the store at most once a second."""

    def __init__(self, store: Store, *, open_without_keys: bool) -> None:
        self.store = store
        self.open_without_keys = open_without_keys
        self._keys: dict[str, ApiKey] = {}
        self._closed = False  # had keys, none active, not opened since: refuse everything
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def load(self) -> None:
        keys = {k.key_id: k for k in self.store.active_keys()}
        closed = not keys and self.store.keys_closed()
        if closed and (self._keys or not self._closed):
            log.warning("auth: CLOSED — %s", NO_ACTIVE_KEY)
        elif self._closed and not closed and not keys:
            log.warning("auth: the database was opened with `hivelog keys open`; running open")
        self._keys, self._closed = keys, closed
        self._loaded_at = time.monotonic()

    @property
    def closed(self) -> bool:
        """No active key, and the database refuses every request until one is created."""
        return self._closed

    async def _fresh(self) -> dict[str, ApiKey]:
        if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            async with self._lock:
                if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
                    await run_in_threadpool(self.load)
        return self._keys

    async def required(self) -> bool:
        return bool(await self._fresh()) or self._closed or not self.open_without_keys

    async def check(self, key: str) -> ApiKey | None:
        """The active key `key` is, or None; constant time in the secret part."""
        match = _KEY_SHAPE.match(key)
        found = (await self._fresh()).get(match.group(1)) if match else None
        if found is None:
            hmac.compare_digest(hash_key(key), "0" * 64)  # same work for unknown ids
            return None
        return found if hmac.compare_digest(hash_key(key), found.key_hash) else None


class Auth:
    """401 unless the request carries an active key (when auth is required); puts the key on
    the scope for project scoping. The key itself is never logged or echoed."""

    def __init__(self, app: ASGIApp, keys: KeyRing) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        presented = key_from_headers(scope["headers"])
        if presented is None and _cookie_may(scope):
            presented = _cookie_key(scope["headers"])
        if not await self.keys.required():
            if presented is not None:
                # A key sent to an open server still scopes the request if it is valid.
                scope[SCOPE_KEY] = await self.keys.check(presented)
            await self.app(scope, receive, send)
            return
        key = await self.keys.check(presented) if presented is not None else None
        if key is None and _is_page(scope):  # a person at a browser: to the sign-in page
            await _redirect_to_login(scope, send)
            return
        if self.keys.closed:
            await send_error(send, Unauthorized(NO_ACTIVE_KEY, "Authorization"))
            return
        if presented is None:
            await send_error(send, _unauthorized("this server requires an API key"))
            return
        if key is None:
            await send_error(send, _unauthorized("the API key is not valid or was revoked"))
            return
        scope[SCOPE_KEY] = key
        await self.app(scope, receive, send)


def _is_page(scope: Scope) -> bool:
    """A web UI page (not an API route, not an htmx fragment)."""
    path = scope.get("path", "")
    is_ui = path == "/" or path == "/ui" or path.startswith("/ui/")
    htmx = any(name == b"hx-request" for name, _ in scope["headers"])
    return is_ui and scope["method"] in ("GET", "HEAD") and not htmx


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    target = scope.get("path", "/")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    location = "/login?" + urllib.parse.urlencode({"next": target})
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _cookie_may(scope: Scope) -> bool:
    """Reads (GET, HEAD), and the feedback form's POST; no other write."""
    if scope["method"] in ("GET", "HEAD"):
        return True
    path: str = scope.get("path", "")
    return scope["method"] == "POST" and path.startswith(COOKIE_WRITE_PREFIX)


def _cookie_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The UI's `hivelog_key` cookie (honoured where `_cookie_may` says)."""
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == COOKIE and v:
                    return v
    return None


def _unauthorized(what: str) -> Unauthorized:
    error = Unauthorized(
        f"{what}: send `Authorization: Bearer <key>`; create a key with "
        "`hivelog keys create --project NAME`",
        "Authorization",
    )
    return error


def request_key(scope: MutableMapping[str, Any]) -> ApiKey | None:
    """The key a request was authenticated with, if any."""
    key = scope.get(SCOPE_KEY)
    return key if isinstance(key, ApiKey) else None
