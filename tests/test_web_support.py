"""Helpers for the web tests: a real server on a free loopback port, and a small HTTP client.

Not a conftest: the web tests import what they need from here, so the other
areas' tests are untouched. It holds no tests itself.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appliance.core.events import EventStream
from appliance.web.auth import set_secret
from appliance.web.context import WebContext
from appliance.web.server import WebServer

PASSWORD = "24681357"
DEVICES = ["USB Audio Device", "bcm2835 Headphones"]


@dataclass
class Running:
    """A started server and what its daemon callables recorded."""

    server: WebServer
    events: EventStream
    home: Path
    config_path: Path
    said: list[str] = field(default_factory=list)
    resets: list[bool] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.addresses[0][1]

    def client(self) -> Client:
        return Client(self.port)


def start_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    secret: str | None = PASSWORD,
    **context: Any,
) -> Running:
    """A server on 127.0.0.1 with a fresh ``PARLO_HOME`` under ``tmp_path``; stop it after."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PARLO_HOME", str(home))
    monkeypatch.delenv("PARLO_CONFIG", raising=False)
    if secret is not None:
        set_secret(secret, home / "web-secret")
    events = EventStream()
    running = Running(None, events, home, home / "config.toml")  # type: ignore[arg-type]
    defaults: dict[str, Any] = {
        "say": running.said.append,
        "reset_conversation": lambda: running.resets.append(True),
        "list_sound_devices": lambda: list(DEVICES),
        "health": lambda: {"microphone": DEVICES[0], "speaker": DEVICES[1]},
    }
    web_context = WebContext(events=events, config_path=running.config_path, **(defaults | context))
    running.server = WebServer(web_context, hosts=["127.0.0.1"], port=0)
    running.server.start()
    return running


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class Client:
    """Just enough HTTP: one cookie (the session), no redirect following, form posts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        accept: str = "text/html",
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        all_headers = {"Accept": accept, **(headers or {})}
        if self.cookie:
            all_headers["Cookie"] = f"parlo_session={self.cookie}"
        chunked = body is not None and not isinstance(body, bytes)
        connection.request(method, path, body=body, headers=all_headers, encode_chunked=chunked)
        raw = connection.getresponse()
        response = Response(raw.status, raw.headers, raw.read().decode("utf-8", "replace"))
        connection.close()
        if match := re.search(r"parlo_session=([^;]*)", raw.headers.get("set-cookie", "")):
            self.cookie = match.group(1).strip('"') or None
        return response

    def get(self, path: str, accept: str = "text/html") -> Response:
        return self.request("GET", path, accept=accept)

    def post(
        self, path: str, fields: dict[str, str | list[str]], headers: dict[str, str] | None = None
    ) -> Response:
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        form_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, body, form_headers)

    def login(self, password: str = PASSWORD) -> Response:
        return self.post("/login", {"password": password})

    def csrf(self, page: str = "/settings") -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.get(page).body)
        assert match, f"no CSRF token on {page}"
        return match.group(1)
