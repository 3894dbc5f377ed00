"""A dead LAN model costs one turn its timeout, not every turn: the circuit breaker.

No real models here: the box's own model is a stand-in that answers at once, and the
LAN server is a loopback socket server that can be silent or answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from appliance.speech.remote_llm import CircuitBreaker, FallbackLlm, RemoteLlm

QUESTION = [{"role": "user", "content": "What colour is the sky?"}]


class LocalStandIn:
    stop_reason = "stop"
    all_threads = 2
    context_tokens = 1024

    def use_threads(self, threads: int) -> None: ...
    def count_tokens(self, messages) -> int:
        return 1

    def close(self) -> None: ...
    def prefill(self, messages) -> None: ...

    def stream(self, messages, max_tokens, should_stop=lambda: False, **options) -> Iterator[str]:
        yield "Blue, "
        yield "from the box."


class LanServer:
    """Silent (reads the request, never answers) until ``alive``; then a tiny OpenAI server."""

    def __init__(self) -> None:
        self.alive = False
        self.requests: list[str] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        request = connection.recv(65536).decode("latin-1")
        self.requests.append(request.split("\r\n", 1)[0])
        if not self.alive:
            self.held.append(connection)  # never a word
            return
        if request.startswith("GET /v1/models"):
            body = b'{"data": [{"id": "smollm2"}]}'
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            connection.sendall(head.encode() + body)
        else:
            event = {"choices": [{"delta": {"content": "Blue, from the server."},
                                  "finish_reason": "stop"}]}  # fmt: skip
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                + b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"
            )  # fmt: skip
        connection.close()

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def server() -> Iterator[LanServer]:
    server = LanServer()
    yield server
    server.close()


def timed(turn: Callable[[], str]) -> tuple[str, float]:
    started = time.monotonic()
    reply = turn()
    return reply, time.monotonic() - started


def test_a_dead_server_costs_one_turn_its_timeout_not_every_turn(server: LanServer) -> None:
    remote = RemoteLlm(f"http://127.0.0.1:{server.port}", timeout_seconds=1.0)
    llm = FallbackLlm(remote, LocalStandIn(), CircuitBreaker(remote.reachable, retry_every=0.2))
    try:
        reply, took = timed(lambda: "".join(llm.stream(QUESTION, 12)))
        assert (reply, llm.used) == ("Blue, from the box.", "fallback")
        assert took >= 1.0  # the first failure waits for the timeout
        assert llm.breaker.is_open
        for _ in range(3):
            reply, took = timed(lambda: "".join(llm.stream(QUESTION, 12)))
            assert (reply, llm.used) == ("Blue, from the box.", "fallback")
            assert took < 0.2, "with the breaker open, the local model answers at once"
        server.alive = True  # the server is back: the background probe finds it
        deadline = time.monotonic() + 5
        while llm.breaker.is_open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not llm.breaker.is_open
        assert any(line.startswith("GET /v1/models") for line in server.requests)
        reply = "".join(llm.stream(QUESTION, 12))
        assert (reply, llm.used) == ("Blue, from the server.", "primary")
    finally:
        llm.close()


def test_the_breaker_backs_off_and_closes_on_the_first_good_probe() -> None:
    calls: list[float] = []

    def probe() -> bool:
        calls.append(time.monotonic())
        return len(calls) >= 3

    breaker = CircuitBreaker(probe, retry_every=0.1, max_retry=0.3)
    assert breaker.allow()
    started = time.monotonic()
    breaker.failed()
    breaker.failed()  # a second failure while open starts no second thread
    assert not breaker.allow()
    deadline = started + 5
    while not breaker.allow() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert breaker.allow() and len(calls) == 3
    gaps = [later - earlier for earlier, later in zip([started, *calls], calls, strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.29  # 0.1, 0.2, then the cap


def test_bad_breaker_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="retry_every must be positive"):
        CircuitBreaker(lambda: True, retry_every=0)
    with pytest.raises(ValueError, match="at most max_retry"):
        CircuitBreaker(lambda: True, retry_every=10, max_retry=5)


def test_a_closed_box_stops_probing() -> None:
    calls: list[int] = []
    breaker = CircuitBreaker(lambda: calls.append(1) or False, retry_every=0.1)
    breaker.failed()
    breaker.close()
    time.sleep(0.3)
    assert calls == []
