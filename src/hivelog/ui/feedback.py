"""Human feedback from the web UI: a rating, a comment, metrics and labels on an event.

This is the one write a signed-in browser may make (hivelog.auth honours the `hivelog_key`
cookie on `POST /ui/feedback/{event_id}` and on no other write), so the route itself refuses
anything a page of another site could send:

- the body must be JSON (`Content-Type: application/json`) and carry the `X-Hivelog-CSRF`
  header: neither can be set by a cross-site form, and a cross-site `fetch` that sets them
  needs a CORS preflight this server never grants;
- the header must equal the page's CSRF token, an HMAC of the session cookie: a page that
  cannot read the cookie (HttpOnly, SameSite=Strict) cannot compute it;
- `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`, and `Origin`, when
  sent, must be this server's.

The feedback then goes through the same update path as `PUT /events` (an `EventUpdate` given
to the writer), so `feedback` and `metrics` merge with what is stored and the API and exports
see it as soon as the request is answered.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import urllib.parse
from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hivelog.auth import COOKIE
from hivelog.errors import BadInput, Forbidden, NotFound
from hivelog.event import EventUpdate
from hivelog.routes.http import decode_json, json_response, key_project, store, writer
from hivelog.store.base import WriteEvents

CSRF_HEADER = "x-hivelog-csrf"
PATH_PREFIX = "/ui/feedback/"
_CSRF_CONTEXT = b"hivelog web UI feedback v1"
MAX_COMMENT = 10_000
MAX_ITEMS = 50

Scalar = int | float | bool | str


class FeedbackIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the feedback form sends. `rating` is 1 to 5; `metrics` take numbers (and true /
    false), `labels` short texts; both merge into what the event already has."""

    rating: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=MAX_COMMENT)] | None = None
    metrics: Annotated[dict[str, float | int | bool], msgspec.Meta(max_length=MAX_ITEMS)] = {}
    labels: Annotated[dict[str, str], msgspec.Meta(max_length=MAX_ITEMS)] = {}


def csrf_token(request: Request) -> str:
    """The token pages put in `<meta name="hivelog-csrf">`: bound to the sign-in cookie (an
    open server without keys has none; the custom header and origin checks still apply)."""
    secret = request.cookies.get(COOKIE, "").encode()
    return hmac.new(secret, _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def _same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parsed = urllib.parse.urlsplit(origin)
    return f"{parsed.scheme}://{parsed.netloc}".lower() == (
        f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    )


def check_request(request: Request) -> None:
    """Forbidden unless the request came from one of this server's own pages."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    token = request.headers.get(CSRF_HEADER, "")
    if kind != "application/json" or not hmac.compare_digest(token, csrf_token(request)):
        raise Forbidden(
            "feedback is sent by hivelog's own pages: JSON with the page's X-Hivelog-CSRF token",
            CSRF_HEADER,
        )
    if not _same_origin(request):
        raise Forbidden("feedback from another site's page is refused", "Origin")


def _check_keys(values: dict[str, Scalar], where: str) -> None:
    for key, value in values.items():
        if not key.strip() or len(key) > 200:
            raise BadInput("a name must be 1 to 200 characters", f"{where}.{key}")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput("a metric must be a finite number", f"{where}.{key}")
        if isinstance(value, str) and len(value) > 1000:
            raise BadInput("a label must be at most 1,000 characters", f"{where}.{key}")


def to_update(event_id: str, body: FeedbackIn) -> EventUpdate:
    """The `PUT /events` update this feedback is: rating, comment and labels into `feedback`,
    metrics into `metrics`."""
    _check_keys(dict(body.metrics), "$.metrics")
    _check_keys(dict(body.labels), "$.labels")
    feedback: dict[str, object] = dict(body.labels)
    if body.rating is not None:
        feedback["rating"] = body.rating
    if body.comment is not None and body.comment.strip():
        feedback["comment"] = body.comment.strip()
    if not feedback and not body.metrics:
        raise BadInput("nothing to record: give a rating, a comment, a metric or a label", "$")
    return EventUpdate(
        event_id=event_id,
        feedback=feedback or None,
        metrics=dict(body.metrics) or None,
    )


async def record(request: Request) -> Response:
    """`POST /ui/feedback/{event_id}`: merge the form's feedback into the event."""
    check_request(request)
    event_id = request.path_params["event_id"]
    raw = await request.body()
    update = to_update(event_id, decode_json(raw, FeedbackIn))
    s = store(request)
    named = request.query_params.get("project")
    project = key_project(request) or (
        await run_in_threadpool(s.find_project, named)
        if named
        else await run_in_threadpool(s.project_of_event, event_id)
    )
    found = await run_in_threadpool(s.get_event, project, event_id) if project else None
    if found is None or project is None:
        raise NotFound(f"no event {event_id!r}", "path")
    await writer(request).submit(WriteEvents(project=project.name, updates=[update]), len(raw))
    return json_response({"success": True, "event_id": event_id})
