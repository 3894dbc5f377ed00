"""A language model on the school's LAN, with the box's own model as the safety net.

A school may run a bigger model on a server in the building (llama.cpp's server,
Ollama, vLLM, LM Studio: anything that speaks the OpenAI chat API). With
``llm.backend = "openai"`` the box streams its replies from there::

    [llm]
    backend = "openai"
    base_url = "http://192.168.1.20:8000"   # POST {base_url}/v1/chat/completions
    model = "smollm2"                        # optional for single-model servers
    timeout_seconds = 4.0                    # to connect and to the first word

:class:`RemoteLlm` has the same interface as :class:`~appliance.speech.llm.LocalLlm`
(``stream``, ``prefill``, ``stop_reason``) and uses only the standard library:
one HTTP request per reply, read as server-sent events (``data: {...}`` lines,
ending with ``data: [DONE]``).

:class:`FallbackLlm` puts the two together. A lesson must not stop because the
server is off or the Wi-Fi is down: if the server does not answer with a first
word within ``timeout_seconds`` — or fails in any way before that — the local
model answers that turn instead, and the log says so. If the server fails in the
middle of a reply, the reply just ends there (``stop_reason = "error"``), and
the engine does not speak the cut-off sentence.

A dead server would cost every turn the whole timeout before the local model
starts. So :class:`FallbackLlm` has a :class:`CircuitBreaker`: after a failure
before the first word, turns go straight to the local model, and a background
thread asks the server (``GET /v1/models``) every few seconds, backing off to a
minute; once it answers, the next turn tries it again.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from appliance.core.config import Config
from appliance.speech.protocols import LanguageModel, Message

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"


class RemoteLlmError(ConnectionError):
    """The server could not be reached, refused the request, or sent no text in time."""


class RemoteLlm:
    """Streams chat replies from an OpenAI-compatible server.

    ``timeout_seconds`` bounds the wait for the first word (connecting, sending,
    and the server's first text together) and, after that, any single silence
    in the middle of a reply. ``should_stop`` is checked after every piece of
    text, so a cancel takes effect at the server's next token.
    """

    def __init__(self, base_url: str, model: str = "", timeout_seconds: float = 4.0) -> None:
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected a URL like http://192.168.1.20:8000, got {base_url!r}")
        self.base_url = base_url.strip().rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        prefix = parts.path.rstrip("/")
        self.path = prefix.removesuffix("/v1") + CHAT_PATH  # ".../v1" is accepted too
        self.model = model
        self.timeout_seconds = timeout_seconds
        self.stop_reason = ""

    @classmethod
    def from_config(cls, config: Config) -> RemoteLlm:
        return cls(config.llm.base_url, config.llm.model, config.llm.timeout_seconds)

    # The server's threads and context are its own business.
    all_threads = 1
    context_tokens = 0

    def use_threads(self, threads: int) -> None:
        """Nothing to do: the server chooses its own threads."""

    def count_tokens(self, messages: list[Message]) -> int:
        return 0  # with context_tokens 0 the engine never asks

    def close(self) -> None:
        """Nothing to do: each request opens and closes its own connection."""

    def prefill(self, messages: list[Message]) -> None:
        """Nothing to do: the server keeps (or does not keep) its own cache."""

    def stream(
        self,
        messages: list[Message],
        max_tokens: int,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        temperature: float = 0.6,
        max_seconds: float = 10.0,
    ) -> Generator[str, None, None]:
        """Yield the reply piece by piece. Raises :class:`RemoteLlmError` before any text.

        After the first piece nothing is raised: a failure ends the reply with
        :attr:`stop_reason` ``"error"``; otherwise it is ``"stop"``, ``"length"``,
        ``"time"`` or ``"cancelled"``, as for the local model.
        """
        self.stop_reason = "stop"
        started = time.monotonic()
        first_text_by = started + self.timeout_seconds
        deadline = started + max_seconds
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 0.9,
            "seed": 1234,
            "stream": True,
        }
        if self.model:
            body["model"] = self.model
        connection = self._connection()
        response: http.client.HTTPResponse | None = None
        spoke = finished = False
        try:
            response = self._send(connection, body, first_text_by)
            while True:
                if not spoke:
                    _set_timeout(connection, _left(first_text_by, self.timeout_seconds))
                event = _next_event(response)
                if event is _DONE or (event is None and finished):
                    if not spoke:
                        raise _ServerError("the server sent an empty reply")
                    return
                if event is None:
                    raise _ServerError("the server closed the connection in the middle")
                if event.get("error"):
                    raise _ServerError(str(event["error"]))
                choice = (event.get("choices") or [{}])[0]
                if text := (choice.get("delta") or {}).get("content"):
                    if not spoke:
                        spoke = True
                        _set_timeout(connection, self.timeout_seconds)
                    yield text
                if choice.get("finish_reason"):
                    finished = True
                    self.stop_reason = choice["finish_reason"]
                if should_stop():
                    self.stop_reason = "cancelled"
                    return
                if time.monotonic() > deadline:
                    self.stop_reason = "time"
                    return
        except _ServerError as error:
            if not spoke:
                raise RemoteLlmError(f"{self.base_url}: {error}") from None
            log.warning("the LAN model failed in the middle of a reply: %s", error)
            self.stop_reason = "error"
        finally:
            if response is not None:
                response.close()
            connection.close()

    def reachable(self) -> bool:
        """Whether the server answers HTTP at all (``GET /v1/models``, any status below 500).

        The circuit breaker's probe: cheap for the server, bounded by the timeout.
        """
        connection = self._connection()
        try:
            connection.request("GET", self.path.removesuffix(CHAT_PATH) + "/v1/models")
            response = connection.getresponse()
            response.read(4096)
            return response.status < 500
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=self.timeout_seconds)

    def _send(
        self, connection: http.client.HTTPConnection, body: dict[str, Any], first_text_by: float
    ) -> http.client.HTTPResponse:
        """POST the request; the response once its status is 200 (else :class:`_ServerError`)."""
        try:
            connection.timeout = _left(first_text_by, self.timeout_seconds)
            connection.request(
                "POST",
                self.path,
                body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            )
            _set_timeout(connection, _left(first_text_by, self.timeout_seconds))
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            raise _ServerError(f"cannot reach the server: {_describe(error)}") from None
        if response.status != 200:
            detail = response.read(300).decode("utf-8", "replace").strip()
            response.close()
            raise _ServerError(f"the server answered {response.status}: {detail}")
        return response


_DONE: dict[str, Any] = {}


def _next_event(response: http.client.HTTPResponse) -> dict[str, Any] | None:
    """The next ``data:`` object of the event stream: ``_DONE`` at ``[DONE]``, None at the end."""
    while True:
        try:
            line = response.readline()
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise _ServerError(_describe(error)) from None
        if not line:
            return None
        line = line.strip()
        if not line.startswith(b"data:"):
            continue  # blank separators, ": ping" comments, "event:" lines
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return _DONE
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            raise _ServerError(f"not JSON: {payload[:80]!r}") from None
        if not isinstance(event, dict):
            raise _ServerError(f"not an object: {payload[:80]!r}")
        return event


class _ServerError(Exception):
    """Anything that went wrong after the request was accepted."""


def _left(until: float, timeout: float) -> float:
    """Seconds left until a monotonic time; an exhausted wait is an error."""
    left = until - time.monotonic()
    if left <= 0:
        raise _ServerError(f"no reply within {timeout:g} s")
    return left


def _set_timeout(connection: http.client.HTTPConnection, seconds: float) -> None:
    if connection.sock is not None:
        connection.sock.settimeout(seconds)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


class CircuitBreaker:
    """Keeps a dead server from costing every turn its timeout.

    Closed (the server is used) until :meth:`failed`; then open: :meth:`allow` says
    no, and a daemon thread calls ``probe()`` after ``retry_every`` seconds, then
    twice as long each time it fails, up to ``max_retry``. A probe that succeeds
    closes the breaker. :meth:`close` stops the thread (the box shutting down).
    """

    def __init__(
        self,
        probe: Callable[[], bool],
        *,
        retry_every: float = 5.0,
        max_retry: float = 60.0,
        name: str = "the LAN model",
    ) -> None:
        if retry_every <= 0 or max_retry < retry_every:
            raise ValueError("retry_every must be positive and at most max_retry")
        self.probe = probe
        self.retry_every = retry_every
        self.max_retry = max_retry
        self.name = name
        self._open = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    def allow(self) -> bool:
        """Whether to try the server this turn."""
        return not self._open

    def succeeded(self) -> None:
        self._open = False

    def failed(self) -> None:
        """The server failed before its first word: stop using it until a probe succeeds."""
        with self._lock:
            if self._open or self._closed:
                return
            self._open = True
            log.warning(
                "%s is not answering: the local model answers until it is back "
                "(retried in the background)",
                self.name,
            )
            self._thread = threading.Thread(target=self._retry, name="llm-breaker", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop probing: the background thread ends (it is waited for, briefly)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _retry(self) -> None:
        wait = self.retry_every
        while not self._wake.wait(wait):
            try:
                ok = self.probe()
            except Exception:
                log.exception("probing %s failed", self.name)
                ok = False
            if ok:
                with self._lock:
                    self._open = False
                log.warning("%s answers again: it is used from the next turn", self.name)
                return
            wait = min(wait * 2, self.max_retry)


class FallbackLlm:
    """The LAN model, and the local model for any turn where the LAN model fails to start.

    A failure before the first word (a dead server, a refused connection, no
    word within the timeout, an HTTP error) is logged and the same turn is
    answered by ``fallback`` with the time left, and the ``breaker`` opens: the
    following turns go straight to ``fallback`` (no wait) until a background probe
    finds the server again. A failure after the first word ends the reply there;
    the next turn tries the LAN model again.
    ``used`` says which model answered the last turn: ``"primary"`` or ``"fallback"``.
    """

    def __init__(
        self,
        primary: LanguageModel,
        fallback: LanguageModel,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.used = ""
        self._active: LanguageModel | None = None
        if breaker is None:
            probe = getattr(primary, "reachable", None)
            breaker = CircuitBreaker(probe if callable(probe) else lambda: True)
        self.breaker = breaker

    @property
    def stop_reason(self) -> str:
        return self._active.stop_reason if self._active is not None else ""

    # Threads and context are the box's own model's: it answers when the server can't.
    @property
    def all_threads(self) -> int:
        return self.fallback.all_threads

    @property
    def context_tokens(self) -> int:
        return self.fallback.context_tokens

    def use_threads(self, threads: int) -> None:
        self.fallback.use_threads(threads)

    def count_tokens(self, messages: list[Message]) -> int:
        return self.fallback.count_tokens(messages)

    def close(self) -> None:
        self.breaker.close()
        self.primary.close()
        self.fallback.close()

    def prefill(self, messages: list[Message]) -> None:
        """Prefill both: the local model must be quick to step in."""
        if self.breaker.allow():
            self.primary.prefill(messages)
        self.fallback.prefill(messages)

    def stream(
        self,
        messages: list[Message],
        max_tokens: int,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        temperature: float = 0.6,
        max_seconds: float = 10.0,
    ) -> Generator[str, None, None]:
        started = time.monotonic()
        if not self.breaker.allow():  # the server is down: no waiting for it this turn
            self._active, self.used = self.fallback, "fallback"
            yield from self.fallback.stream(
                messages, max_tokens, should_stop, temperature=temperature, max_seconds=max_seconds
            )
            return
        self._active, self.used = self.primary, "primary"
        replies = self.primary.stream(
            messages, max_tokens, should_stop, temperature=temperature, max_seconds=max_seconds
        )
        try:
            first = next(replies)
        except StopIteration:
            return
        except Exception as error:
            log.warning(
                "the LAN model did not answer (%s): the local model answers this turn",
                _describe(error),
            )
            self.breaker.failed()
            self._active, self.used = self.fallback, "fallback"
            left = max(1.0, max_seconds - (time.monotonic() - started))
            yield from self.fallback.stream(
                messages, max_tokens, should_stop, temperature=temperature, max_seconds=left
            )
            return
        self.breaker.succeeded()
        try:
            yield first
            yield from replies
        finally:
            replies.close()


def language_model(
    config: Config, model_path: Path | None, local: LanguageModel | None = None
) -> LanguageModel:
    """The language model the config asks for: local, or the LAN server backed by local.

    ``local`` is a box's own model already loaded with ``config``'s threads and
    context size, to use instead of loading ``model_path`` again (a switch of
    backend between turns keeps it warm).
    """
    from appliance.speech.llm import LocalLlm

    if local is None:
        if model_path is None:
            raise ValueError("no language model file to load")
        local = LocalLlm(model_path, config.llm.threads, config.llm.context_tokens)
    if config.llm.backend != "openai":
        return local
    return FallbackLlm(RemoteLlm.from_config(config), local)
