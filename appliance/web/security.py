"""Middleware that every request passes through, whatever route it is for.

- :class:`AllowedHosts`: only requests addressed to the box (an IP address, or one of
  its own names) are answered, so a DNS-rebinding page cannot reach it by a name of
  its own;
- :class:`SecurityHeaders`: a strict CSP (no inline script or style), no
  framing, no sniffing, no referrer to other sites, no caching of pages with student words.
- :class:`BodyLimit`: small bodies everywhere, a bigger limit only on upload routes.
- :class:`SameOrigin`: a state-changing request from another site's page is
  refused before any handler runs (the CSRF token is the main guard; this is the second).
- :class:`RequireSession`: default deny. Only ``/login`` and ``/static/`` (and the
  favicon's redirect) are open; everything else, the event stream included, needs a live session.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appliance.web.sessions import SessionStore

SESSION_COOKIE = "parlo_session"
PUBLIC_PATHS = ("/login", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def box_names() -> set[str]:
    """The names the box answers to: ``localhost``, its hostname and ``<hostname>.local``
    (mDNS). No DNS lookup: an offline box would wait for it."""
    names = {"localhost"}
    hostname = socket.gethostname().lower()
    if hostname:
        names |= {hostname, f"{hostname}.local"}
    return names


class AllowedHosts:
    """Answers 400 to a request whose ``Host`` is neither an IP address nor one of ``names``.

    A DNS-rebinding attack has a student's browser load ``evil.example`` and then point
    that name at the box: the browser then sends ``Host: evil.example``, which is refused.
    """

    def __init__(self, app: ASGIApp, names: Iterable[str]) -> None:
        self.app = app
        self.names = {name.lower().rstrip(".") for name in names}

    def allowed(self, host: str | None) -> bool:
        if host is None:
            return True  # HTTP/1.0 without Host: no browser sends that
        try:
            name = urlsplit(f"//{host}").hostname or ""
        except ValueError:
            return False
        name = name.lower().rstrip(".")
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name in self.names
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed(_header(scope, b"host")):
            response = PlainTextResponse(
                "Unknown host name: open the box by its address or its own name.",
                status_code=400,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.decode("latin-1").lower() not in HEADERS
                ]
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                if not static and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses bodies over a limit with 413, by the declared length or by counting.

    ``large`` maps exact paths to their own, bigger limits (model pack uploads).
    """

    def __init__(self, app: ASGIApp, limit: int, large: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.large = dict(large)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large.get(scope["path"], self.limit)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = PlainTextResponse("Request body too large.", status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, "Request body too large.")
            return message

        await self.app(scope, counting_receive, send)


class SameOrigin:
    """Refuses unsafe methods whose ``Origin`` (when the browser sends one) is not this host."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in self.SAFE:
            origin = _header(scope, b"origin")
            host = _header(scope, b"host")
            if origin is not None and (origin == "null" or urlsplit(origin).netloc != host):
                response = PlainTextResponse("Cross-site request refused.", status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequireSession:
    """Lets a request through only with a live session, stored in ``scope["state"]["session"]``.

    Pages redirect to the login form; anything else (the event stream, form
    posts, JSON) gets a bare 401.
    """

    def __init__(self, app: ASGIApp, sessions: SessionStore) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        session = self.sessions.get(_cookie(scope, SESSION_COOKIE))
        if session is None:
            wants_page = scope["method"] in ("GET", "HEAD") and "text/html" in (
                _header(scope, b"accept") or ""
            )
            response: Response
            if wants_page:
                response = RedirectResponse("/login", status_code=303)
            else:
                response = PlainTextResponse("Log in first.", status_code=401)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["session"] = session
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    return cookie_parser(raw).get(name) if raw else None
