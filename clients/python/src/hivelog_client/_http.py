"""HTTP with the standard library: kept-alive connections and a retry policy.

Every write the client sends carries ids chosen by the client, and the server stores an
`event_id` once however often it arrives, so every request here is safe to repeat. That is
what lets a network error, a 429 or a 5xx be retried without ever duplicating an event.
"""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Callable

from hivelog_client import __version__

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HivelogError(Exception):
    """A request the server refused or that could not be delivered within the retry budget."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def error_message(self) -> str:
        """The server's own explanation (hivelog and HoneyHive both send `message`)."""
        try:
            data = self.json()
        except ValueError:
            return self.body[:300].decode("utf-8", "replace")
        if isinstance(data, dict):
            inner = data.get("error")
            if isinstance(inner, dict) and "message" in inner:
                return str(inner["message"])
            if "message" in data:
                return str(data["message"])
        return str(data)[:300]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time.

    A `Retry-After` from the server replaces the computed delay (capped at
    `max_retry_after`), because the server knows better than we do when it will have room.
    """

    max_attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 10.0
    max_total: float = 60.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def check_api_key(api_key: str) -> None:
    """ValueError unless `api_key` can be sent in an HTTP header as a bearer token: printable
    ASCII with no spaces. Said when the client is made, not deep inside the first request
    (a copied placeholder such as "…" or a key with a newline would fail every request)."""
    for i, char in enumerate(api_key):
        if not ("!" <= char <= "~"):
            raise ValueError(
                f"the API key cannot be sent in an HTTP header: character {i + 1} of "
                f"{len(api_key)} is {char!r} (U+{ord(char):04X}); a key is printable ASCII "
                "with no spaces (is it a placeholder from an example?)"
            )


def describe_network_error(exc: BaseException) -> str:
    """A network error in words, for messages that also name the address."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running on this host and port?)"
    if isinstance(exc, TimeoutError):
        return "no answer before the timeout"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


class Transport:
    """One base URL, one kept-alive connection per thread, bearer auth, JSON bodies."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"server URL must be http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self.timeout = timeout
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"hivelog-client/{__version__}",
        }
        if api_key:
            check_api_key(api_key)
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._local = threading.local()

    @property
    def address(self) -> str:
        """host:port the connections go to, for error messages."""
        port = self._port or (443 if self._https else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{port}"

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def reset_after_fork(self) -> None:
        """Forget connections inherited from the parent: their sockets are the parent's."""
        self._local = threading.local()

    def request(self, method: str, path: str, body: bytes) -> Response:
        """One attempt. A kept-alive connection the server already closed is retried once."""
        for fresh in (False, True):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=body, headers=self._headers)
                raw = conn.getresponse()
                data = raw.read()
                headers = {k.lower(): v for k, v in raw.getheaders()}
                if raw.will_close:
                    self.close()
                return Response(raw.status, headers, data)
            except (ConnectionError, http.client.BadStatusLine):
                # A kept-alive socket the server closed while idle: try once on a new one.
                self.close()
                if fresh or not reused:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover


def send(
    transport: Transport,
    method: str,
    path: str,
    body: bytes,
    policy: RetryPolicy,
    *,
    wait: Callable[[float], bool] | None = None,
    on_retry: Callable[[], None] | None = None,
) -> Response:
    """Send until a 2xx, a permanent refusal, or the policy's budget runs out.

    `wait(seconds)` sleeps and returns True to abandon early (a logger closing with a
    deadline). Raises HivelogError: `status` is set for a refusal, None for giving up.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        retry_after: float | None = None
        try:
            response = transport.request(method, path, body)
        except (OSError, http.client.HTTPException) as exc:
            problem = f"cannot reach {transport.address}: {describe_network_error(exc)}"
        else:
            if response.status < 300:
                return response
            if response.status not in RETRYABLE_STATUS:
                raise HivelogError(
                    f"{method} {transport.url}{path} refused with {response.status}: "
                    f"{response.error_message()}",
                    response.status,
                )
            problem = f"HTTP {response.status}: {response.error_message()}"
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        delay = policy.delay(attempt, retry_after)
        spent = time.monotonic() - started
        if attempt >= policy.max_attempts or spent + delay > policy.max_total:
            raise HivelogError(
                f"{method} {transport.url}{path} failed after {attempt} attempts in "
                f"{spent:.1f}s: {problem}"
            )
        if on_retry is not None:
            on_retry()
        if wait is None:
            time.sleep(delay)
        elif wait(delay):
            raise HivelogError(
                f"{method} {transport.url}{path} abandoned while retrying: {problem}"
            )
