"""The LAN language model: a real llama.cpp server on loopback, and the local fallback.

The server is llama-cpp-python's own OpenAI-compatible server (``python -m
llama_cpp.server``) serving the installed SmolLM2 gguf on a free 127.0.0.1 port;
its extra dependencies come from the ``test`` extra (fastapi, sse-starlette,
starlette-context, pydantic-settings). Failures the real server cannot be made to
show on demand — silence, a connection dropped mid-reply — come from tiny
socket servers on loopback.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.core.config import Config
from appliance.speech.remote_llm import FallbackLlm, RemoteLlm, RemoteLlmError

QUESTION = [
    {"role": "system", "content": "You are a friendly English teacher. Answer in one sentence."},
    {"role": "user", "content": "What colour is the sky?"},
]
SERVER_START_SECONDS = 120  # loading the model on a busy 2-core machine; not a measurement


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(model_set, tmp_path_factory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on the installed gguf; yields its base URL."""
    try:  # the server's dependencies are required, not optional: a skip would prove nothing
        import llama_cpp.server.app  # noqa: F401
    except ImportError as error:
        pytest.fail(
            f"llama_cpp.server cannot start ({error}): "
            "pip install fastapi sse-starlette starlette-context pydantic-settings"
        )
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_set.file("llm")),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--n_threads", "1",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(server, base_url, log_path)
        # The first request pays for warming up the model; the tests should not.
        list(RemoteLlm(base_url, timeout_seconds=60).stream(QUESTION, 2))
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_ready(server: subprocess.Popen, base_url: str, log_path: Path) -> None:
    give_up_at = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < give_up_at:
        if server.poll() is not None:
            pytest.fail(f"the llama.cpp server exited:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/v1/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the llama.cpp server did not start:\n{log_path.read_text()[-2000:]}")


# --- against the real server ---


def test_a_reply_streams_from_a_real_server_in_pieces(llama_server):
    remote = RemoteLlm(llama_server, timeout_seconds=30)
    pieces = list(remote.stream(QUESTION, max_tokens=24, temperature=0.0))
    assert len(pieces) > 1, "expected the reply streamed token by token"
    assert "".join(pieces).strip()
    assert remote.stop_reason in ("stop", "length")


def test_max_tokens_and_cancel_are_honoured(llama_server):
    remote = RemoteLlm(llama_server + "/v1/", timeout_seconds=30)  # ".../v1" works too
    assert len(list(remote.stream(QUESTION, max_tokens=3))) <= 3
    assert remote.stop_reason == "length"
    pieces: list[str] = []
    for piece in remote.stream(QUESTION, max_tokens=40, should_stop=lambda: bool(pieces)):
        pieces.append(piece)
    assert len(pieces) == 1
    assert remote.stop_reason == "cancelled"


def test_a_turn_cancelled_before_any_text_does_not_fall_back(llama_server, models):
    lan = FallbackLlm(RemoteLlm(llama_server, timeout_seconds=30), models.llm)
    assert list(lan.stream(QUESTION, max_tokens=40, should_stop=lambda: True)) == []
    assert lan.used == "primary"
    assert lan.stop_reason == "cancelled"


def test_an_http_error_before_any_text_is_raised(llama_server):
    remote = RemoteLlm(llama_server + "/no/such/api", timeout_seconds=30)
    with pytest.raises(RemoteLlmError, match="404"):
        list(remote.stream(QUESTION, max_tokens=5))


def test_the_engine_speaks_a_reply_from_the_lan_model(llama_server, make_engine, models):
    local = models.llm
    lan = FallbackLlm(RemoteLlm(llama_server, timeout_seconds=30), local)
    models.llm = lan
    try:
        # A model on the LAN may be strong enough to write replies itself ("free").
        free = Config().with_changes({"llm.planning": "free"})
        result = make_engine(free).run_text_turn("Hello! What is your favourite animal?")
    finally:
        models.llm = local
    assert lan.used == "primary"
    assert result.reply.strip()


# --- falling back to the local model ---


def test_a_dead_port_falls_back_to_the_local_model(models, caplog):
    fallback = FallbackLlm(
        RemoteLlm(f"http://127.0.0.1:{free_port()}", timeout_seconds=2), models.llm
    )
    with caplog.at_level(logging.WARNING, logger="appliance.speech.remote_llm"):
        reply = "".join(fallback.stream(QUESTION, max_tokens=12))
    fallback.breaker.close()  # not fallback.close(): the local model is the shared one
    assert reply.strip()
    assert fallback.used == "fallback"
    assert fallback.stop_reason in ("stop", "length")
    assert "the local model answers this turn" in caplog.text
    assert "cannot reach the server" in caplog.text


def test_a_server_that_never_answers_falls_back_after_the_timeout(models, caplog):
    with _silent_server() as port:
        remote = RemoteLlm(f"http://127.0.0.1:{port}", timeout_seconds=0.5)
        with pytest.raises(RemoteLlmError, match=r"timed out|no reply within"):
            list(remote.stream(QUESTION, max_tokens=5))
        fallback = FallbackLlm(remote, models.llm)
        with caplog.at_level(logging.WARNING, logger="appliance.speech.remote_llm"):
            reply = "".join(fallback.stream(QUESTION, max_tokens=12))
        fallback.breaker.close()  # not fallback.close(): the local model is the shared one
    assert reply.strip()
    assert fallback.used == "fallback"
    assert "the local model answers this turn" in caplog.text


def test_a_failure_mid_reply_ends_it_without_falling_back(models, caplog):
    first = {"choices": [{"delta": {"content": "The sky is"}, "finish_reason": None}]}
    with _dropping_server(first) as port:
        fallback = FallbackLlm(RemoteLlm(f"http://127.0.0.1:{port}", timeout_seconds=5), models.llm)
        with caplog.at_level(logging.WARNING, logger="appliance.speech.remote_llm"):
            pieces = list(fallback.stream(QUESTION, max_tokens=12))
    assert pieces == ["The sky is"]
    assert fallback.used == "primary"
    assert fallback.stop_reason == "error"
    assert "in the middle of a reply" in caplog.text
    assert "the local model answers" not in caplog.text


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError, match="expected a URL"):
        RemoteLlm("192.168.1.20:8000")


# --- tiny misbehaving servers ---


class _Server:
    """A loopback socket server; ``handle(connection)`` runs for each client, on daemon threads."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, name="fake-server", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def __enter__(self) -> int:
        return self.port

    def __exit__(self, *_: object) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


def _silent_server() -> _Server:
    """Accepts, reads the request, and never says a word."""
    return _Server(lambda connection: connection.recv(65536))


def _dropping_server(event: dict) -> _Server:
    """Answers 200 with one event, then drops the connection (no [DONE], no finish)."""

    def handle(connection: socket.socket) -> None:
        connection.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        connection.sendall(head + b"data: " + json.dumps(event).encode() + b"\n\n")
        connection.shutdown(socket.SHUT_RDWR)
        connection.close()

    return _Server(handle)
