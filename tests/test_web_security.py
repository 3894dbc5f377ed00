"""Attacks a curious student might try, against the real server over HTTP."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_web_support import PASSWORD, Running, start_server

from appliance.core.events import State, StateChanged, TurnFinished
from appliance.web import auth

PAGES = ["/", "/settings", "/models", "/tools", "/models/progress", "/events"]
POSTS = [
    "/logout",
    "/settings",
    "/settings/activities",
    "/settings/activities/delete",
    "/models/switch",
    "/models/rollback",
    "/models/upload",
    "/tools/say",
    "/tools/reset",
    "/tools/password",
]


@pytest.fixture
def running(tmp_path, monkeypatch) -> Iterator[Running]:
    running = start_server(tmp_path, monkeypatch)
    yield running
    running.server.stop()


def test_every_route_needs_a_session(running: Running) -> None:
    client = running.client()
    for path in PAGES:
        page = client.get(path)
        assert page.status in (303, 401), path
        if page.status == 303:
            assert page.header("location") == "/login"
        assert client.get(path, accept="*/*").status == 401, path
    for path in POSTS:
        assert client.post(path, {"csrf": "x", "text": "hi"}).status == 401, path
    assert running.said == [] and running.resets == []
    assert client.get("/login").status == 200
    assert client.get("/static/style.css").status == 200


def test_a_forged_or_stale_session_cookie_is_refused(running: Running) -> None:
    client = running.client()
    client.cookie = "made-up-token"
    assert client.get("/settings", accept="*/*").status == 401


def test_posts_without_the_right_csrf_token_change_nothing(running: Running) -> None:
    client = running.client()
    assert client.login().status == 303
    before = running.config_path.exists()
    for csrf in (None, "wrong", ""):
        fields = {"activity.level": "A1", "text": "hello", "set": "x"}
        if csrf is not None:
            fields["csrf"] = csrf
        for path in POSTS:
            if path == "/models/upload":
                continue  # multipart only; its own test below
            assert client.post(path, fields).status == 403, (path, csrf)
    assert running.config_path.exists() == before
    assert running.said == [] and running.resets == []
    assert client.get("/settings").status == 200, "still logged in: /logout refused too"


def test_a_request_from_another_site_is_refused_even_with_the_token(running: Running) -> None:
    client = running.client()
    client.login()
    csrf = client.csrf()
    evil = {"Origin": "http://evil.example"}
    response = client.post("/settings", {"csrf": csrf, "activity.level": "A1"}, evil)
    assert response.status == 403
    assert not running.config_path.exists()
    same = {"Origin": f"http://127.0.0.1:{running.port}"}
    assert client.post("/settings", {"csrf": csrf, "activity.level": "A1"}, same).status == 303


def test_the_upload_refuses_files_sent_before_a_valid_token(running: Running) -> None:
    client = running.client()
    client.login()
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="pack"; filename="manifest.toml"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
        "compatible = 'parlo-1'\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert client.request("POST", "/models/upload", body, headers).status == 403
    uploads = running.home / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_student_text_is_shown_inert(running: Running) -> None:
    attack = '<script>alert("hi")</script><img src=x onerror=alert(1)>'
    running.events.publish(TurnFinished(attack, f"You said {attack}", {}))
    client = running.client()
    client.login()
    page = client.get("/").body
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in page
    # The event stream sends JSON, which app.js only ever sets as textContent:
    # the browser test checks that no element is created from it.


def test_the_event_stream_carries_state_and_turns(running: Running) -> None:
    import http.client

    client = running.client()
    client.login()
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
    connection.request("GET", "/events", headers={"Cookie": f"parlo_session={client.cookie}"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type").startswith("text/event-stream")
    seen: list[tuple[str, dict]] = []
    name = ""

    def read_event() -> None:
        nonlocal name
        while True:
            line = response.fp.readline().decode().strip()
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                seen.append((name, json.loads(line[6:])))
                return

    # The stream opens with the state as it is now; events published before that first
    # event may come before the stream has subscribed (the page needs only the snapshot).
    read_event()
    assert seen[0][0] == "state"
    running.events.publish(StateChanged(State.LISTENING))
    running.events.publish(TurnFinished("I like <b>cats</b>", "Cats are nice!", {}))
    deadline = time.monotonic() + 5
    ours = ("turn", "I like <b>cats</b>")
    listening = ("state", {"state": "listening", "label": "Listening", "detail": ""})
    # The stream may send our turn first, from its snapshot of the last turn, and the
    # state from its queue after it: wait for both.
    while ours not in [(kind, data.get("transcript")) for kind, data in seen] or (
        listening not in seen
    ):
        assert time.monotonic() < deadline, f"the state or the turn never came: {seen}"
        read_event()
    connection.close()
    assert ("state", {"state": "listening", "label": "Listening", "detail": ""}) in seen
    turn = next(data for kind, data in seen if (kind, data.get("transcript")) == ours)
    assert turn["reply"] == "Cats are nice!"


def test_guessing_locks_the_guesser_out(running: Running) -> None:
    client = running.client()
    statuses = [client.login(f"wrong{n:04d}").status for n in range(5)]
    assert statuses == [401] * 5
    locked = client.login()  # even the right password, while locked out
    assert locked.status == 429 and int(locked.header("retry-after")) >= 30
    assert client.cookie is None
    # Backoff doubles: the lock is released by time, not by more tries.
    throttle = running.server.web.throttle
    now = time.monotonic()
    throttle.clock = lambda: now + 31
    assert client.login("wrong-again").status == 401
    assert 59 <= throttle.retry_after("127.0.0.1") <= 61
    throttle.clock = lambda: now + 200
    assert client.login().status == 303


def login_from(running: Running, source: str, password: str) -> int:
    connection = http.client.HTTPConnection(
        "127.0.0.1", running.port, timeout=30, source_address=(source, 0)
    )
    body = urllib.parse.urlencode({"password": password})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
    connection.request("POST", "/login", body=body, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_parallel_guesses_are_all_counted_and_the_teacher_still_gets_in(running: Running) -> None:
    """Issue 14's race: 40 parallel wrong PINs from one address all got 401 and filled
    the global cap; then the teacher's right PIN got 429."""
    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(lambda n: login_from(running, "127.0.0.1", f"wrong{n:04d}"),
                                 range(40)))  # fmt: skip
    assert statuses.count(401) <= 5, statuses  # the free tries, no more
    assert statuses.count(429) >= 35
    assert login_from(running, "127.0.0.2", PASSWORD) == 303  # the teacher, at another device


def test_the_global_cap_slows_logins_and_a_hold_at_the_box_lifts_it(running: Running) -> None:
    throttle = running.server.web.throttle
    throttle.global_failures_per_minute = 10
    for n in range(10):  # ten devices, five guesses each would be 50: the cap is reached
        assert login_from(running, f"127.0.1.{n}", "wrong-guess") == 401
    started = time.monotonic()
    assert login_from(running, "127.0.2.1", "wrong-guess") == 401
    assert login_from(running, "127.0.2.2", PASSWORD) == 303  # slowed, never refused
    assert time.monotonic() - started >= 6  # two turns in the lane, 6 s apart
    from appliance.core.presence import PresenceGate

    PresenceGate(running.home / "presence").confirm()  # the teacher holds the button
    started = time.monotonic()
    assert login_from(running, "127.0.2.3", PASSWORD) == 303
    assert time.monotonic() - started < 2


def test_the_login_page_does_not_publish_the_reset_recipe(tmp_path, monkeypatch) -> None:
    running = start_server(tmp_path, monkeypatch)
    try:
        for page in (running.client().get("/login").body, running.client().login("wrong1").body):
            assert "parlo-reset-pin" not in page and "parlo-pin.txt" not in page
            assert "manual" in page
    finally:
        running.server.stop()


def test_no_login_until_a_secret_is_set(tmp_path, monkeypatch) -> None:
    running = start_server(tmp_path, monkeypatch, secret=None)
    try:
        client = running.client()
        page = client.get("/login")
        assert "parlo passwd" in page.body and 'type="password"' not in page.body
        for guess in ("", "admin", "password", "00000000"):
            assert client.login(guess).status == 403
        assert client.cookie is None
    finally:
        running.server.stop()


def test_oversized_bodies_get_413(running: Running) -> None:
    client = running.client()
    client.login()
    csrf = client.csrf()
    big = {"csrf": csrf, "filter.extra_words": "x" * 70_000}
    assert client.post("/settings", big).status == 413
    chunked = client.request(
        "POST",
        "/settings",
        (b"csrf=" + csrf.encode() + b"&x=" + b"y" * 100_000 for _ in range(1)),
        {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"},
    )
    assert chunked.status == 413
    assert client.post("/login", {"password": "p" * 100_000}).status == 413
    assert not running.config_path.exists()


def test_path_traversal_finds_nothing(running: Running) -> None:
    client = running.client()
    client.login()
    (running.home / "secret.txt").write_text("top secret")
    for path in (
        "/static/../web-secret",
        "/static/%2e%2e/%2e%2e/auth.py",
        "/static/..%2f..%2fauth.py",
        "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fconfig.py",
        "/static//etc/passwd",
        "/static/..\\..\\auth.py",
        "/tools/../../etc/passwd",
        "/tools/log/../../../etc/passwd",
        "/logs/%2e%2e/web-secret",
    ):
        response = client.get(path)
        assert response.status == 404, path
        assert "root:" not in response.body and "scrypt" not in response.body


def test_security_headers_on_pages_errors_and_static(running: Running) -> None:
    client = running.client()
    for path in ("/login", "/does-not-exist", "/static/app.js"):
        response = client.get(path)
        csp = response.header("content-security-policy")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "style-src 'self'" in csp
        assert response.header("x-content-type-options") == "nosniff"
        assert response.header("referrer-policy") == "same-origin"
    login = client.login()
    cookie = login.header("set-cookie")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert client.get("/").header("cache-control") == "no-store"


def test_bad_form_values_get_400_with_a_message_not_a_traceback(running: Running) -> None:
    client = running.client()
    client.login()
    csrf = client.csrf()
    for fields in (
        {"voice.rate": "fast"},
        {"voice.volume": "1e999"},
        {"activity.level": "Z9"},
        {"activity.name": "../../etc"},
        {"activity.character": "a\x00b"},
        {"filter.enabled": "maybe"},
    ):
        response = client.post("/settings", {"csrf": csrf, **fields})
        assert response.status == 400, fields
        assert "Traceback" not in response.body and 'class="error-text"' in response.body
    weird = client.request(
        "POST",
        "/settings",
        b"\xff\xfe%%%&&&=",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert weird.status in (400, 403) and "Traceback" not in weird.body
    assert not running.config_path.exists()


def test_a_new_password_logs_everyone_else_out(running: Running) -> None:
    teacher, other = running.client(), running.client()
    teacher.login()
    other.login()
    csrf = teacher.csrf("/tools")
    wrong = teacher.post(
        "/tools/password", {"csrf": csrf, "current": "nope", "new": "abcdefgh", "again": "abcdefgh"}
    )
    assert wrong.status == 400 and "not the current password" in wrong.body
    changed = teacher.post(
        "/tools/password",
        {"csrf": csrf, "current": PASSWORD, "new": "new-pass-1", "again": "new-pass-1"},
    )
    assert changed.status == 303
    assert teacher.get("/tools").status == 200, "the teacher keeps a fresh session"
    assert other.get("/tools", accept="*/*").status == 401
    assert not auth.verify_secret(PASSWORD, running.home / "web-secret")
    # `parlo passwd` from a terminal ends the page's sessions too.
    auth.set_secret("from-terminal", running.home / "web-secret")
    assert teacher.get("/tools", accept="*/*").status == 401


def test_logout_ends_the_session(running: Running) -> None:
    client = running.client()
    client.login()
    token = client.cookie
    assert client.post("/logout", {"csrf": client.csrf()}).status == 303
    client.cookie = token
    assert client.get("/", accept="*/*").status == 401
