"""Logging in and out, and changing the password from the page.

Checking a password costs one scrypt hash (16 MiB, tens of milliseconds), so it
runs off the event loop and at most two at a time: a flood of guesses cannot
starve the page or the Pi's memory. The throttle is asked *before* hashing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from appliance.web.auth import SecretError, check_secret_shape, set_secret, verify_secret
from appliance.web.security import SESSION_COOKIE
from appliance.web.sessions import Session
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
    if (wait := web.throttle.retry_after(address)) > 0:
        response = page(429, f"Too many wrong tries. Wait {wait:.0f} seconds, then try again.")
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    if not await run_in_threadpool(_verify, candidate, web.secret_file):
        web.throttle.failed(address)
        return page(401, "That password is not right.")
    web.throttle.succeeded(address)
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
    if (wait := web.throttle.retry_after(address)) > 0:
        errors["current"] = f"Too many wrong tries. Wait {wait:.0f} seconds."
    elif not await run_in_threadpool(_verify, current, web.secret_file):
        web.throttle.failed(address)
        errors["current"] = "That is not the current password."
    else:
        try:
            check_secret_shape(new)
        except SecretError as error:
            errors["new"] = str(error).capitalize() + "."
        if not errors and new != again:
            errors["again"] = "The two new passwords are different."
    if errors:
        return await tools_page(request, password_errors=errors, status_code=400)
    web.throttle.succeeded(address)
    await run_in_threadpool(set_secret, new, web.secret_file)
    web.sessions.end_all()
    return _logged_in(request, web.sessions.create(), "/tools?done=password")


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
