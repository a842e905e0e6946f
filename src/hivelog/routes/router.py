"""Starlette's router with the routes of each fixed path found by one dict lookup.

Starlette tries every route's regular expression in order until one matches. hivelog has
about fifty routes, so a request for one near the end of the table (`/healthz`, the OTLP
paths, the UI) tried some forty expressions first: measured with wrk at 32 connections, a
one-route Starlette app answered 11,900 requests/s and the same route behind hivelog's table
7,300 (about 55 µs of CPU per request spent on the scan).

The index keeps the scan's meaning exactly. For each fixed path P (a route path without
parameters) it holds, in table order, every route whose expression matches P itself —
parameterised routes and mounts included. A request for P could only ever match those, so
trying them in the same order finds the same route, the same 405 (a route that matches the
path, not the method) and the same path parameters. Any other path takes Starlette's scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path  # the path Starlette's routes match against
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send


def fixed_path_index(routes: Sequence[BaseRoute]) -> dict[str, list[BaseRoute]]:
    """Each fixed route path → the routes whose expression matches it, in table order.

    Empty when a route has no path expression (a host route, say): then nothing is indexed
    and every request is scanned as Starlette does."""
    if not all(hasattr(route, "path_regex") for route in routes):
        return {}
    fixed = [
        route.path
        for route in routes
        if not getattr(route, "param_convertors", True) and hasattr(route, "path")
    ]
    return {
        path: [r for r in routes if r.path_regex.match(path)]  # type: ignore[attr-defined]
        for path in fixed
    }


class IndexedRouter(Router):
    """A Router that looks up fixed paths (`fixed_path_index`) before scanning."""

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(list(routes), **kwargs)
        self.fixed = fixed_path_index(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        candidates = self.fixed.get(get_route_path(scope)) if scope["type"] == "http" else None
        if candidates is None:
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in candidates:  # Router.app's loop, over the candidates only
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is None:  # no candidate took it after all: Starlette's answer
            await super().app(scope, receive, send)
            return
        route, child_scope = partial
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)
