"""What every handler shares: the context, sessions, templates, and a few helpers.

Handlers reach it as ``request.app.state.web`` (see :func:`web_of`). Helpers
here are the only way handlers read a form (:func:`read_form` checks the CSRF
token first) and render a page (:meth:`WebApp.render`, autoescaped Jinja2).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from appliance.core.config import Config, ConfigError, load_config, save_config
from appliance.core.events import State
from appliance.core.presence import PresenceGate
from appliance.web.auth import has_secret, secret_path
from appliance.web.context import WebContext
from appliance.web.logbuffer import LogRing
from appliance.web.modelstore import ModelsBridge
from appliance.web.sessions import LoginThrottle, Session, SessionStore

TEMPLATES = Path(__file__).parent / "templates"
FORM_LIMITS = {"max_files": 0, "max_fields": 64, "max_part_size": 16 * 1024}

STATE_LABELS = {
    State.BOOTING: "Starting up",
    State.IDLE: "Ready",
    State.LISTENING: "Listening",
    State.THINKING: "Thinking",
    State.SPEAKING: "Speaking",
    State.ERROR: "Needs attention",
    State.UPDATING: "Updating",
}


class WebApp:
    """The page's shared state. One per server."""

    def __init__(self, context: WebContext, log_ring: LogRing | None, session_hours: float):
        self.context = context
        self.secret_file = context.secret_file or secret_path()
        self.sessions = SessionStore(self.secret_file, session_hours)
        self.throttle = LoginThrottle()
        self.presence = PresenceGate(context.presence_dir)
        self._hold_seen = self.presence.last_hold()
        self.log_ring = log_ring
        self.models = ModelsBridge(
            context.model_store_root, context.models_changed, presence_dir=context.presence_dir
        )
        self.started_at = time.time()
        self.stopping = threading.Event()
        # Open event streams per session token (appliance.web.sse caps them).
        self.streams: Counter[str] = Counter()
        self.streams_lock = threading.Lock()
        # Saves from two tabs queue up here; save_config's rename keeps each file whole anyway.
        self.config_lock = threading.Lock()
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.templates.globals["state_label"] = lambda state: STATE_LABELS.get(state, str(state))

    def lift_cap_after_a_hold(self) -> None:
        """A hold of the button at the box since the last look lifts the login throttle's
        global cap (the daemon records every hold: :mod:`appliance.core.presence`)."""
        held = self.presence.last_hold()
        if held > self._hold_seen:
            self._hold_seen = held
            self.throttle.lift_global_cap()

    def has_secret(self) -> bool:
        return has_secret(self.secret_file)

    def load_config(self) -> tuple[Config, str | None]:
        """The config file's settings, or the defaults and what is wrong with the file."""
        try:
            return load_config(self.context.config_path), None
        except (ConfigError, OSError) as error:
            return Config(), str(error)

    def save_config(self, config: Config) -> None:
        save_config(config, self.context.config_path)

    def render(
        self, request: Request, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        session: Session | None = request.scope.get("state", {}).get("session")
        page = self.templates.get_template(template).render(
            session=session,
            csrf=session.csrf if session else "",
            standalone=self.context.standalone,
            path=request.url.path,
            state=self.context.events.last_state,
            **values,
        )
        return HTMLResponse(page, status_code=status_code)


def web_of(request: Request) -> WebApp:
    return request.app.state.web


def session_of(request: Request) -> Session:
    return request.scope["state"]["session"]


async def limited_form(request: Request) -> FormData:
    """The posted form within :data:`FORM_LIMITS`. A field over the size limit is a body
    too large (413), as the body limit says of the whole body: which of the two sees it
    first depends on how the chunks arrive, and the answer must not."""
    try:
        return await request.form(**FORM_LIMITS)
    except HTTPException as error:
        if error.status_code == 400 and "exceeded maximum size" in str(error.detail):
            raise HTTPException(413, "Request body too large.") from None
        raise


async def read_form(request: Request) -> dict[str, list[str]]:
    """The posted form as lists of strings, after checking its CSRF token (403 if wrong)."""
    form = await limited_form(request)
    values = {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}
    session: Session | None = request.scope.get("state", {}).get("session")
    if session is None or not session.csrf_matches(first(values, "csrf")):
        raise HTTPException(403, "This form has expired. Reload the page and try again.")
    return values


def first(values: Mapping[str, Sequence[str]], key: str, default: str = "") -> str:
    found = values.get(key)
    return found[0] if found else default
