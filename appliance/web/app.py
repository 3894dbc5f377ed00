"""The page as one ASGI application: routes, middleware and error pages.

Layers, outermost first::

    SecurityHeaders          every response, errors included
      ServerErrorMiddleware  (Starlette) a crash becomes a calm 500 page, never a traceback
        AllowedHosts         400 for a Host that is not the box (DNS rebinding)
        BodyLimit            413 for big bodies; uploads have their own limit
          SameOrigin         403 for unsafe requests from another site
            RequireSession   default deny: only /login and /static/ are open
              routes
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from appliance.web import sse, views_auth, views_lessons, views_models, views_pages
from appliance.web.context import WebContext
from appliance.web.logbuffer import LogRing
from appliance.web.security import (
    AllowedHosts,
    BodyLimit,
    RequireSession,
    SameOrigin,
    SecurityHeaders,
    box_names,
)
from appliance.web.webapp import WebApp, web_of

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
BODY_LIMIT = 64 * 1024  # every form but the pack upload fits many times over
ERROR_TITLES = {
    400: "That did not work",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not possible right now",
    413: "Too big",
    429: "Too many tries",
    507: "Disk full",
}


def build_app(
    context: WebContext,
    log_ring: LogRing | None = None,
    session_hours: float = 12.0,
    host_names: Iterable[str] | None = None,
) -> tuple[ASGIApp, WebApp]:
    """The ASGI app to serve, and its shared state (for the server and for tests).

    ``host_names``: the names besides IP addresses that requests may be addressed to
    (default :func:`~appliance.web.security.box_names`).
    """
    web = WebApp(context, log_ring, session_hours)
    post = ["POST"]
    routes = [
        Route("/login", views_auth.login_page),
        Route("/login", views_auth.login, methods=post),
        Route("/logout", views_auth.logout, methods=post),
        Route("/", views_pages.status_page),
        Route("/events", sse.event_stream),
        Route("/settings", views_pages.settings_page),
        Route("/settings", views_pages.save_settings, methods=post),
        Route("/settings/activities", views_pages.save_custom_activity, methods=post),
        Route("/settings/activities/delete", views_pages.delete_custom_activity, methods=post),
        Route("/models", views_models.models_page),
        Route("/models/progress", views_models.progress),
        Route("/models/switch", views_models.switch, methods=post),
        Route("/models/rollback", views_models.rollback, methods=post),
        Route(views_models.UPLOAD_PATH, views_models.upload, methods=post),
        Route("/tools", views_pages.tools_page),
        Route("/tools/say", views_pages.say, methods=post),
        Route("/tools/reset", views_pages.reset_conversation, methods=post),
        Route("/tools/password", views_auth.change_password, methods=post),
        Route("/lessons", views_lessons.lessons_page),
        Route("/lessons/current", views_lessons.current_lesson),
        Route("/lessons/chart/{lesson}.svg", views_lessons.lesson_chart),
        Route("/lessons.csv", views_lessons.lessons_export),
        Route("/lessons/start", views_lessons.start_lesson, methods=post),
        Route("/lessons/end", views_lessons.end_lesson, methods=post),
        Route("/lessons/words", views_lessons.save_words, methods=post),
        Route("/lessons/words/use", views_lessons.use_word_list, methods=post),
        Route("/lessons/words/delete", views_lessons.delete_word_list, methods=post),
        Route("/power", views_lessons.power, methods=post),
        Route("/favicon.ico", lambda _: RedirectResponse("/static/icon.svg", status_code=301)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AllowedHosts, names=box_names() if host_names is None else host_names),
            Middleware(
                BodyLimit,
                limit=BODY_LIMIT,
                large={views_models.UPLOAD_PATH: views_models.UPLOAD_LIMIT},
            ),
            Middleware(SameOrigin),
            Middleware(RequireSession, sessions=web.sessions),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )
    app.state.web = web
    return SecurityHeaders(app), web


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    status = error.status_code
    detail = error.detail if status != 404 else "There is no page here."
    if status == 405:
        detail = "This address does not take that kind of request."
    return _error_page(request, status, str(detail))


async def _crash(request: Request, error: Exception) -> Response:
    log.error("the web page failed on %s %s", request.method, request.url.path, exc_info=error)
    return _error_page(request, 500, "Something went wrong. The details are in the log (Tools).")


def _error_page(request: Request, status: int, message: str) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return PlainTextResponse(message, status_code=status)
    return web_of(request).render(
        request,
        "error.html",
        status,
        title=ERROR_TITLES.get(status, "Something went wrong"),
        status=status,
        message=message,
    )
