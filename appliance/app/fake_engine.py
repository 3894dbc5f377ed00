"""A stand-in engine with no models: it records every call and acts out the states.

It has the real engine's controls (see docs/architecture.md) and publishes the
same :class:`~appliance.core.events.StateChanged` events a real turn would, with
short made-up durations. It is used by the tests, by the soak test, and by
``parlo daemon --fake-engine``, which lets a technician check the button, the
LED and systemd on a new box before any model is installed.

``listen`` → listening; ``finish_listening`` → thinking → speaking → idle;
``cancel`` → idle; ``say`` → speaking → idle. In tap mode (``end_after_silence``
given) it "hears" a pause after ``vad_end_seconds`` if that is set.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from appliance.core.config import Config
from appliance.core.events import EventStream, State, TurnFinished

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


class FakeEngine:
    def __init__(
        self,
        events: EventStream,
        *,
        think_seconds: float = 0.05,
        speak_seconds: float = 0.05,
        load_seconds: float = 0.0,
        vad_end_seconds: float | None = None,
    ) -> None:
        self.events = events
        self.think_seconds = think_seconds
        self.speak_seconds = speak_seconds
        self.load_seconds = load_seconds
        self.vad_end_seconds = vad_end_seconds
        # Like the real engine: when its loop last went round (time.monotonic()).
        self.heartbeat = time.monotonic()
        self.speech_heard = False  # what heard_speech() answers
        self.calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._next: tuple[float, State] | None = None  # a state change due at a time
        self._closing = threading.Event()
        self._running = threading.Event()
        self._running.set()
        # Running from the start, like the real engine (which loads its models when built).
        self._thread = threading.Thread(target=self._run, name="fake-engine", daemon=True)
        self._thread.start()

    # --- the controls ---

    def listen(self, end_after_silence: float | None = None) -> None:
        self._command("listen", end_after_silence=end_after_silence)

    def finish_listening(self) -> None:
        self._command("finish_listening")

    def cancel(self) -> None:
        self._command("cancel")

    def reset(self) -> None:
        self._command("reset")

    def say(self, text: str) -> Future:
        """Like the engine's: returns a future that is done once the line has been said."""
        self._command("say", text)
        done: Future = Future()
        done.set_result(None)
        return done

    def apply_config(self, config: Config) -> None:
        self._command("apply_config", config)

    def earcon(self, name: str) -> None:
        self._command("earcon", name)

    def heard_speech(self) -> bool:
        return self.speech_heard

    # --- life ---

    def close(self) -> None:
        self._closing.set()
        self._running.set()
        self._commands.put(("close", ((), {})))
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def stall(self) -> None:
        """Hang the engine's loop on purpose (its heartbeat stops) until :meth:`resume`."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    # --- for tests ---

    def names(self, skip_earcons: bool = False) -> list[str]:
        with self._calls_lock:
            return [c.name for c in self.calls if not (skip_earcons and c.name == "earcon")]

    def calls_named(self, name: str) -> list[Call]:
        with self._calls_lock:
            return [c for c in self.calls if c.name == name]

    def clear(self) -> None:
        with self._calls_lock:
            self.calls.clear()

    # --- the engine's thread ---

    def _command(self, name: str, *args: Any, **kwargs: Any) -> None:
        with self._calls_lock:
            self.calls.append(Call(name, args, kwargs))
        self._commands.put((name, (args, kwargs)))

    def _run(self) -> None:
        self.events.state(State.BOOTING, "loading (fake) models")
        if self._closing.wait(self.load_seconds):
            return
        self.events.state(State.IDLE, "ready")
        while not self._closing.is_set():
            self._running.wait()
            self.heartbeat = time.monotonic()
            timeout = 0.1
            if self._next is not None:
                timeout = max(0.0, min(timeout, self._next[0] - time.monotonic()))
            try:
                name, (args, kwargs) = self._commands.get(timeout=timeout)
            except queue.Empty:
                name = ""
            if name == "close":
                return
            if name:
                self._handle(name, args, kwargs)
            if self._next is not None and time.monotonic() >= self._next[0]:
                self._enter(self._next[1])

    def _handle(self, name: str, args: tuple, kwargs: dict) -> None:
        if name == "listen":
            self._set(State.LISTENING)
            silence = kwargs.get("end_after_silence")
            if silence is not None and self.vad_end_seconds is not None:
                self._schedule(self.vad_end_seconds, State.THINKING)
        elif name == "finish_listening":
            if self.events.last_state.state is State.LISTENING:
                self._set(State.THINKING)
                self._schedule(self.think_seconds, State.SPEAKING)
        elif name == "cancel":
            if self.events.last_state.state is not State.IDLE:
                self._set(State.IDLE, "cancelled")
        elif name == "say":
            self._set(State.SPEAKING, "saying a line")
            self._schedule(self.speak_seconds, State.IDLE)

    def _enter(self, state: State) -> None:
        """A scheduled change has come due."""
        self._next = None
        self._set(state)
        if state is State.THINKING:
            self._schedule(self.think_seconds, State.SPEAKING)
        elif state is State.SPEAKING:
            self._schedule(self.speak_seconds, State.IDLE)
        elif state is State.IDLE:
            self.events.publish(TurnFinished("(fake transcript)", "(fake reply)", {"total": 0.0}))

    def _set(self, state: State, detail: str = "") -> None:
        self._next = None
        self.events.state(state, detail)

    def _schedule(self, seconds: float, state: State) -> None:
        self._next = (time.monotonic() + seconds, state)
