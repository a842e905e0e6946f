"""The web UI, served by the same process as the API: pages at `/` and `/ui/...`, static
files (vendored htmx and uPlot, see static/VENDORED.md) at `/static`.

Pages read the project from `?project=`; when API keys are on, a login that keeps the key in an
HttpOnly, SameSite cookie only has to set the project in `pages._view` (one place).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def routes() -> list[BaseRoute]:
    from hivelog.ui import export, feedback, login, pages

    return [
        Route("/login", login.login_page, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/", pages.sessions_page, methods=["GET"]),
        Route("/ui", pages.sessions_page, methods=["GET"]),
        Route("/ui/sessions", pages.sessions_page, methods=["GET"]),
        Route("/ui/sessions/{session_id}", pages.session_page, methods=["GET"]),
        Route("/ui/events", pages.events_page, methods=["GET"]),
        Route("/ui/event/{event_id}", pages.event_detail, methods=["GET"]),
        Route("/ui/dashboard", pages.dashboard_page, methods=["GET"]),
        Route("/ui/sessions/{session_id}/usage", pages.session_usage, methods=["GET"]),
        Route("/ui/feedback/{event_id}", feedback.record, methods=["POST"]),
        Route("/ui/export/{kind:str}.{format:str}", export.download, methods=["GET"]),
        Route("/ui/{path:path}", pages.unknown_page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
