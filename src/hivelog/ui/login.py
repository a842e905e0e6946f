"""Signing in to the web UI with an API key.

The key is kept in the `hivelog_key` cookie: HttpOnly (page scripts cannot read it), SameSite
Strict (no other site's page sends it), Secure when served over HTTPS. The cookie is honoured
on GET and HEAD only (hivelog.auth), so it can read what its key may read and never write.
"""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hivelog import __version__
from hivelog.auth import COOKIE, NO_ACTIVE_KEY, KeyRing
from hivelog.ui.render import render

MAX_AGE = 30 * 24 * 3600  # a month, then sign in again


def _next(value: str | None) -> str:
    """Where to go after signing in: a path of this server only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _form(request: Request, status: int = 200, error: str | None = None) -> Response:
    html = render(
        "login.html",
        version=__version__,
        next=_next(request.query_params.get("next")),
        error=error,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


async def login_page(request: Request) -> Response:
    keys: KeyRing = request.app.state.keys
    await keys.required()  # refreshes the cached state
    return _form(request, error=NO_ACTIVE_KEY if keys.closed else None)


async def login(request: Request) -> Response:
    """Check the key sent in the form; on success keep it in the cookie and go on."""
    fields = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    presented = (fields.get("key") or [""])[0].strip()
    destination = _next((fields.get("next") or [""])[0])
    keys: KeyRing = request.app.state.keys
    key = await keys.check(presented) if presented else None
    if key is None:
        return _form(request, 401, "That key is not valid or was revoked.")
    response = RedirectResponse(destination, status_code=303)
    response.set_cookie(
        COOKIE,
        presented,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
