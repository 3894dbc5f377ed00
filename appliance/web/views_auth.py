"""Logging in and out, and changing the password from the page.

Checking a password costs one scrypt hash (16 MiB, tens of milliseconds), so it
runs off the event loop and at most two at a time: a flood of guesses cannot
starve the page or the Pi's memory. The attempt is reserved with the throttle
(counted as failed, one in flight per address) *before* hashing; see
:class:`~appliance.web.sessions.LoginThrottle`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from appliance.web.auth import SecretError, check_secret_shape, set_secret, verify_secret
from appliance.web.security import SESSION_COOKIE
from appliance.web.sessions import Attempt, Session, TooManyTries
from appliance.web.views_pages import tools_page
from appliance.web.webapp import first, limited_form, read_form, session_of, web_of

_hashing = threading.BoundedSemaphore(2)


async def login_page(request: Request) -> Response:
    web = web_of(request)
    if web.sessions.get(request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse("/", status_code=303)
    return web.render(request, "login.html", title="Log in", has_secret=web.has_secret())


async def login(request: Request) -> Response:
    web = web_of(request)
    address = request.client.host if request.client else "?"
    form = await limited_form(request)
    candidate = form.get("password")
    candidate = candidate if isinstance(candidate, str) else ""

    def page(status: int, error: str) -> Response:
        return web.render(
            request, "login.html", status, title="Log in", has_secret=web.has_secret(), error=error
        )

    if not web.has_secret():
        return page(403, "No password has been set yet.")
    try:
        attempt = await _reserve(request, address)
    except TooManyTries as refused:
        response = page(429, f"{refused.reason} Then try again.")
        response.headers["retry-after"] = str(int(refused.wait) + 1)
        return response
    if not await _check(attempt, candidate, web.secret_file, request):
        return page(401, "That password is not right.")
    return _logged_in(request, web.sessions.create(), "/")


async def logout(request: Request) -> Response:
    await read_form(request)
    web_of(request).sessions.end(session_of(request).token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def change_password(request: Request) -> Response:
    """Current password, new one twice. Every other device is logged out afterwards."""
    web = web_of(request)
    form = await read_form(request)
    address = request.client.host if request.client else "?"
    current, new, again = (first(form, key) for key in ("current", "new", "again"))
    errors: dict[str, str] = {}
    try:
        attempt: Attempt | None = await _reserve(request, address)
    except TooManyTries as refused:
        attempt, errors["current"] = None, refused.reason
    if attempt is not None and not await _check(attempt, current, web.secret_file, request):
        errors["current"] = "That is not the current password."
    elif attempt is not None:
        try:
            check_secret_shape(new)
        except SecretError as error:
            errors["new"] = str(error).capitalize() + "."
        if not errors and new != again:
            errors["again"] = "The two new passwords are different."
    if errors:
        return await tools_page(request, password_errors=errors, status_code=400)
    await run_in_threadpool(set_secret, new, web.secret_file)
    web.sessions.end_all()
    return _logged_in(request, web.sessions.create(), "/tools?done=password")


async def _reserve(request: Request, address: str) -> Attempt:
    """Reserve an attempt (raises :class:`TooManyTries`), and wait out the global slow lane."""
    web = web_of(request)
    web.lift_cap_after_a_hold()
    attempt = web.throttle.reserve(address)
    if attempt.delay > 0:
        try:
            await asyncio.sleep(attempt.delay)
        except BaseException:
            web.throttle.failed(attempt)  # the client went away while waiting
            raise
    return attempt


async def _check(attempt: Attempt, candidate: str, secret_file: Path, request: Request) -> bool:
    throttle = web_of(request).throttle
    try:
        ok = await run_in_threadpool(_verify, candidate, secret_file)
    except BaseException:
        throttle.failed(attempt)
        raise
    (throttle.succeeded if ok else throttle.failed)(attempt)
    return ok


def _verify(candidate: str, secret_file: Path) -> bool:
    with _hashing:
        started = time.monotonic()
        ok = verify_secret(candidate, secret_file)
        # Answer wrong guesses no faster than right ones, whatever the file held.
        time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))
        return ok


def _logged_in(request: Request, session: Session, target: str) -> Response:
    web = web_of(request)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(web.sessions.lifetime),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
